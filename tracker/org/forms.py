"""Admin forms for units and users."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.validators import DataRequired, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from tracker.access.policy import ROLE_LABELS, Role


class UnitForm(FlaskForm):
    code = StringField(_l("单位编码"), validators=[DataRequired(_l("请填写单位编码。")), Length(max=32)])
    name = StringField(_l("单位名称"), validators=[DataRequired(_l("请填写单位名称。")), Length(max=100)])
    parent_id = SelectField(_l("上级单位"), coerce=str, validate_choice=False)
    contact = StringField(_l("联系人/电话"), validators=[Optional(), Length(max=100)])
    version = HiddenField()


class UserForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[DataRequired(_l("请填写用户名。")), Length(max=64)])
    name = StringField(_l("姓名"), validators=[DataRequired(_l("请填写姓名。")), Length(max=64)])
    role = SelectField(_l("角色"), choices=[SelectChoice(r.value, ROLE_LABELS[r]) for r in Role])
    unit_id = SelectField(_l("所属单位"), coerce=str, validate_choice=False)
    leader_unit_ids = SelectMultipleField(
        _l("分管单位"),
        coerce=str,
        validate_choice=False,
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
    )
    sees_all_units = BooleanField(_l("可查看全部单位"))
    # A plain pattern: wtforms' Email() needs the email_validator package, which we do not install.
    email = StringField(
        _l("电子邮箱"),
        validators=[Optional(), Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("邮箱格式不正确。")), Length(max=254)],
    )
    password = PasswordField(_l("初始密码（留空则自动生成）"), validators=[Optional(), Length(max=256)])
    version = HiddenField()


class ConfirmForm(FlaskForm):
    """A bare POST with CSRF and the version the user saw, for buttons such as deactivate."""

    version = HiddenField()


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("新密码（留空则自动生成）"), validators=[Optional(), Length(max=256)])

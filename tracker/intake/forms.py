"""Forms for manual entry and for handling intake records."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    HiddenField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from tracker.intake.models import KINDS, RATING_LABELS


class CreateIntakeForm(FlaskForm):
    channel = SelectField(_l("渠道"), validate_choice=False)
    kind = SelectField(_l("类型"), choices=[SelectChoice(k, k) for k in KINDS], default="投诉", validate_choice=False)
    external_id = StringField(_l("来源编号"), validators=[Optional(), Length(max=100)])
    received_at = DateTimeLocalField(
        _l("受理时间"), format="%Y-%m-%dT%H:%M", validators=[DataRequired(_l("请填写受理时间（年-月-日 时:分）。"))]
    )
    title = StringField(_l("标题"), validators=[DataRequired(_l("请填写标题。")), Length(max=200)])
    body = TextAreaField(_l("内容"), validators=[DataRequired(_l("请填写反映内容。")), Length(max=20000)])
    rating = SelectField(
        _l("评价等级"),
        choices=[SelectChoice("", "—")] + [SelectChoice(str(v), f"{v} {label}") for v, label in RATING_LABELS.items()],
        validate_choice=False,
    )
    service_item = StringField(_l("办理事项"), validators=[Optional(), Length(max=200)])
    unit_code = SelectField(_l("涉及单位"), validate_choice=False)
    category = StringField(_l("问题分类"), validators=[Optional(), Length(max=50)])
    complainant_name = StringField(_l("反映人"), validators=[Optional(), Length(max=50)])
    complainant_phone = StringField(_l("联系电话"), validators=[Optional(), Length(max=30)])
    anonymous = BooleanField(_l("匿名反映"))


class HandleIntakeForm(FlaskForm):
    """One form for every handling action; the action decides which fields matter."""

    action = HiddenField()
    version = HiddenField()
    title = StringField(_l("问题标题"), validators=[Optional(), Length(max=200)])
    problem_number = StringField(_l("并入已有问题（台账编号）"), validators=[Optional(), Length(max=30)])
    explanation = TextAreaField(_l("解释说明"), validators=[Optional(), Length(max=5000)])
    duplicate_of = StringField(_l("重复于（查询码）"), validators=[Optional(), Length(max=20)])
    reason = TextAreaField(_l("申诉理由"), validators=[Optional(), Length(max=5000)])
    note = TextAreaField(_l("复核意见"), validators=[Optional(), Length(max=5000)])

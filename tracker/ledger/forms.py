"""Forms for the ledger."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, RadioField, SelectChoice, SelectField, TextAreaField
from wtforms.validators import Length, Optional


class AssignProblemForm(FlaskForm):
    version = HiddenField()
    tier = RadioField(
        _l("分级"),
        choices=[SelectChoice("red", _l("红")), SelectChoice("yellow", _l("黄")), SelectChoice("blue", _l("蓝"))],
        validate_choice=False,
    )
    tier_override_reason = TextAreaField(_l("调整分级的理由"), validators=[Optional(), Length(max=1000)])
    quick_fix = BooleanField(_l("立行立改"))
    urgency = SelectField(
        _l("紧迫度"),
        choices=[
            SelectChoice("", "—"),
            SelectChoice("1", _l("1 一般")),
            SelectChoice("2", _l("2 较急")),
            SelectChoice("3", _l("3 紧急")),
        ],
        validate_choice=False,
    )
    difficulty = SelectField(
        _l("难易度"),
        choices=[
            SelectChoice("", "—"),
            SelectChoice("1", _l("1 容易")),
            SelectChoice("2", _l("2 较难")),
            SelectChoice("3", _l("3 困难")),
        ],
        validate_choice=False,
    )
    unit_id = SelectField(_l("责任单位"), validate_choice=False)
    owner_id = SelectField(_l("责任人"), validate_choice=False)
    leader_id = SelectField(_l("分管领导"), validate_choice=False)
    measures = TextAreaField(_l("整改措施"), validators=[Optional(), Length(max=5000)])
    deadline = DateField(_l("完成时限"), validators=[Optional()])
    deadline_note = TextAreaField(_l("调整时限的理由"), validators=[Optional(), Length(max=1000)])

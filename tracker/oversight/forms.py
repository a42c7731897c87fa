"""Forms for covert re-inspection: a new batch (its plan) and a visit's record."""

import re
from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    MultipleFileField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from tracker.oversight.models import METHOD_LABELS, RESULT_LABELS, VISIT_WAYS, Method, Result
from tracker.oversight.services import MAX_TARGETED

# Problem numbers typed or pasted: separated by spaces, commas (either width), 、 or new lines.
NUMBER_SPLIT = re.compile(r"[\s,，、;；]+")


def split_numbers(text: str | None) -> list[str]:
    """The problem numbers in TEXT, upper-cased, in the order typed, each once."""
    seen = []
    for part in NUMBER_SPLIT.split((text or "").strip()):
        number = part.strip().upper()
        if number and number not in seen:
            seen.append(number)
    return seen


def _whole_number(low, high, message):
    def check(form, field):
        value = (field.data or "").strip()
        if not value:
            return
        if not (value.isascii() and value.isdigit()) or len(value) > 19 or not low <= int(value) <= high:
            raise ValidationError(message)

    return check


def _percent(form, field):
    value = (field.data or "").strip().rstrip("%％")
    if not value:
        return
    try:
        number = float(value)
    except ValueError:
        raise ValidationError(_l("请填写 0 到 100 之间的百分比，如 20。")) from None
    if not 0 < number <= 100 or number != number:
        raise ValidationError(_l("请填写 0 到 100 之间的百分比，如 20。"))


def _iso_date(form, field):
    value = (field.data or "").strip()
    if not value:
        return
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValidationError(_l("日期格式应为 年-月-日，如 2026-09-30。")) from None


class CreateBatchForm(FlaskForm):
    """The plan of a batch. The choices of the selects are set by the view (units, categories,
    active inspectors); every check that needs the database is the service's."""

    method = RadioField(
        _l("抽查方式"),
        choices=[SelectChoice(m.value, METHOD_LABELS[m]) for m in (Method.SWEEP, Method.RANDOM, Method.TARGETED)],
        default=Method.RANDOM.value,
        validators=[DataRequired(_l("请选择抽查方式。"))],
    )
    title = StringField(_l("批次名称"), validators=[Optional(), Length(max=200, message=_l("最多 200 个字。"))])
    unit_code = SelectField(_l("责任单位"), validate_choice=False)
    category = SelectField(_l("问题分类"), validate_choice=False)
    tier = SelectField(_l("分级"), validate_choice=False)
    status = SelectField(_l("状态"), validate_choice=False)
    closed_from = StringField(_l("销号日期从"), validators=[_iso_date])
    closed_to = StringField(_l("销号日期到"), validators=[_iso_date])
    sample_size = StringField(_l("抽取数量"), validators=[_whole_number(1, 1_000_000, _l("请填写 1 以上的整数。"))])
    sample_percent = StringField(_l("或抽取比例（%）"), validators=[_percent])
    seed = StringField(
        _l("随机种子"),
        validators=[_whole_number(0, 2**63 - 1, _l("种子应为非负整数；留空则自动生成。"))],
    )
    double_random = BooleanField(_l("双随机（暗访人员也从人员库中随机抽取）"))
    inspectors = SelectMultipleField(_l("暗访人员库"), validate_choice=False)
    per_problem = StringField(
        _l("每个问题派出人数"), default="2", validators=[_whole_number(1, 10, _l("请填写 1 到 10 之间的整数。"))]
    )
    problems = TextAreaField(_l("问题编号（点穴式）"), validators=[Length(max=60_000)])

    def validate_sample_size(self, field):
        given = (field.data or "").strip(), (self.sample_percent.data or "").strip()
        if self.method.data == Method.RANDOM and not any(given):
            raise ValidationError(_l("随机式请填写抽取数量或抽取比例。"))
        if all(given):
            raise ValidationError(_l("抽取数量和抽取比例只填一项。"))

    def validate_problems(self, field):
        if self.method.data != Method.TARGETED:
            return
        numbers = split_numbers(field.data)
        if not numbers:
            raise ValidationError(_l("点穴式请填写要暗访的问题编号，每行一个。"))
        if len(numbers) > MAX_TARGETED:
            raise ValidationError(_l("一次最多 %(n)d 个问题。", n=MAX_TARGETED))

    def plan(self) -> dict:
        """The form as the service's `create_batch` data."""
        method = self.method.data
        data = {"method": method, "title": (self.title.data or "").strip() or None}
        if method != Method.TARGETED:
            data["filter"] = {
                name: value
                for name in ("unit_code", "category", "tier", "status", "closed_from", "closed_to")
                if (value := (self[name].data or "").strip())
            }
        else:
            data["problems"] = split_numbers(self.problems.data)
        if method == Method.RANDOM:
            if (self.sample_size.data or "").strip():
                data["sample_size"] = int(self.sample_size.data)
            elif (self.sample_percent.data or "").strip():
                data["sample_percent"] = float(self.sample_percent.data.strip().rstrip("%％"))
            if (self.seed.data or "").strip():
                data["seed"] = int(self.seed.data)
        inspectors = [v for v in (self.inspectors.data or []) if v]
        if inspectors:
            data["inspectors"] = inspectors
        data["double_random"] = bool(self.double_random.data)
        if (self.per_problem.data or "").strip():
            data["per_problem"] = int(self.per_problem.data)
        return data


class RecordVisitForm(FlaskForm):
    """One visit's record: when, how, who, what was found, and the result."""

    problem = HiddenField()
    version = HiddenField()
    visited_on = StringField(_l("暗访时间"), validators=[DataRequired(_l("请填写暗访日期。")), _iso_date])
    way = SelectField(
        _l("暗访方式"),
        choices=[SelectChoice(w, w) for w in VISIT_WAYS],
        validators=[DataRequired(_l("请选择暗访方式。"))],
        validate_choice=False,
    )
    inspectors = SelectMultipleField(_l("暗访人员"), validate_choice=False)
    findings = TextAreaField(
        _l("发现问题"),
        validators=[Length(max=5000, message=_l("最多 5000 个字。"))],
    )
    result = RadioField(
        _l("结果"),
        choices=[SelectChoice(r.value, RESULT_LABELS[r]) for r in (Result.PASS, Result.FAIL)],
        validators=[DataRequired(_l("请选择结果：通过或未通过。"))],
        validate_choice=False,
    )
    photos = MultipleFileField(_l("照片或其他材料"))

    def validate_result(self, field):
        if field.data not in (Result.PASS, Result.FAIL):
            raise ValidationError(_l("请选择结果：通过或未通过。"))

    def validate_findings(self, field):
        if self.result.data == Result.FAIL and not (field.data or "").strip():
            raise ValidationError(_l("未通过须写明发现的问题。"))

    def validate_way(self, field):
        if field.data not in VISIT_WAYS:
            raise ValidationError(_l("请选择暗访方式。"))

    def visit(self) -> dict:
        """The form as the service's `record_visit` data."""
        data = {
            "problem": self.problem.data,
            "visited_on": self.visited_on.data.strip(),
            "way": self.way.data,
            "inspectors": [v for v in (self.inspectors.data or []) if v],
            "findings": (self.findings.data or "").strip(),
            "result": self.result.data,
        }
        if (self.version.data or "").strip().isdigit():
            data["version"] = int(self.version.data)
        return data

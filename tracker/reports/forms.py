"""Forms of the report pages: campaigns (专项)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField


class CampaignForm(FlaskForm):
    """Fields only: the rules (name required, unique, at most 100 characters; the end not before the
    start) are ledger.services' and come back as its field messages, so that the API and the page agree.
    Dates are text (an <input type=date>) so that a malformed one is kept as typed and named in Chinese."""

    name = StringField(_l("专项名称"), render_kw={"maxlength": 100})
    description = TextAreaField(_l("说明"), render_kw={"rows": 3, "maxlength": 2000})
    starts_on = StringField(_l("开始日期"), render_kw={"type": "date"})
    ends_on = StringField(_l("结束日期"), render_kw={"type": "date"})
    is_active = BooleanField(_l("在用（可归入问题）"), default=True)

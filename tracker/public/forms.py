"""The public lookup form: tracking code and query PIN (checked by tracker.public.services)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField


class TrackCaseForm(FlaskForm):
    # No validators here: the service checks both fields, with the same messages as the API.
    code = StringField(_l("查询码"))
    pin = PasswordField(_l("查询密码"))

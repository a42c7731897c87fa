"""Report pages (统计报表). Each report has one query module (dashboard, overdue, ranking, lists,
breakdowns) that feeds its page, its Excel download and its API answer; the views here only read the
period and the filter, call it and render.

Everyone with `report.view` (inspectors, leaders, admins) sees the figures of the units they may see;
a unit outside a leader's charge answers 404, as everywhere."""

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from tracker.access import policy
from tracker.core.errors import NotFound, ValidationFailed
from tracker.reports import periods

bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.before_request
def require_reports():
    policy.require(current_user, "report.view")


def period_from_request(default="month"):
    """(period, error): the period the query string asks for, or DEFAULT's current one and the
    message saying what was wrong with the request (shown above the figures)."""
    try:
        return periods.parse(request.args, default), None
    except ValidationFailed as failure:
        return periods.parse({}, default), failure


def unit_in_scope(unit_id):
    """The unit UNIT_ID if the current user may see it; NotFound otherwise (the same 404 as a unit
    that does not exist)."""
    from tracker.extensions import db
    from tracker.org.models import Unit

    unit = db.session.get(Unit, unit_id) if unit_id else None
    scope = policy.visible_unit_ids(current_user)
    if unit is None or (scope is not None and unit.id not in scope):
        raise NotFound(_("未找到该单位。"))
    return unit


@bp.route("/")
def index():
    return render_template("reports/index.html")


# ---- dashboard (领导驾驶舱) ------------------------------------------------------------------------


# ---- overdue list (逾期清单) -----------------------------------------------------------------------


# ---- unit ranking (排名通报) -----------------------------------------------------------------------


# ---- the three lists (问题清单、责任清单、任务清单) and campaigns (专项) ------------------------------


# ---- breakdowns (分类统计) --------------------------------------------------------------------------

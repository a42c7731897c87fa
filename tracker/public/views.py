"""Public pages (no login): the tracking-code lookup (/track and its JSON twin) and the results page.

Every route here is on PUBLIC_ENDPOINTS (tracker.core.security). The lookup POSTs, page and API
together, share one per-address limit (PUBLIC_LOOKUP_LIMIT); GET of the form is not limited.
"""

import math
import time

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError

from tracker.core.errors import DomainError, NotFound, ValidationFailed
from tracker.extensions import csrf, limiter
from tracker.public import queries, services
from tracker.public.forms import TrackCaseForm

bp = Blueprint("public", __name__)

lookup_limit = limiter.shared_limit(
    lambda: current_app.config["PUBLIC_LOOKUP_LIMIT"], scope="public-lookup", methods=["POST"]
)


def _api_error(status, code, message, fields=None):
    return jsonify(error={"code": code, "message": message, "fields": fields or {}}), status


def _is_api():
    return request.path.startswith("/api/")


@bp.route("/track", methods=["GET", "POST"])
@lookup_limit
def track():
    form = TrackCaseForm()
    case, message, status = None, None, 200
    if request.method == "POST":
        try:
            case = services.lookup(form.code.data, form.pin.data)
        except ValidationFailed as failed:
            for name, text in failed.fields.items():
                form[name].errors = [text]
            status = 422
        except NotFound as missing:
            message, status = missing.message, 404
    return render_template("public/track.html", form=form, case=case, message=message), status


@bp.route("/api/v1/public/track", methods=["POST"])
@csrf.exempt
@lookup_limit
def api_track():
    """{code, pin} → {code, status, status_label, unit, deadline, reply}; 404 alike for a wrong code
    and a wrong PIN, 422 for a missing field or a wrong shape, 429 past the limit."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _api_error(400, "bad_json", _("请求体必须是 JSON 对象（Content-Type: application/json）。"))
    try:
        return jsonify(services.lookup(data.get("code"), data.get("pin")))
    except DomainError as failure:
        return _api_error(failure.status, failure.code, failure.message, failure.fields)


@bp.route("/results")
def results():
    """处理结果向群众公开: closed problems opted in by the inspector, anonymised; counts per unit."""
    flt = queries.ResultsFilter.from_args(request.args)
    start, end = queries.period()
    return render_template(
        "public/results.html",
        flt=flt,
        page=queries.results_page(flt),
        counts=queries.unit_counts(flt),
        start=start,
        end=end,
        units=queries.units(),
        categories=queries.categories(),
    )


def _retry_minutes() -> int:
    """Whole minutes until the breached window resets. The limiter counts in real time (time.time),
    not in the tracker's clock, so the wait is worked out the same way."""
    current = limiter.current_limit
    if current is None:
        return 1
    return max(1, math.ceil((current.reset_at - time.time()) / 60))


@bp.errorhandler(429)
def too_many_lookups(error):
    message = _("查询过于频繁，请 %(n)d 分钟后再试。", n=_retry_minutes())
    if _is_api():
        return _api_error(429, "too_many_requests", message)
    return render_template("public/track.html", form=TrackCaseForm(), case=None, message=message), 429


@bp.errorhandler(CSRFError)
def expired_form(error):
    message = _("页面已过期，请重新输入查询码和查询密码后再查询。")
    return render_template("public/track.html", form=TrackCaseForm(), case=None, message=message), 400

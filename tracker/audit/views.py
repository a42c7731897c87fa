"""The audit log, read-only."""

from flask import Blueprint, render_template, request
from flask_login import current_user
from sqlalchemy import select

from tracker.access import policy
from tracker.audit.models import AuditEvent
from tracker.core.pagination import paginate

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.route("/")
def index():
    policy.require(current_user, "audit.view")
    stmt = select(AuditEvent)
    object_type = request.args.get("type", "").strip()
    action = request.args.get("action", "").strip()
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if action:
        stmt = stmt.where(AuditEvent.action.startswith(action))
    page = paginate(stmt.order_by(AuditEvent.id.desc()), request.args.get("page"))
    return render_template("audit/index.html", page=page, object_type=object_type, action=action)

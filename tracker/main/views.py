"""Home page per role, language switch, health check."""

from datetime import timedelta

from flask import Blueprint, current_app, redirect, render_template, request, send_from_directory, session, url_for
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from tracker.access.policy import Role
from tracker.core import calendar, clock
from tracker.core.security import is_safe_next
from tracker.extensions import db

bp = Blueprint("main", __name__)


@bp.route("/")
def home():
    today = clock.today()
    context = {"today": today, "is_workday": calendar.is_workday(today)}
    from tracker.main import queries

    if current_user.role == Role.ADMIN:
        context["overview"] = queries.admin_overview()
    elif current_user.role == Role.UNIT:
        context["work"] = queries.unit_work(current_user)
    elif current_user.role == Role.INSPECTOR:
        context["work"] = queries.inspector_work(current_user)
    elif current_user.role == Role.LEADER:
        context["work"] = queries.leader_work(current_user)
    return render_template(f"main/home_{current_user.role}.html", **context)


@bp.route("/lang/<code>")
def set_language(code):
    if code in ("zh", "en"):
        session["lang"] = code
    target = request.args.get("next")
    return redirect(target if is_safe_next(target) else url_for("main.home"))


@bp.route("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico before any page says where the icon is."""
    return send_from_directory(
        current_app.static_folder, "img/favicon.ico", mimetype="image/vnd.microsoft.icon", max_age=86400
    )


@bp.route("/healthz")
def health():
    """For monitoring and load balancers: 503 when the database does not answer; otherwise 200 and
    "ok", or "degraded" when the scheduler has not run a job for SCHEDULER_STALE_MINUTES or the
    last deadline scan failed (an app server can still serve; someone must look at the scheduler)."""
    from tracker.jobs import lease

    now = clock.now()
    try:
        db.session.execute(text("SELECT 1"))
        runs = lease.last_runs()
    except SQLAlchemyError:
        db.session.rollback()
        return {"status": "down", "database": "unreachable", "time": now.isoformat()}, 503
    seen = max((at for at, _ok in runs.values() if at), default=None)
    fresh = seen is not None and now - seen <= timedelta(minutes=current_app.config["SCHEDULER_STALE_MINUTES"])
    scan_at, scan_ok = runs.get("deadline_scan", (None, None))
    return {
        "status": "ok" if fresh and scan_ok else "degraded",
        "database": "ok",
        "time": now.isoformat(),
        "scheduler": {"last_seen": seen.isoformat() if seen else None, "fresh": fresh},
        "last_scan": {"at": scan_at.isoformat(), "ok": scan_ok} if scan_at else None,
    }

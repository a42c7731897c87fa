"""Home page per role, language switch, health check."""

from flask import Blueprint, current_app, redirect, render_template, request, send_from_directory, session, url_for
from flask_login import current_user
from sqlalchemy import text

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
    db.session.execute(text("SELECT 1"))
    return {"status": "ok", "time": clock.now().isoformat()}

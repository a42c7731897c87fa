"""Supervision notices: the register, one printable notice, its DOCX, issuing one on demand."""

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from tracker.access import policy
from tracker.core.errors import NotFound, ValidationFailed
from tracker.core.pagination import paginate
from tracker.extensions import db
from tracker.ledger import queries as ledger_queries
from tracker.oversight import services
from tracker.oversight.models import SupervisionNotice

bp = Blueprint("oversight", __name__)


def _visible(stmt):
    scope = policy.visible_unit_ids(current_user)
    if scope is not None:
        stmt = stmt.where(SupervisionNotice.unit_id.in_(sorted(scope) or [-1]))
    return stmt


@bp.route("/notices")
def register():
    policy.require(current_user, "problem.view")
    stmt = _visible(select(SupervisionNotice))
    level = request.args.get("level", "")
    if level in ("reminder", "supervise", "listed"):
        stmt = stmt.where(SupervisionNotice.level == level)
    page = paginate(
        stmt.order_by(SupervisionNotice.year.desc(), SupervisionNotice.seq.desc()), request.args.get("page")
    )
    return render_template("oversight/register.html", page=page, level=level)


def _get(notice_id) -> SupervisionNotice:
    notice = db.session.get(SupervisionNotice, notice_id)
    if notice is None or not policy.can(current_user, "problem.view", notice):
        raise NotFound(_("未找到该督办单。"))
    return notice


@bp.route("/notices/<int:notice_id>")
def show(notice_id):
    notice = _get(notice_id)
    return render_template("oversight/notice.html", notice=notice, text=services.notice_text(notice))


@bp.route("/notices/<int:notice_id>.docx")
def docx(notice_id):
    notice = _get(notice_id)
    return Response(
        services.notice_docx(notice),
        mimetype="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        headers={"Content-Disposition": f"attachment; filename=notice-{notice.year}-{notice.seq}.docx"},
    )


@bp.route("/ledger/<number>/notices", methods=["POST"])
def issue(number):
    from flask_wtf.csrf import validate_csrf

    problem = ledger_queries.get_problem_or_404(number, current_user)
    validate_csrf(request.form.get("csrf_token"))
    try:
        notice = services.issue_notice(problem, request.form.get("level"), request.form.get("note"), actor=current_user)
    except ValidationFailed as failed:
        db.session.rollback()
        flash(failed.message, "danger")
        return redirect(url_for("ledger.show", number=problem.number))
    db.session.commit()
    flash(_("已签发 %(n)s。", n=notice.number), "success")
    return redirect(url_for("oversight.show", notice_id=notice.id))

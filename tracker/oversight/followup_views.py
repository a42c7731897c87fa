"""Oversight pages: the follow-up call workbench (回访) and its admin setting."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import validate_csrf
from wtforms.validators import ValidationError

from tracker.access import policy
from tracker.core import clock
from tracker.core.errors import Conflict, DomainError, ValidationFailed
from tracker.core.inputs import parse_id
from tracker.core.pagination import Page
from tracker.extensions import db
from tracker.intake import services as intake_services
from tracker.intake.models import IntakeRecord
from tracker.oversight import followups
from tracker.oversight.models import FOLLOWUP_STATE_LABELS, OUTCOME_LABELS, FollowUp, Outcome
from tracker.oversight.views import bp

TABS = ("due", "pending", "unreachable")
PAGE_SIZE = 50


def _check_csrf():
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        flash(_("表单已过期，请刷新后重试。"), "danger")
        return False
    return True


def _record_or_404(record_id) -> IntakeRecord:
    record = db.session.get(IntakeRecord, record_id)
    if record is None or not policy.can(current_user, "followup.call", record):
        abort(404)
    return record


def _page_number():
    number = parse_id(request.args.get("page"))
    return min(number, 10**6) if number else 1


def _render(tab="due", revealed=None, kept=None, status=200):
    page = _page_number()
    counts = followups.counts() if tab != "due" else None
    items, decisions, unreachable = [], [], []
    if tab == "pending":
        decisions = followups.pending_decisions(current_user, page, PAGE_SIZE)
        total = counts["pending_decision"]
    elif tab == "unreachable":
        unreachable = followups.unreachable_records(current_user, page, PAGE_SIZE)
        total = counts["unreachable"]
    else:
        items, counts = followups.workbench(current_user, page, PAGE_SIZE)
        total = counts["due"]
    masks = {r.id: intake_services.complainant_display(r, current_user) for r in items + unreachable}
    masks.update({f.record.id: intake_services.complainant_display(f.record, current_user) for f in decisions})
    return (
        render_template(
            "oversight/followups.html",
            tab=tab,
            items=items,
            decisions=decisions,
            unreachable=unreachable,
            counts=counts,
            page=page,
            pager_page=Page(items or decisions or unreachable, page, PAGE_SIZE, total),
            masks=masks,
            revealed=revealed or {},
            kept=kept or {},
            outcomes=[(o.value, OUTCOME_LABELS[o]) for o in Outcome],
            closed_on=followups.closed_on,
            today=clock.today(),
            max_tries=followups.MAX_TRIES,
        ),
        status,
    )


@bp.route("/followups")
def followup_workbench():
    policy.require(current_user, "followup.call")
    tab = request.args.get("tab", "due")
    return _render(tab if tab in TABS else "due")


@bp.route("/followups/<int:record_id>/reveal", methods=["POST"])
def followup_reveal(record_id):
    policy.require(current_user, "followup.call")
    record = _record_or_404(record_id)
    fragment = request.headers.get("HX-Request") == "true"
    if not _check_csrf():
        return (
            (render_template("oversight/followup_phone.html", error=_("表单已过期，请刷新后重试。")), 400)
            if (fragment)
            else redirect(url_for("oversight.followup_workbench"))
        )
    try:
        phone = followups.reveal_phone(record, actor=current_user)
    except ValidationFailed as failed:
        db.session.rollback()
        if fragment:
            return render_template("oversight/followup_phone.html", error=failed.message), 422
        flash(failed.message, "danger")
        return redirect(url_for("oversight.followup_workbench"))
    db.session.commit()
    if fragment:
        return render_template("oversight/followup_phone.html", phone=phone)
    return _render(revealed={record.id: phone})


@bp.route("/followups/<int:record_id>/call", methods=["POST"])
def followup_call(record_id):
    policy.require(current_user, "followup.call")
    record = _record_or_404(record_id)
    if not _check_csrf():
        return redirect(url_for("oversight.followup_workbench"))
    outcome, note = request.form.get("outcome", ""), request.form.get("note", "")
    try:
        followup = followups.record_call(record, outcome, note, actor=current_user)
    except (ValidationFailed, Conflict) as failed:
        db.session.rollback()
        flash(failed.message, "danger")
        # What the caller typed is shown again beside the record, never dropped.
        return _render(kept={record.id: {"outcome": outcome, "note": note}}, status=failed.status)
    db.session.commit()
    label = _(str(OUTCOME_LABELS[followup.outcome]))
    if followup.outcome == Outcome.UNREACHABLE and record.followup_state == "due":
        message = _(
            "已登记：%(c)s 第 %(n)d 次无法联系，将于 %(d)s 再次回访。",
            c=record.tracking_code,
            n=followup.attempt,
            d=record.followup_due_on.isoformat(),
        )
    elif followup.decision == followups.PENDING:
        message = _("已登记：%(c)s 不满意，已提交纪检监察员研判。", c=record.tracking_code)
    elif followup.outcome == Outcome.UNSATISFIED and followup.problem is not None:
        message = _("已登记：%(c)s 不满意，问题 %(p)s 已重新办理。", c=record.tracking_code, p=followup.problem.number)
    else:
        message = _("已登记：%(c)s 回访结果为“%(o)s”。", c=record.tracking_code, o=label)
    flash(message, "success")
    return redirect(url_for("oversight.followup_workbench", page=request.args.get("page") or None))


@bp.route("/followups/decisions/<int:followup_id>", methods=["POST"])
def followup_decide(followup_id):
    policy.require(current_user, "followup.decide")
    followup = db.session.get(FollowUp, followup_id)
    if followup is None:
        abort(404)
    if not _check_csrf():
        return redirect(url_for("oversight.followup_workbench", tab="pending"))
    choice = request.form.get("decision")
    if choice not in ("reopen", "keep"):
        flash(_("请选择研判结果：重新办理或维持办结。"), "danger")
        return redirect(url_for("oversight.followup_workbench", tab="pending"))
    try:
        followups.decide(followup, choice == "reopen", request.form.get("note", ""), actor=current_user)
    except DomainError as failed:
        db.session.rollback()
        flash(failed.message, "danger")
        return _render("pending", kept={f"decision-{followup_id}": request.form.get("note", "")}, status=failed.status)
    db.session.commit()
    flash(_("已研判：%(d)s。", d=_("重新办理") if choice == "reopen" else _("维持办结")), "success")
    return redirect(url_for("oversight.followup_workbench", tab="pending"))


@bp.route("/followups/settings", methods=["GET", "POST"])
def followup_settings():
    policy.require(current_user, "followup.settings")
    status = 200
    if request.method == "POST" and _check_csrf():
        try:
            followups.save_settings(request.form.get("unsatisfied"), actor=current_user)
        except ValidationFailed as failed:
            db.session.rollback()
            flash(failed.message, "danger")
            status = 422
        else:
            db.session.commit()
            flash(_("回访设置已保存。"), "success")
            return redirect(url_for("oversight.followup_settings"))
    return render_template(
        "oversight/followup_settings.html", rule=followups.unsatisfied_rule(), rules=followups.UNSATISFIED_RULES
    ), status


# ---- for the record page (templates/intake/show.html), inspectors only ----------------------------


@bp.app_template_global("followup_history")
def followup_history(record):
    return followups.history(record) if policy.can(current_user, "followup.call", record) else []


@bp.app_template_global("followup_state_label")
def followup_state_label(record):
    return FOLLOWUP_STATE_LABELS.get(record.followup_state, "")


@bp.app_template_global("followup_decision_label")
def followup_decision_label(followup):
    return followups.DECISION_LABELS.get(followup.decision, "")

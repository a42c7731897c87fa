"""Actions on one problem from its page: transitions, progress, evidence, extensions, instructions."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from tracker.access import policy
from tracker.core import storage
from tracker.core.errors import Conflict, NotFound, ValidationFailed
from tracker.extensions import db
from tracker.ledger import queries, services
from tracker.ledger.models import Evidence, NoteKind
from tracker.ledger.views import render_problem
from tracker.workflow import services as workflow

bp = Blueprint("workflow", __name__, url_prefix="/ledger")

DONE = {
    "assign": "已交办。",
    "withdraw": "已撤销。",
    "accept": "已签收，请按期整改。",
    "return": "已退回纪检监察员重新交办。",
    "submit": "已申请销号，等待审核。",
    "approve": "审核通过。",
    "reject": "已退回重改。",
    "verify_pass": "核查通过，已销号。",
    "verify_fail": "核查未通过，已退回重改。",
    "reopen": "已重新办理。",
}


def _failed(problem, failure, kept):
    """Re-render the problem page with the message and everything the user typed."""
    db.session.rollback()
    db.session.refresh(problem)
    flash(failure.message, "warning" if isinstance(failure, Conflict) else "danger")
    return render_problem(problem, status=failure.status, kept=kept, errors=getattr(failure, "fields", {}))


def _kept(*names):
    return {name: request.form.get(name) for name in names if request.form.get(name)}


def _milestone_answers(problem):
    """The submit form's answer for each open milestone: ticked done, or explained."""
    return [
        {
            "id": m.id,
            "done": request.form.get(f"milestone_done_{m.id}") == "1",
            "explanation": request.form.get(f"milestone_explanation_{m.id}", ""),
        }
        for m in problem.milestones
        if m.done_at is None
    ]


@bp.route("/<number>/act", methods=["POST"])
def act(number):
    problem = queries.get_problem_or_404(number, current_user)
    action = request.form.get("action", "")
    details = {
        k: v
        for k, v in request.form.items()
        if k not in ("csrf_token", "action", "version", "actor", "expected_version", "problem")
        and not k.startswith("milestone_")
    }
    details["milestones"] = _milestone_answers(problem)
    milestone_fields = [k for k in request.form if k.startswith("milestone_")]
    kept = _kept("reason", "report", "withdraw_reason", "opinion", *milestone_fields)
    try:
        workflow.apply(problem, action, actor=current_user, expected_version=request.form.get("version"), **details)
    except (Conflict, ValidationFailed) as failure:
        return _failed(problem, failure, kept)
    db.session.commit()
    flash(_(DONE.get(action, "已完成。")), "success")
    return redirect(url_for("ledger.show", number=problem.number))


@bp.route("/<number>/notes", methods=["POST"])
def add_note(number):
    problem = queries.get_problem_or_404(number, current_user)
    kind = request.form.get("kind", NoteKind.PROGRESS)
    try:
        services.add_note(problem, kind, request.form.get("body", ""), actor=current_user)
    except ValidationFailed as failure:
        return _failed(problem, failure, _kept("body"))
    db.session.commit()
    flash(_("已记录批示。") if kind == NoteKind.INSTRUCTION else _("已记录整改进展。"), "success")
    return redirect(url_for("ledger.show", number=problem.number) + "#timeline")


@bp.route("/<number>/milestones/<int:milestone_id>", methods=["POST"])
def milestone(number, milestone_id):
    problem = queries.get_problem_or_404(number, current_user)
    try:
        services.tick_milestone(problem, milestone_id, request.form.get("done") == "1", actor=current_user)
    except ValidationFailed as failure:
        return _failed(problem, failure, {})
    db.session.commit()
    return redirect(url_for("ledger.show", number=problem.number))


@bp.route("/<number>/evidence", methods=["POST"])
def upload(number):
    problem = queries.get_problem_or_404(number, current_user)
    upload_file = request.files.get("file")
    if upload_file is None or not upload_file.filename:
        return _failed(problem, ValidationFailed(_("请选择要上传的文件。"), {"file": _("请选择文件。")}), {})
    try:
        item = services.store_evidence(problem, upload_file.stream, upload_file.filename, actor=current_user)
    except ValidationFailed as failure:
        return _failed(problem, failure, {})
    db.session.commit()
    flash(_("已上传“%(f)s”。", f=item.filename), "success")
    return redirect(url_for("ledger.show", number=problem.number))


@bp.route("/evidence/<int:evidence_id>")
def download(evidence_id):
    item = db.session.get(Evidence, evidence_id)
    if item is None or not policy.can(current_user, "problem.view", item.problem):
        raise NotFound(_("文件不存在。"))
    inline = item.is_image and request.args.get("inline") == "1"
    try:
        return storage.send(
            services.evidence_key(item),
            mimetype=item.content_type,
            as_attachment=not inline,
            download_name=services.evidence_filename(item.filename, item.content_type),
            etag=item.sha256,
        )
    except FileNotFoundError:
        abort(404)


@bp.route("/<number>/extension", methods=["POST"])
def extension(number):
    problem = queries.get_problem_or_404(number, current_user)
    try:
        services.request_extension(
            problem, request.form.get("new_deadline"), request.form.get("reason"), actor=current_user
        )
    except ValidationFailed as failure:
        return _failed(problem, failure, _kept("reason", "new_deadline"))
    db.session.commit()
    flash(_("已提交延期申请。"), "success")
    return redirect(url_for("ledger.show", number=problem.number))


@bp.route("/<number>/extension/<int:request_id>", methods=["POST"])
def decide_extension(number, request_id):
    problem = queries.get_problem_or_404(number, current_user)
    try:
        services.decide_extension(
            problem,
            request_id,
            request.form.get("decision") == "approve",
            request.form.get("note"),
            actor=current_user,
            expected_version=request.form.get("version"),
        )
    except (Conflict, ValidationFailed) as failure:
        return _failed(problem, failure, _kept("note"))
    db.session.commit()
    flash(_("已处理延期申请。"), "success")
    return redirect(url_for("ledger.show", number=problem.number))


@bp.route("/<number>/waive-evidence", methods=["POST"])
def waive(number):
    problem = queries.get_problem_or_404(number, current_user)
    try:
        services.waive_evidence(problem, actor=current_user, reason=request.form.get("reason"))
    except ValidationFailed as failure:
        return _failed(problem, failure, _kept("reason"))
    db.session.commit()
    flash(_("已同意免附佐证材料。"), "success")
    return redirect(url_for("ledger.show", number=problem.number))

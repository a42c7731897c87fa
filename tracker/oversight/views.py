"""Oversight pages: covert re-inspection batches and visits; the follow-up workbench lives in
followup_views.py on the same blueprint.

Every page here is for inspectors (and admins, who may look): to anyone else a batch does not exist,
so the pages answer the same 404 as an unknown address."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import case, func, select
from wtforms import SelectChoice

from tracker.access import policy
from tracker.access.policy import Role
from tracker.auth.models import User
from tracker.core import clock, storage
from tracker.core.errors import Conflict, NotFound, ValidationFailed
from tracker.core.pagination import paginate
from tracker.core.words import N_
from tracker.excel.responses import xlsx_download
from tracker.extensions import db
from tracker.ledger.models import STATUS_LABELS, TIER_LABELS, Category, Problem
from tracker.org import queries as org_queries
from tracker.org.models import Unit
from tracker.oversight import services
from tracker.oversight.forms import MAX_TARGETED, CreateBatchForm, RecordVisitForm
from tracker.oversight.models import InspectionBatch, InspectionItem, InspectionPhoto, Method, Result

bp = Blueprint("oversight", __name__)

BATCH_STATUS_LABELS = {"open": N_("进行中"), "done": N_("已完成")}
DRAW_RULE = N_("按问题编号升序排列总体，以种子初始化 Python random.Random，依次抽取问题和人员")
AVOID_RULE = N_("交办、审核或销号过该问题的纪检监察员，不派往复查该问题")
INLINE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}
FILTER_LABELS = {
    "unit_code": N_("责任单位"),
    "category": N_("问题分类"),
    "tier": N_("分级"),
    "status": N_("状态"),
}


def _require_view():
    """A batch is covert: without inspection.view the pages do not exist (the same 404 as a wrong address)."""
    if not policy.can(current_user, "inspection.view"):
        raise NotFound(_("页面不存在。"))


def _batch(batch_id) -> InspectionBatch:
    _require_view()
    return services.get_batch(batch_id, current_user)


# ---- the list of batches -------------------------------------------------------------------------


@bp.route("/inspections")
def batches():
    _require_view()
    status = request.args.get("status", "")
    stmt = select(InspectionBatch)
    if status in BATCH_STATUS_LABELS:
        stmt = stmt.where(InspectionBatch.status == status)
    else:
        status = ""
    page = paginate(stmt.order_by(InspectionBatch.id.desc()), request.args.get("page"))
    return render_template(
        "oversight/batches.html",
        page=page,
        status=status,
        counts=_outcome_counts([b.id for b in page.items]),
        status_labels=BATCH_STATUS_LABELS,
    )


def _outcome_counts(batch_ids) -> dict:
    """Per batch id: (failed, relapses) among its recorded items."""
    if not batch_ids:
        return {}
    rows = db.session.execute(
        select(
            InspectionItem.batch_id,
            func.sum(case((InspectionItem.result == Result.FAIL, 1), else_=0)),
            func.sum(case((InspectionItem.is_relapse.is_(True), 1), else_=0)),
        )
        .where(InspectionItem.batch_id.in_(batch_ids))
        .group_by(InspectionItem.batch_id)
    ).all()
    return {batch_id: (int(failed or 0), int(relapses or 0)) for batch_id, failed, relapses in rows}


# ---- a new batch ---------------------------------------------------------------------------------


def _inspectors():
    return db.session.scalars(
        select(User).where(User.role == Role.INSPECTOR, User.is_active.is_(True)).order_by(User.name)
    ).all()


def _batch_form(formdata=None):
    form = CreateBatchForm(formdata=formdata) if formdata is not None else CreateBatchForm()
    units = org_queries.tree_order(org_queries.all_units(active_only=True))
    form.unit_code.choices = [SelectChoice("", _("全部单位"))] + [
        SelectChoice(u.code, "　" * depth + u.name) for u, depth in units
    ]
    categories = db.session.scalars(select(Category.name).order_by(Category.position)).all()
    form.category.choices = [SelectChoice("", _("全部分类"))] + [SelectChoice(c, c) for c in categories]
    form.tier.choices = [SelectChoice("", _("全部分级"))] + [SelectChoice(k, _(v)) for k, v in TIER_LABELS.items()]
    form.status.choices = [SelectChoice("", _("全部状态"))] + [SelectChoice(k, _(v)) for k, v in STATUS_LABELS.items()]
    form.inspectors.choices = [SelectChoice(u.username, u.name) for u in _inspectors()]
    return form


def _prefill(form) -> list[str]:
    """A GET's query string into the form: ?problems= (from a problem page) or a ledger filter
    (?source=ledger&status=…). Returns notes to show above the form."""
    from tracker.ledger import queries as ledger_queries

    notes = []
    args = request.args
    form.status.data = "closed"
    if args.get("problems"):
        form.method.data = Method.TARGETED.value
        form.problems.data = "\n".join(part for part in args.get("problems", "").replace(",", " ").split() if part)
        return notes
    if args.get("source") != "ledger":
        return notes
    flt = ledger_queries.LedgerFilter.from_args(args)
    form.status.data = flt.status if flt.status in STATUS_LABELS else ""
    form.tier.data = flt.tier if flt.tier in TIER_LABELS else ""
    form.category.data = flt.category
    unit = db.session.get(Unit, flt.unit_id) if flt.unit_id else None
    form.unit_code.data = unit.code if unit else ""
    stmt = ledger_queries.filtered(current_user, flt).order_by(Problem.id).limit(MAX_TARGETED + 1)
    numbers = [p.number for p in db.session.scalars(stmt)]
    form.method.data = Method.TARGETED.value
    form.problems.data = "\n".join(numbers[:MAX_TARGETED])
    if not numbers:
        notes.append(_("台账当前筛选没有问题。"))
    elif len(numbers) > MAX_TARGETED:
        notes.append(_("台账当前筛选超过 %(n)d 个问题，只填入了前 %(n)d 个。", n=MAX_TARGETED))
    else:
        notes.append(_("已按台账当前筛选填入 %(n)d 个问题（点穴式）。", n=len(numbers)))
    if any(getattr(flt, name) for name in ("q", "due", "channel", "leader_id", "assigned_from", "assigned_to")):
        notes.append(
            _("关键词、时限、渠道、分管领导和交办日期不能作为拉网式、随机式的条件，改用这些方式时请核对筛选。")
        )
    return notes


def _field_errors(form, failed) -> list[str]:
    """Put the service's field messages beside the fields (a message about the filter as a whole
    above the filter fields); what has no place comes back, to show on top."""
    aliases = {
        "sample": "sample_size",
        "pool": "inspectors",
        "numbers": "problems",
        "unit": "unit_code",
        "file": "photos",
    }
    loose = []
    form.filter_errors = getattr(form, "filter_errors", [])
    for name, message in (getattr(failed, "fields", None) or {}).items():
        key = name.split(".")[-1]
        key = key if key in form else aliases.get(key, key)
        if key in form and key not in ("csrf_token",):
            form[key].errors = list(form[key].errors) + [message]
        elif name.startswith("filter") or key == "population":
            form.filter_errors.append(message)
        else:
            loose.append(message)
    return loose


@bp.route("/inspections/new", methods=["GET", "POST"])
def new_batch():
    _require_view()
    policy.require(current_user, "inspection.manage")
    notes, loose, preview, status = [], [], None, 200
    if request.method == "GET":
        form = _batch_form(formdata=None)
        notes = _prefill(form)
    else:
        form = _batch_form()
        if form.validate_on_submit():
            try:
                if "preview" in request.form:
                    preview = services.preview(form.plan())
                else:
                    batch = services.create_batch(form.plan(), actor=current_user)
                    db.session.commit()
                    message = _("已创建 %(n)s：%(k)d 个问题。", n=batch.number, k=batch.item_count)
                    if batch.seed is not None:
                        message += _("随机种子 %(s)s，凭种子和抽查方案可复核抽取结果。", s=batch.seed)
                    flash(message, "success")
                    return redirect(url_for("oversight.batch", batch_id=batch.id))
            except ValidationFailed as failed:
                db.session.rollback()
                loose = _field_errors(form, failed)
                flash(failed.message, "danger")
                status = 422
        else:
            status = 422
    return render_template("oversight/batch_new.html", form=form, notes=notes, loose=loose, preview=preview), status


# ---- one batch: the page, the re-draw check, the printable plan and record, the Excel ----------


def _plan(batch) -> dict:
    """The plan in words, enough to draw the batch again by hand."""
    flt = batch.filter or {}
    words = []
    for key, label in FILTER_LABELS.items():
        value = flt.get(key)
        if not value:
            continue
        if key == "unit_code":
            unit = org_queries.unit_by_code(value)
            value = _("%(u)s（含下级单位）", u=unit.name) if unit else value
        elif key == "tier":
            value = _(TIER_LABELS.get(value, value))
        elif key == "status":
            value = _(STATUS_LABELS.get(value, value))
        words.append(f"{_(label)}：{value}")
    if flt.get("closed_from") or flt.get("closed_to"):
        words.append(
            _("销号日期：%(a)s 至 %(b)s", a=flt.get("closed_from") or _("不限"), b=flt.get("closed_to") or _("不限"))
        )
    pool_ids = batch.inspector_pool or []
    people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(pool_ids)))} if pool_ids else {}
    if batch.method == Method.RANDOM:
        if batch.sample_percent:
            sample = _("%(p)s%%，即 %(k)d 个", p=f"{batch.sample_percent:g}", k=batch.item_count)
        else:
            sample = _("%(k)d 个", k=batch.sample_size or batch.item_count)
    else:
        sample = _("全部 %(k)d 个", k=batch.item_count)
    return {
        "filter": words,
        "sample": sample,
        "pool": [people[i] for i in pool_ids if i in people],
        "draw_rule": _(DRAW_RULE),
        "avoid_rule": _(AVOID_RULE),
    }


def _render_batch(batch, redraw=None, status=200):
    return render_template(
        "oversight/batch.html",
        batch=batch,
        rows=services.batch_rows(batch),
        plan=_plan(batch),
        redraw=redraw,
        status_labels=BATCH_STATUS_LABELS,
        counts=_outcome_counts([batch.id]).get(batch.id, (0, 0)),
    ), status


@bp.route("/inspections/<int:batch_id>")
def batch(batch_id):
    return _render_batch(_batch(batch_id))


@bp.route("/inspections/<int:batch_id>/redraw", methods=["POST"])
def redraw(batch_id):
    """Draw again from the recorded plan and say whether the same problems and inspectors come out."""
    from flask_wtf.csrf import validate_csrf

    item = _batch(batch_id)
    validate_csrf(request.form.get("csrf_token"))
    result = services.redraw(item)
    return _render_batch(item, redraw=_redraw_words(result))


def _redraw_words(result) -> dict:
    """The re-draw's answer in words: problem numbers and inspector names, what differs."""
    expected = {row["number"]: row["inspectors"] for row in result.get("expected") or []}
    drawn = {row["number"]: row["inspectors"] for row in result.get("drawn") or []}
    usernames = {u for rows in (expected, drawn) for people in rows.values() for u in people}
    names = (
        dict(db.session.execute(select(User.username, User.name).where(User.username.in_(usernames))).all())
        if usernames
        else {}
    )

    def who(people):
        return "、".join(names.get(u, u) for u in people) or _("（无）")

    differences = []
    for number, people in expected.items():
        if number not in drawn:
            differences.append(_("%(n)s 在本批次中，复核抽取未抽到", n=number))
        elif people != drawn[number]:
            differences.append(
                _("%(n)s 的暗访人员：本批次为 %(a)s，复核为 %(b)s", n=number, a=who(people), b=who(drawn[number]))
            )
    differences += [_("%(n)s 复核抽取抽到，本批次中没有", n=number) for number in drawn if number not in expected]
    if not differences and not result.get("same"):
        differences.append(_("抽取顺序不同。"))
    return {"same": bool(result.get("same")), "population": result.get("population"), "differences": differences}


@bp.route("/inspections/<int:batch_id>/plan")
def plan(batch_id):
    item = _batch(batch_id)
    return render_template("oversight/plan.html", batch=item, plan=_plan(item), rows=services.batch_rows(item))


@bp.route("/inspections/<int:batch_id>/record")
def record(batch_id):
    item = _batch(batch_id)
    return render_template(
        "oversight/record.html",
        batch=item,
        headers=services.RECORD_HEADERS,
        rows=services.batch_record_rows(item),
        printed=clock.today(),
    )


@bp.route("/inspections/<int:batch_id>.xlsx")
def record_xlsx(batch_id):
    item = _batch(batch_id)
    title_rows = [
        f"{_(services.RECORD_TITLE)}（{item.number}）",
        _(
            "%(m)s · %(t)s · 导出于 %(d)s",
            m=_(item.method_label),
            t=item.title,
            d=clock.local_now().strftime("%Y-%m-%d %H:%M"),
        ),
    ]
    return xlsx_download(
        [_(h) for h in services.RECORD_HEADERS],
        services.batch_record_rows(item),
        f"{_(services.RECORD_TITLE)}-{item.year}-{item.seq}.xlsx",
        sheet_name=_(services.RECORD_TITLE),
        widths=services.RECORD_WIDTHS,
        title_rows=title_rows,
        wrapped={2, 7},
        for_print=True,
    )


# ---- a visit --------------------------------------------------------------------------------------


def _item_for(batch, number) -> InspectionItem | None:
    number = (number or "").strip().upper()[:40]
    if not number:
        return None
    return db.session.scalar(
        select(InspectionItem)
        .join(Problem, Problem.id == InspectionItem.problem_id)
        .where(InspectionItem.batch_id == batch.id, Problem.number == number)
    )


def _visit_form(item, formdata=None):
    """The visit form; the inspectors to choose from are the active ones less who must stand aside
    (assigned, approved or signed off the problem), plus any sent who are no longer active."""
    form = RecordVisitForm(formdata=formdata) if formdata is not None else RecordVisitForm()
    problem = item.problem
    barred = {problem.inspector_id, problem.approved_by_id, problem.closed_by_id} - {None}
    people = [u for u in _inspectors() if u.id not in barred]
    known = {u.id for u in people}
    missing = [i for i in (item.inspector_ids or []) if i not in known]
    if missing:
        people += list(db.session.scalars(select(User).where(User.id.in_(missing))))
    form.inspectors.choices = [SelectChoice(u.username, u.name) for u in people]
    return form


@bp.route("/inspections/<int:batch_id>/visits/new", methods=["GET", "POST"])
def new_visit(batch_id):
    batch_ = _batch(batch_id)
    policy.require(current_user, "inspection.manage")
    number = request.form.get("problem") if request.method == "POST" else request.args.get("problem")
    item = _item_for(batch_, number)
    if item is None:
        flash(_("该问题不在本批次中。"), "warning")
        return redirect(url_for("oversight.batch", batch_id=batch_.id))
    if item.is_recorded:
        flash(_("%(n)s 已记录暗访结果。", n=item.problem.number), "info")
        return redirect(url_for("oversight.batch", batch_id=batch_.id))
    status = 200
    if request.method == "GET":
        form = _visit_form(item, formdata=None)
        form.problem.data = item.problem.number
        form.version.data = item.version
        form.visited_on.data = clock.today().isoformat()
        users = {
            u.id: u.username for u in db.session.scalars(select(User).where(User.id.in_(item.inspector_ids or [])))
        }
        form.inspectors.data = [users[i] for i in (item.inspector_ids or []) if i in users]
    else:
        form = _visit_form(item)
        if form.validate_on_submit():
            try:
                data = form.visit()
                data["photos"] = [(f.stream, f.filename) for f in request.files.getlist("photos") if f and f.filename]
                recorded = services.record_visit(batch_, data, actor=current_user)
            except (ValidationFailed, Conflict) as failed:
                db.session.rollback()
                _field_errors(form, failed)
                flash(failed.message, "warning" if isinstance(failed, Conflict) else "danger")
                status = failed.status
            else:
                db.session.commit()
                flash(_visit_done(recorded), "success")
                return redirect(url_for("oversight.batch", batch_id=batch_.id))
            db.session.refresh(item)
        else:
            status = 422
    return render_template("oversight/visit_new.html", batch=batch_, item=item, problem=item.problem, form=form), status


def _visit_done(item) -> str:
    number = item.problem.number
    if item.result == Result.PASS:
        return _("已记录 %(n)s 的暗访结果：通过。", n=number)
    if item.is_relapse:
        return _("已记录 %(n)s 的暗访结果：未通过，已退回责任单位重新整改，计为反弹。", n=number)
    return _("已记录 %(n)s 的暗访结果：未通过，已退回责任单位重新整改。", n=number)


@bp.route("/inspections/photos/<int:photo_id>")
def photo(photo_id):
    """A visit's photo, to those who may see batches only."""
    _require_view()
    item = db.session.get(InspectionPhoto, photo_id)
    if item is None:
        raise NotFound(_("文件不存在。"))
    services.get_batch(item.item.batch_id, current_user)
    inline = item.content_type in INLINE_TYPES and request.args.get("inline") == "1"
    try:
        return storage.send(
            services.photo_key(item),
            mimetype=item.content_type,
            as_attachment=not inline,
            download_name=item.filename,
            etag=item.sha256,
        )
    except FileNotFoundError:
        raise NotFound(_("文件不存在。")) from None


from tracker.oversight import followup_views  # noqa: E402, F401

"""Intake pages: the inbox, one record and its handling, manual entry, bulk import with progress."""

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from tracker.access import policy
from tracker.audit import queries as audit_queries
from tracker.core.errors import Conflict, NotFound, ValidationFailed
from tracker.core.inputs import parse_id
from tracker.core.pagination import paginate
from tracker.excel.responses import list_download
from tracker.excel.services import rows_as_text_csv
from tracker.extensions import db
from tracker.intake import bulk, imports, queries, services
from tracker.intake.forms import CreateIntakeForm, HandleIntakeForm
from tracker.intake.models import HANDLING_LABELS, KINDS, ImportBatch
from tracker.org import queries as org_queries

bp = Blueprint("intake", __name__, url_prefix="/intake")


def _unit_choices():
    choices = [SelectChoice("", _("（未指定）"))]
    for unit, depth in org_queries.tree_order(org_queries.all_units(active_only=True)):
        choices.append(SelectChoice(unit.code, "　" * depth + unit.name))
    return choices


@bp.route("/")
def inbox():
    policy.require(current_user, "intake.view")
    flt = queries.InboxFilter.from_args(request.args)
    if flt.ignored:
        flash(_("已忽略无效的筛选条件：%(f)s", f="、".join(flt.ignored)), "warning")
    page = paginate(queries.visible_records(current_user, flt), request.args.get("page"))
    hints = queries.duplicate_hints(page.items) if policy.can(current_user, "intake.handle") else {}
    units = org_queries.tree_order(org_queries.all_units())
    scope = policy.visible_unit_ids(current_user)
    if scope is not None:
        units = [(u, d) for u, d in units if u.id in scope]
    return render_template(
        "intake/inbox.html",
        page=page,
        flt=flt,
        hints=hints,
        bulk_actions=bulk.ACTIONS,
        channels=services.active_channels(),
        kinds=KINDS,
        units=units,
        handlings=HANDLING_LABELS,
    )


@bp.route("/export.<fmt>")
def export(fmt):
    """The inbox with its current filter as XLSX (title rows, print set-up) or CSV (data only)."""
    policy.require(current_user, "intake.view")
    flt = queries.InboxFilter.from_args(request.args)
    if fmt not in ("csv", "xlsx"):
        return redirect(url_for("intake.inbox", **request.args))
    rows = queries.export_rows(current_user, flt)  # worked out now: the CSV body streams later
    return list_download(fmt, queries, rows, queries.export_title_rows(current_user, flt), "intake")


@bp.route("/new", methods=["GET", "POST"])
def create():
    policy.require(current_user, "intake.create")
    form = CreateIntakeForm()
    form.channel.choices = [SelectChoice(c, c) for c in services.active_channels()]
    form.unit_code.choices = _unit_choices()
    status = 200
    if form.validate_on_submit():
        raw = {name: getattr(form, name).data for name in services.FIELDS if hasattr(form, name)}
        raw["external_id"] = raw.get("external_id") or services.manual_external_id()
        raw["received_at"] = form.received_at.data
        raw["anonymous"] = form.anonymous.data
        try:
            record, created = services.register(raw, actor=current_user, source_row=None)
        except ValidationFailed as failed:
            db.session.rollback()
            for name, message in failed.fields.items():
                if hasattr(form, name):
                    form[name].errors = list(form[name].errors) + [message]
            status = 422
        else:
            db.session.commit()
            if created:
                flash(_("已登记反映件，查询码 %(c)s。可打印查询回执交给反映人。", c=record.tracking_code), "success")
            else:
                flash(_("该来源编号已登记过，已打开原反映件。"), "warning")
            return redirect(url_for("intake.show", record_id=record.id))
    elif form.errors:
        status = 422
    return render_template("intake/new.html", form=form), status


@bp.route("/<int:record_id>")
def show(record_id):
    record = queries.get_record_or_404(record_id, current_user)
    return _render_record(record)


def _render_record(record, form=None, revealed=None, status=200):
    kept = {}
    if form is not None and status >= 400:
        # What the user typed is shown again, never dropped, even when the action is gone.
        for name in ("title", "problem_number", "explanation", "duplicate_of", "reason", "note"):
            if form[name].data:
                kept[str(form[name].label.text)] = form[name].data
    form = form or HandleIntakeForm(version=record.version)
    similar = queries.probable_duplicates(record) if policy.can(current_user, "intake.handle", record) else []
    history = audit_queries.describe(audit_queries.events_of("intake_record", record.id))
    return (
        render_template(
            "intake/show.html",
            record=record,
            form=form,
            similar=similar,
            complainant=services.complainant_display(record, current_user),
            revealed=revealed,
            history=history,
            kept=kept,
        ),
        status,
    )


@bp.route("/<int:record_id>/reveal", methods=["POST"])
def reveal(record_id):
    record = queries.get_record_or_404(record_id, current_user)
    form = HandleIntakeForm()
    if not form.validate_on_submit():
        flash(_("表单已过期，请刷新后重试。"), "danger")
        return redirect(url_for("intake.show", record_id=record.id))
    identity = services.reveal_complainant(record, actor=current_user)
    db.session.commit()
    return _render_record(record, revealed=identity)


@bp.route("/<int:record_id>/publish", methods=["POST"])
def publish(record_id):
    """处理结果向群众公开: the inspector opts the record's result in (on=1) or out (on=0)."""
    record = queries.get_record_or_404(record_id, current_user)
    policy.require(current_user, "intake.publish", record)
    form = HandleIntakeForm()
    if not form.validate_on_submit():
        flash(_("表单已过期，请刷新后重试。"), "danger")
        return redirect(url_for("intake.show", record_id=record.id))
    on = request.form.get("on") == "1"
    try:
        services.publish(record, on, actor=current_user)
    except ValidationFailed as failed:
        db.session.rollback()
        flash(failed.message, "danger")
        return redirect(url_for("intake.show", record_id=record.id))
    db.session.commit()
    flash(_("已公开处理结果，办结后在公开页显示。") if on else _("已取消公开。"), "success")
    return redirect(url_for("intake.show", record_id=record.id))


@bp.route("/<int:record_id>/receipt", methods=["POST"])
def receipt(record_id):
    """The complainant's receipt (回执) with the tracking code and query PIN, ready to print."""
    record = queries.get_record_or_404(record_id, current_user)
    policy.require(current_user, "intake.create", record)
    form = HandleIntakeForm()
    if not form.validate_on_submit():
        flash(_("表单已过期，请刷新后重试。"), "danger")
        return redirect(url_for("intake.show", record_id=record.id))
    shown = services.receipt(record, actor=current_user)
    db.session.commit()
    return render_template("intake/receipt.html", record=record, receipt=shown)


def _apply_action(action, record, form, user):
    """Run the handling service for ACTION; raises NotFound for an unknown action."""
    version = form.version.data
    if action in ("rectify", "quick_fix"):
        services.rectify(
            record,
            actor=user,
            expected_version=version,
            title=form.title.data,
            problem_number=form.problem_number.data if action == "rectify" else None,
            quick_fix=action == "quick_fix",
        )
    elif action == "explain":
        services.explain(record, form.explanation.data, actor=user, expected_version=version)
    elif action == "duplicate":
        services.mark_duplicate(record, form.duplicate_of.data, actor=user, expected_version=version)
    elif action == "appeal":
        services.file_appeal(record, form.reason.data, actor=user, expected_version=version)
    elif action in ("appeal_uphold", "appeal_reject"):
        services.decide_appeal(record, action == "appeal_uphold", form.note.data, actor=user, expected_version=version)
    else:
        raise NotFound(_("未知的处理方式。"))


DONE_MESSAGES = {
    "rectify": "已转入问题台账。",
    "quick_fix": "已作为立行立改问题转入台账。",
    "explain": "已记录解释说明。",
    "duplicate": "已标记为重复件。",
    "appeal": "已提交申诉，等待纪检监察员复核。",
    "appeal_uphold": "申诉成立，该件不计入单位统计。",
    "appeal_reject": "已驳回申诉，该件回到待处理。",
}


@bp.route("/<int:record_id>/handle", methods=["POST"])
def handle(record_id):
    record = queries.get_record_or_404(record_id, current_user)
    form = HandleIntakeForm()
    if not form.validate_on_submit():
        return _render_record(record, form=form, status=400)
    try:
        _apply_action(form.action.data, record, form, current_user)
    except Conflict as conflict:
        db.session.rollback()
        flash(conflict.message, "warning")
        db.session.refresh(record)
        return _render_record(record, form=form, status=409)
    except ValidationFailed as failed:
        db.session.rollback()
        for name, message in failed.fields.items():
            if hasattr(form, name):
                form[name].errors = list(form[name].errors) + [message]
        flash(failed.message, "danger")
        db.session.refresh(record)
        return _render_record(record, form=form, status=422)
    db.session.commit()
    flash(_(DONE_MESSAGES[form.action.data]), "success")
    return redirect(url_for("intake.show", record_id=record.id))


# ---- import --------------------------------------------------------------------------------------


@bp.route("/import", methods=["GET", "POST"])
def upload():
    policy.require(current_user, "intake.import")
    if request.method == "POST":
        from flask_wtf.csrf import validate_csrf
        from wtforms import ValidationError

        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError:
            flash(_("表单已过期，请刷新后重试。"), "danger")
            return redirect(url_for("intake.upload"))
        upload_file = request.files.get("file")
        if upload_file is None or not upload_file.filename:
            flash(_("请选择要导入的 CSV 或 Excel 文件。"), "danger")
            return render_template("intake/upload.html", batches=queries.recent_batches()), 422
        try:
            stored = imports.stage_upload(upload_file.stream, upload_file.filename)
            batch = imports.stage_batch(stored, upload_file.filename, actor=current_user)
        except ValidationFailed as failed:
            db.session.rollback()
            flash(failed.message, "danger")
            return render_template("intake/upload.html", batches=queries.recent_batches()), 422
        db.session.commit()
        return redirect(url_for("intake.mapping", batch_id=batch.id))
    return render_template("intake/upload.html", batches=queries.recent_batches())


def _get_batch(batch_id) -> ImportBatch:
    policy.require(current_user, "intake.import")
    batch = db.session.get(ImportBatch, batch_id)
    if batch is None:
        raise NotFound(_("未找到该导入任务。"))
    return batch


@bp.route("/import/<int:batch_id>/mapping", methods=["GET", "POST"])
def mapping(batch_id):
    batch = _get_batch(batch_id)
    if batch.status != "staged":
        return redirect(url_for("intake.batch", batch_id=batch.id))
    headers = imports.headers_of(batch)
    all_profiles = imports.profiles()
    profile_name = request.values.get("profile") or ""
    if request.method == "POST":
        mapping_in = {name: request.form.get(f"map_{name}", "") for name in services.FIELDS}
        defaults = dict(all_profiles.get(profile_name, {}).get("defaults", {}))
        if request.form.get("default_channel"):
            defaults["channel"] = request.form["default_channel"]
        if request.form.get("default_kind"):
            defaults["kind"] = request.form["default_kind"]
        errors = {}
        try:
            defaults = imports.set_value_maps(defaults, _posted_map("channel"), _posted_map("unit"))
            if request.form.get("save_profile") and request.form.get("profile_name"):
                imports.save_profile(
                    request.form["profile_name"],
                    {k: v for k, v in mapping_in.items() if v},
                    defaults,
                    actor=current_user,
                )
                profile_name = request.form["profile_name"].strip()
            if request.form.get("go") == "import":
                imports.queue_batch(batch, mapping_in, defaults, profile_name=profile_name or None)
                db.session.commit()
                imports.start_in_background(current_app._get_current_object(), batch.id)
                return redirect(url_for("intake.batch", batch_id=batch.id))
            db.session.commit()
        except ValidationFailed as failed:
            db.session.rollback()
            errors = failed.fields
            flash(failed.message, "danger")
        current = {k: v for k, v in mapping_in.items() if v}
        page = _mapping_page(batch, headers, current, defaults, all_profiles, profile_name, errors, canonical=False)
        return page, 422 if errors else 200
    current, defaults, canonical = {}, {}, False
    if profile_name in all_profiles:
        current, defaults = dict(all_profiles[profile_name]["mapping"]), dict(all_profiles[profile_name]["defaults"])
    else:
        detected = imports.canonical_mapping(headers)
        if detected:
            current, canonical = detected, True
        else:
            profile_name = imports.matching_profile(headers) or ""
            if profile_name:
                current = dict(all_profiles[profile_name]["mapping"])
                defaults = dict(all_profiles[profile_name]["defaults"])
    return _mapping_page(batch, headers, current, defaults, all_profiles, profile_name, {}, canonical)


def _posted_map(prefix) -> dict:
    """{value in the file: chosen target} from the pairs `<prefix>_value_<i>` / `<prefix>_target_<i>`."""
    chosen = {}
    for key, value in request.form.items():
        if key.startswith(f"{prefix}_value_"):
            chosen[value] = request.form.get(f"{prefix}_target_{key.removeprefix(f'{prefix}_value_')}", "")
    return chosen


def _mapping_page(batch, headers, mapping, defaults, profiles, profile_name, errors, canonical):
    """The mapping step with a preview of the first rows (none while the mapping has errors), the
    number of data rows and the channel and unit values that need mapping."""
    found = None
    if mapping and not errors:
        with imports.batch_file(batch) as path:
            found = imports.preview(path, mapping, defaults)
    return render_template(
        "intake/mapping.html",
        batch=batch,
        headers=headers,
        mapping=mapping,
        defaults=defaults,
        profiles=profiles,
        profile_name=profile_name,
        rows=found.rows if found else [],
        found=found,
        channels=services.active_channels(),
        units=org_queries.tree_order(org_queries.all_units(active_only=True)),
        errors=errors,
        canonical=canonical,
    )


@bp.route("/imports/<int:batch_id>")
def batch(batch_id):
    batch = _get_batch(batch_id)
    errors = batch.errors.limit(200).all()
    return render_template("intake/batch.html", batch=batch, errors=errors)


@bp.route("/imports/<int:batch_id>/progress")
def progress(batch_id):
    batch = _get_batch(batch_id)
    if request.headers.get("HX-Request"):
        return render_template("intake/_progress.html", batch=batch)
    return {
        "status": batch.status,
        "total": batch.total_rows,
        "done": batch.done_rows,
        "created": batch.created_count,
        "duplicate": batch.duplicate_count,
        "rejected": batch.rejected_count,
        "percent": batch.percent,
    }


@bp.route("/imports/<int:batch_id>/errors.csv")
def error_report(batch_id):
    batch = _get_batch(batch_id)
    body = rows_as_text_csv(imports.error_report(batch), [_("行号"), _("列"), _("原因")])
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=import-{batch.id}-errors.csv"},
    )


# ---- bulk handling and clusters (类案) -----------------------------------------------------------


def _bulk_selection(values):
    """(ids, filter, upto id) from a bulk form: the ticked ids, or the inbox filter (carried as a
    query string) when "select all matching" was chosen."""
    from urllib.parse import parse_qsl

    from werkzeug.datastructures import MultiDict

    if values.get("select") == "filter":
        args = MultiDict(parse_qsl(values.get("filter", ""), keep_blank_values=True))
        upto = values.get("upto", "")
        return None, queries.InboxFilter.from_args(args), parse_id(upto)
    ids = [parse_id(v) for v in values.getlist("ids") if parse_id(v)]
    return ids, None, None


def _bulk_page(action, values, errors=None, status=200):
    """The confirmation step: counts, what will happen, the records that will be skipped and why."""
    ids, flt, upto = _bulk_selection(values)
    unit_code = values.get("unit_code") or ""
    unit = org_queries.unit_by_code(unit_code) if unit_code else None
    plan = bulk.plan(action, actor=current_user, ids=ids, flt=flt, upto_id=upto, unit_id=unit.id if unit else None)
    return (
        render_template(
            "intake/bulk_confirm.html",
            plan=plan,
            ids=ids,
            selection="filter" if flt is not None else "ids",
            filter_text=values.get("filter", ""),
            upto=upto or plan.last_id,
            values=values,
            errors=errors or {},
            units=org_queries.tree_order(org_queries.all_units(active_only=True)),
            actions=bulk.ACTIONS,
        ),
        status,
    )


def _check_csrf():
    from flask_wtf.csrf import validate_csrf
    from wtforms import ValidationError

    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return False
    return True


@bp.route("/bulk", methods=["POST"])
def bulk_confirm():
    policy.require(current_user, "intake.handle")
    if not _check_csrf():
        flash(_("表单已过期，请刷新后重试。"), "danger")
        return redirect(url_for("intake.inbox"))
    action = request.form.get("action", "")
    ids, flt, _upto = _bulk_selection(request.form)
    if flt is None and not ids:
        flash(_("请先勾选要处理的反映件。"), "warning")
        return redirect(url_for("intake.inbox", **dict(_filter_args(request.form))))
    try:
        return _bulk_page(bulk.check_action(action), request.form)
    except ValidationFailed as failed:
        flash(failed.message, "danger")
        return redirect(url_for("intake.inbox"))


def _filter_args(values):
    from urllib.parse import parse_qsl

    return parse_qsl(values.get("filter", ""))


@bp.route("/bulk/apply", methods=["POST"])
def bulk_apply():
    policy.require(current_user, "intake.handle")
    if not _check_csrf():
        flash(_("表单已过期，请刷新后重试。"), "danger")
        return redirect(url_for("intake.inbox"))
    form = request.form
    action = bulk.check_action(form.get("action", ""))
    ids, flt, upto = _bulk_selection(form)
    details = {name: form.get(name) for name in ("title", "explanation", "problem", "unit_code") if form.get(name)}
    try:
        result = bulk.bulk_apply(action, actor=current_user, ids=ids, flt=flt, upto_id=upto, **details)
    except ValidationFailed as failed:
        db.session.rollback()
        flash(failed.message, "danger")
        return _bulk_page(action, form, errors=failed.fields, status=422)
    except Conflict as conflict:
        db.session.rollback()
        flash(conflict.message, "warning")
        return _bulk_page(action, form, status=409)
    db.session.commit()
    skipped = len(result["skipped"])
    message = _("%(a)s：已处理 %(d)d 件", a=bulk.ACTIONS[action], d=result["done"])
    if skipped:
        message += _("，跳过 %(s)d 件", s=skipped)
    flash(message + "。", "success" if result["done"] else "warning")
    if result.get("problem"):
        return redirect(url_for("ledger.show", number=result["problem"]))
    return redirect(url_for("intake.inbox", **dict(_filter_args(form))))


@bp.route("/clusters")
def clusters():
    from tracker.intake import clusters as found

    policy.require(current_user, "intake.handle")
    batch_id = request.args.get("batch", "")
    batch = _get_batch(parse_id(batch_id)) if parse_id(batch_id) else None
    flt = queries.InboxFilter.from_args(request.args)
    groups = found.find(current_user, flt, batch_id=batch.id if batch else None)
    if request.headers.get("HX-Request"):
        return render_template("intake/_clusters_summary.html", groups=groups[:5], total=groups, batch=batch)
    per_page = 20
    number = max(1, min(request.args.get("page", 1, type=int) or 1, -(-len(groups) // per_page) or 1))
    return render_template(
        "intake/clusters.html",
        groups=groups[(number - 1) * per_page : number * per_page],
        total=groups,
        number=number,
        pages=-(-len(groups) // per_page) or 1,
        batch=batch,
        flt=flt,
        summary=found.summary(groups),
    )

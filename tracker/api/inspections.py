"""Covert re-inspection batches and their visits (/api/v1/inspections)."""

from flask import g, jsonify, request

from tracker.access import policy
from tracker.api.views import bp, json_body
from tracker.auth.models import User
from tracker.core import inputs
from tracker.core.errors import ValidationFailed
from tracker.extensions import db
from tracker.oversight import services

BATCH_TYPES = {
    "method": inputs.TEXT,
    "filter": inputs.OBJECT,
    "sample_size": inputs.INTEGER,
    "sample_percent": inputs.TEXT_OR_NUMBER,
    "seed": inputs.TEXT_OR_NUMBER,
    "problems": inputs.LIST,
    "inspectors": inputs.LIST,
    "per_problem": inputs.INTEGER,
    "double_random": inputs.BOOLEAN,
    "title": inputs.TEXT,
}
FILTER_TYPES = {name: inputs.TEXT for name in services.FILTER_KEYS}
VISIT_TYPES = {
    "problem": inputs.TEXT,
    "visited_on": inputs.TEXT,
    "way": inputs.TEXT,
    "inspectors": inputs.LIST,
    "findings": inputs.TEXT,
    "result": inputs.TEXT,
    "version": inputs.INTEGER,
}


def _names(ids) -> dict[int, User]:
    ids = sorted({i for i in ids if i is not None})
    if not ids:
        return {}
    return {u.id: u for u in db.session.scalars(db.select(User).where(User.id.in_(ids)))}


def _item_view(item, users) -> dict:
    return {
        "number": item.problem.number,
        "title": item.problem.title,
        "unit_code": item.unit.code if item.unit else None,
        "inspectors": [users[u].username for u in (item.inspector_ids or []) if u in users],
        "result": item.result,
        "visited_on": item.visited_on.isoformat() if item.visited_on else None,
        "way": item.way,
        "findings": item.findings,
        "relapse": item.is_relapse,
        "status_before": item.status_before,
        "photos": [
            {"id": p.id, "filename": p.filename, "content_type": p.content_type, "size": p.size, "sha256": p.sha256}
            for p in item.photos
        ],
        "version": item.version,
    }


def batch_view(batch, items=None) -> dict:
    """The batch with its plan; ITEMS (from batch_rows) add the problems and visits."""
    users = _names(batch.inspector_pool or [])
    view = {
        "id": batch.id,
        "number": batch.number,
        "title": batch.title,
        "method": batch.method,
        "filter": batch.filter or {},
        "population": batch.population,
        "sample_size": batch.sample_size,
        "sample_percent": batch.sample_percent,
        "seed": batch.seed,
        "inspector_pool": [users[u].username for u in (batch.inspector_pool or []) if u in users],
        "per_problem": batch.inspectors_per_problem,
        "double_random": batch.is_double_random,
        "verification": batch.is_verification,
        "status": batch.status,
        "item_count": batch.item_count,
        "done_count": batch.done_count,
        "created_at": batch.created_at.isoformat() if batch.created_at else None,
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
    }
    if items is not None:
        people = _names(u for item in items for u in (item.inspector_ids or []))
        view["problems"] = [_item_view(item, people) for item in items]
    return view


@bp.route("/inspections", methods=["POST"])
def create_inspection():
    """A batch by method; 201 {id, number, method, seed, population, problems: [{number, inspectors}]}."""
    user = g.api_user
    policy.require(user, "inspection.manage")
    data = json_body()
    inputs.check_json_types(data, BATCH_TYPES, message="抽查方案有误。")
    if isinstance(data.get("filter"), dict):
        inputs.check_json_types(data["filter"], FILTER_TYPES, prefix="filter.", message="抽查方案有误。")
    data = {k: v for k, v in data.items() if k in BATCH_TYPES}
    batch = services.create_batch(data, actor=user)
    drawn = batch.drawn
    db.session.commit()
    users = _names(u for _number, people in drawn for u in people)
    problems = []
    for number, people in drawn:
        names = [users[u].username for u in people if u in users]
        problems.append({"number": number, "inspectors": names, "inspector": "、".join(names) or None})
    return jsonify(
        id=batch.id,
        number=batch.number,
        title=batch.title,
        method=batch.method,
        seed=batch.seed,
        population=batch.population,
        sample=batch.item_count,
        double_random=batch.is_double_random,
        problems=problems,
    ), 201


@bp.route("/inspections/<int:batch_id>")
def get_inspection(batch_id):
    batch = services.get_batch(batch_id, g.api_user)
    return jsonify(batch_view(batch, services.batch_rows(batch)))


@bp.route("/inspections/<int:batch_id>/visits", methods=["POST"])
def record_visit(batch_id):
    """One visit's record (JSON, or multipart with the same fields and `photos` files) → 201."""
    user = g.api_user
    batch = services.get_batch(batch_id, user)
    if request.mimetype == "multipart/form-data":
        data = {k: v for k, v in request.form.items() if k in VISIT_TYPES}
        if data.get("inspectors"):
            data["inspectors"] = [v.strip() for v in data["inspectors"].replace("，", ",").split(",") if v.strip()]
        if data.get("version"):
            data["version"] = data["version"].strip()
        files = [f for f in request.files.getlist("photos") if f and f.filename]
        data["photos"] = [(f.stream, f.filename) for f in files]
    else:
        data = json_body()
        inputs.check_json_types(
            {k: v for k, v in data.items() if k in VISIT_TYPES}, VISIT_TYPES, message="复查记录有误。"
        )
        data = {k: v for k, v in data.items() if k in VISIT_TYPES}
    if not data.get("problem"):
        raise ValidationFailed("请给出问题编号（problem）。", {"problem": "必填。"})
    item = services.record_visit(batch, data, actor=user)
    db.session.commit()
    users = _names(item.inspector_ids or [])
    view = _item_view(item, users)
    view["batch"] = {"id": batch.id, "number": batch.number, "status": batch.status, "done_count": batch.done_count}
    view["problem_status"] = item.problem.status
    return jsonify(view), 201

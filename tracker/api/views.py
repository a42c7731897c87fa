"""/api/v1: bearer-token authentication, JSON errors, intake endpoints, the OpenAPI description."""

from flask import Blueprint, g, jsonify, request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from tracker.access import policy
from tracker.api.openapi import SPEC
from tracker.auth.services import user_for_authorization
from tracker.core import clock, inputs
from tracker.core.errors import DomainError, ValidationFailed
from tracker.core.security import PUBLIC_ENDPOINTS
from tracker.extensions import csrf, db
from tracker.intake import queries as intake_queries
from tracker.intake import services as intake

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # no cookies here: every call carries its bearer token


def error(status, code, message, fields=None):
    return jsonify(error={"code": code, "message": message, "fields": fields or {}}), status


@bp.before_request
def authenticate():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    user = user_for_authorization(request.headers.get("Authorization"))
    if user is None:
        return error(401, "unauthorized", "需要有效的 API 令牌（Authorization: Bearer …）。")
    g.api_user = user
    return None


@bp.errorhandler(DomainError)
def domain_error(failure):
    db.session.rollback()
    return error(failure.status, failure.code, failure.message, failure.fields)


def json_body() -> dict:
    """The request's JSON object; raises ValidationFailed (400-style) for anything else."""
    try:
        data = request.get_json(force=False, silent=False)
    except (BadRequest, UnsupportedMediaType):  # a 415 is not one of our documented answers
        data = None
    if not isinstance(data, dict):
        failure = ValidationFailed("请求体必须是 JSON 对象（Content-Type: application/json），且嵌套不超过 32 层。")
        failure.status, failure.code = 400, "bad_json"
        raise failure
    return data


# The JSON type of each field the endpoints read; a wrong type is a 422 naming the field.
INTAKE_TYPES = {
    "channel": inputs.TEXT,
    "kind": inputs.TEXT,
    "external_id": inputs.TEXT_OR_NUMBER,
    "received_at": inputs.TEXT,
    "title": inputs.TEXT,
    "body": inputs.TEXT,
    "rating": inputs.TEXT_OR_NUMBER,
    "service_item": inputs.TEXT,
    "unit_code": inputs.TEXT,
    "category": inputs.TEXT,
    "reply": inputs.TEXT,
    "complainant": inputs.OBJECT,
    "anonymous": inputs.BOOLEAN,
}
COMPLAINANT_TYPES = {"name": inputs.TEXT, "phone": inputs.TEXT_OR_NUMBER}
PROBLEM_TYPES = {"intake_ids": inputs.IDS, "title": inputs.TEXT, "description": inputs.TEXT, "category": inputs.TEXT}
TRANSITION_TYPES = {
    "action": inputs.TEXT,
    "version": inputs.INTEGER,
    "tier": inputs.TEXT,
    "unit_code": inputs.TEXT,
    "unit_id": inputs.ID,
    "owner": inputs.TEXT,
    "owner_id": inputs.ID,
    "leader": inputs.TEXT,
    "leader_id": inputs.ID,
    "measures": inputs.TEXT,
    "deadline": inputs.TEXT,
    "deadline_note": inputs.TEXT,
    "tier_override_reason": inputs.TEXT,
    "urgency": inputs.TEXT_OR_NUMBER,
    "difficulty": inputs.TEXT_OR_NUMBER,
    "quick_fix": inputs.BOOLEAN,
    "milestones": inputs.LIST,
    "reason": inputs.TEXT,
    "report": inputs.TEXT,
    "note": inputs.TEXT,
    "opinion": inputs.TEXT,
    "new_deadline": inputs.TEXT,
    "withdraw_reason": inputs.TEXT,
    "kind": inputs.TEXT,
}


@bp.route("/openapi.json")
def openapi():
    return jsonify(SPEC)


@bp.route("/intake", methods=["POST"])
def create_intake():
    user = g.api_user
    policy.require(user, "intake.create")
    data = json_body()
    inputs.check_json_types(data, INTAKE_TYPES, message="反映件信息有误。")
    complainant = data.get("complainant") or {}
    inputs.check_json_types(complainant, COMPLAINANT_TYPES, prefix="complainant.", message="反映件信息有误。")
    raw = {name: data.get(name) for name in intake.FIELDS if name not in intake.COMPLAINANT_FIELDS}
    raw["complainant_name"] = complainant.get("name")
    raw["complainant_phone"] = complainant.get("phone")
    raw["anonymous"] = bool(data.get("anonymous"))
    source = {k: v for k, v in data.items() if k != "complainant"}
    record, created = intake.register(raw, actor=user, source_row=source)
    db.session.commit()
    body = intake.api_view(record, user)
    if created:
        body["query_pin"] = intake.crypto.decrypt(record.query_pin_enc)
    return jsonify(body), 201 if created else 200


@bp.route("/intake/<int:record_id>")
def get_intake(record_id):
    user = g.api_user
    record = intake_queries.get_record_or_404(record_id, user)
    return jsonify(intake.api_view(record, user))


@bp.route("/intake/<int:record_id>/reveal", methods=["POST"])
def reveal_intake(record_id):
    """The complainant's whole identity, for inspectors and admins; every call is audited."""
    user = g.api_user
    record = intake_queries.get_record_or_404(record_id, user)
    identity = intake.reveal_complainant(record, actor=user)
    db.session.commit()
    return jsonify(id=record.id, complainant=identity)


@bp.route("/intake/bulk", methods=["POST"])
def bulk_intake():
    """One action over many records: {action, ids? | filter?, ...details} → {done, problem?, skipped}."""
    from tracker.intake import bulk

    user = g.api_user
    policy.require(user, "intake.handle")
    data = json_body()
    action = data.get("action")
    if not isinstance(action, str) or not action:
        raise ValidationFailed("请给出批量操作（action）。", {"action": "必填。"})
    ids, selection = data.get("ids"), data.get("filter")
    if (ids is None) == (selection is None):
        raise ValidationFailed(
            "请给出 ids 或 filter（只能给出其中一个）。", {"ids": "ids 与 filter 须给出且只给出一个。"}
        )
    flt = bulk.filter_from_json(selection) if selection is not None else None
    details = {name: data[name] for name in ("title", "explanation", "problem", "unit_code") if name in data}
    result = bulk.bulk_apply(action, actor=user, ids=ids, flt=flt, **details)
    db.session.commit()
    return jsonify(result)


# ---- problems ------------------------------------------------------------------------------------


# The relations problem_view names, and the columns of each that it reads.
PROBLEM_VIEW_RELATIONS = {
    "unit": ("code",),
    "owner": ("username",),
    "leader": ("username",),
    "closed_by": ("username",),
    "campaign": ("name",),
}


def problem_view(problem, user, with_records=False, today=None) -> dict:
    """The problem as JSON; TODAY (default: today) for a list that works it out once."""
    from tracker.triage import services as triage

    view = {
        "number": problem.number,
        "version": problem.version,
        "title": problem.title,
        "description": problem.description,
        "category": problem.category,
        "status": problem.status,
        "tier": problem.tier,
        "quick_fix": problem.is_quick_fix,
        "channel": problem.channel,
        "unit_code": problem.unit.code if problem.unit else None,
        "owner": problem.owner.username if problem.owner else None,
        "leader": problem.leader.username if problem.leader else None,
        "measures": problem.measures,
        "assigned_at": problem.assigned_at.isoformat() if problem.assigned_at else None,
        "deadline": problem.deadline.isoformat() if problem.deadline else None,
        "original_deadline": problem.original_deadline.isoformat() if problem.original_deadline else None,
        "deadline_rule": problem.deadline_rule,
        "overdue": problem.is_overdue(today or clock.today()),
        "counters": {"rework": problem.rework_count, "reopen": problem.reopen_count, "relapse": problem.relapse_count},
        "campaign": problem.campaign.name if problem.campaign else None,
        "close_timeliness": problem.close_timeliness,
        "review_opinion": problem.review_opinion,
        "closed_at": problem.closed_at.isoformat() if problem.closed_at else None,
        "closed_by": problem.closed_by.username if problem.closed_by else None,
    }
    if problem.status == "new":
        suggestion = triage.suggest(problem)
        view["suggested_tier"] = {"tier": suggestion.tier, "reasons": suggestion.reasons}
    elif problem.suggested_tier:
        view["suggested_tier"] = {"tier": problem.suggested_tier, "reasons": problem.tier_reasons or []}
    if with_records:
        view["intake_records"] = [intake.api_view(r, user) for r in problem.intake_records]
        view["milestones"] = [
            {
                "id": m.id,
                "title": m.title,
                "due_date": m.due_date.isoformat(),
                "done": m.done_at is not None,
                "explanation": m.explanation,
            }
            for m in problem.milestones
        ]
    return view


@bp.route("/problems", methods=["POST"])
def create_problem():
    from tracker.ledger import services as ledger_services

    user = g.api_user
    data = json_body()
    inputs.check_json_types(data, PROBLEM_TYPES)
    problem = ledger_services.create_problem(
        data.get("intake_ids"),
        title=data.get("title"),
        actor=user,
        description=data.get("description"),
        category=data.get("category"),
    )
    db.session.commit()
    return jsonify(problem_view(problem, user, with_records=True)), 201


@bp.route("/problems")
def list_problems():
    from tracker.ledger import queries as ledger_queries
    from tracker.triage import services as triage

    user = g.api_user
    policy.require(user, "problem.view")
    args = request.args.to_dict()
    if args.get("overdue") in ("1", "true", "yes"):
        args["due"] = "overdue"
    flt = ledger_queries.LedgerFilter.from_args(args)
    if flt.ignored:
        raise ValidationFailed("查询参数有误。", {name: "无效的取值。" for name in flt.ignored})
    try:
        limit = min(200, max(1, int(request.args.get("limit", 50))))
    except ValueError:
        raise ValidationFailed("查询参数有误。", {"limit": "应为 1–200 的整数。"}) from None
    page = ledger_queries.ledger_page(user, flt, size=limit, columns=None, relations=PROBLEM_VIEW_RELATIONS)
    _load_records_of_new(page.items)
    triage.prime_repeat_counts(page.items)
    today = clock.today()
    return jsonify(items=[problem_view(p, user, today=today) for p in page.items], next_cursor=page.next_cursor)


def _load_records_of_new(problems) -> None:
    """The records of the new problems on a page in one query (their tier suggestion reads them:
    their ratings, the only column loaded besides the keys)."""
    from sqlalchemy import select
    from sqlalchemy.orm import load_only
    from sqlalchemy.orm.attributes import set_committed_value

    from tracker.intake.models import IntakeRecord

    new = {p.id: p for p in problems if p.status == "new"}
    if not new:
        return
    found = {i: [] for i in new}
    stmt = (
        select(IntakeRecord)
        .options(load_only(IntakeRecord.problem_id, IntakeRecord.rating))
        .where(IntakeRecord.problem_id.in_(new))
        .order_by(IntakeRecord.received_at)
    )
    for record in db.session.scalars(stmt):
        found[record.problem_id].append(record)
    for problem_id, records in found.items():
        set_committed_value(new[problem_id], "intake_records", records)


@bp.route("/problems/<number>")
def get_problem(number):
    from tracker.ledger import queries as ledger_queries

    user = g.api_user
    problem = ledger_queries.get_problem_or_404(number, user)
    return jsonify(problem_view(problem, user, with_records=True))


@bp.route("/problems/<number>/transitions", methods=["POST"])
def transition(number):
    from tracker.ledger import queries as ledger_queries
    from tracker.workflow import services as workflow

    user = g.api_user
    problem = ledger_queries.get_problem_or_404(number, user)
    data = json_body()
    # Only the fields named here are checked: an action's other details are its service's business.
    inputs.check_json_types({k: v for k, v in data.items() if k in TRANSITION_TYPES}, TRANSITION_TYPES)
    action = data.pop("action", None)
    version = data.pop("version", None)
    if not isinstance(action, str) or not action:
        raise ValidationFailed("请给出操作（action）。", {"action": "必填。"})
    if not isinstance(version, int):
        raise ValidationFailed("请给出所见的版本号（version，整数）。", {"version": "必填，整数。"})
    details = {k: v for k, v in data.items() if k not in ("actor", "expected_version", "problem", "visit")}
    step = workflow.TRANSITIONS.get((problem.status, action))
    if step is not None and step.by_visit and policy.can(user, step.permission, problem):
        from tracker.oversight import services as oversight

        item = oversight.open_item_for(problem)
        where = f"/api/v1/inspections/{item.batch_id}/visits" if item else "/api/v1/inspections/<id>/visits"
        raise ValidationFailed(
            f"核查结果不再直接设置：请登记暗访复查结果（POST {where}，result 为 pass 或 fail）。",
            {"action": f"请在 {where} 登记复查情况。"},
        )
    workflow.apply(problem, action, actor=user, expected_version=version, **details)
    db.session.commit()
    return jsonify(problem_view(problem, user, with_records=True))


@bp.route("/problems/<number>/evidence", methods=["POST"])
def upload_evidence(number):
    from tracker.ledger import queries as ledger_queries
    from tracker.ledger import services as ledger_services

    user = g.api_user
    problem = ledger_queries.get_problem_or_404(number, user)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed("请以 multipart/form-data 上传一个名为 file 的文件。", {"file": "缺少文件。"})
    item = ledger_services.store_evidence(problem, upload.stream, upload.filename, actor=user)
    db.session.commit()
    return jsonify(
        id=item.id, filename=item.filename, content_type=item.content_type, size=item.size, sha256=item.sha256
    ), 201


# ---- alerts and reports --------------------------------------------------------------------------


@bp.route("/alerts")
def list_alerts():
    from sqlalchemy import select
    from sqlalchemy.orm import contains_eager

    from tracker.alerts import scan as alert_scan
    from tracker.alerts.models import Alert
    from tracker.ledger import queries as ledger_queries
    from tracker.ledger.models import Problem

    user = g.api_user
    policy.require(user, "problem.view")
    stmt = select(Alert).join(Problem, Problem.id == Alert.problem_id)
    number = request.args.get("problem")
    if number:
        problem = ledger_queries.get_problem_or_404(number, user)
        stmt = stmt.where(Alert.problem_id == problem.id)
    scope = policy.visible_unit_ids(user)
    if scope is not None:
        stmt = stmt.where(Problem.unit_id.in_(sorted(scope) or [-1]))
    only_open = request.args.get("open", "1") in ("1", "true")
    if only_open:
        stmt = stmt.where(Alert.resolved_at.is_(None))
    stmt = stmt.options(contains_eager(Alert.problem))  # the number of each, from the join above
    alerts = db.session.scalars(stmt.order_by(Alert.id).limit(1000)).all()
    if only_open:
        alerts = alert_scan.current(alerts)  # nothing stale, even before the next scan
    return jsonify(
        items=[
            {
                "id": a.id,
                "problem": a.problem.number,
                "kind": a.kind,
                "label": alert_scan.alert_label(a.kind, a.step),
                "step": a.step,
                "days": a.days,
                "created_at": a.created_at.isoformat(),
                "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
            }
            for a in alerts
        ]
    )


# The other endpoints live beside this module and register on the same blueprint.
from tracker.api import extensions, followups, inspections, reports  # noqa: E402, F401

"""Follow-up calls (/api/v1/followups): the records to call back, oldest first, and the calls."""

from datetime import date

from flask import g, jsonify, request

from tracker.access import policy
from tracker.api.views import bp, json_body
from tracker.core import inputs
from tracker.core.errors import NotFound, ValidationFailed
from tracker.extensions import db
from tracker.intake.models import IntakeRecord
from tracker.oversight import followups

CALL_TYPES = {"intake_id": inputs.ID, "outcome": inputs.TEXT, "note": inputs.TEXT}


def _cursor(value) -> tuple[date, int] | None:
    """ "YYYY-MM-DD_<id>" (the last item's due day and id) → (day, id); raises ValidationFailed."""
    if value in (None, ""):
        return None
    day, _sep, last_id = value.partition("_")
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        parsed = None
    record_id = inputs.parse_id(last_id)
    if parsed is None or record_id is None:
        raise ValidationFailed("查询参数有误。", {"cursor": "无效的游标，请使用上一页返回的 next_cursor。"})
    return parsed, record_id


def _size(value) -> int:
    if value in (None, ""):
        return 50
    if not value.isdigit() or not 1 <= int(value) <= followups.MAX_PAGE_SIZE:
        raise ValidationFailed("查询参数有误。", {"size": f"应为 1–{followups.MAX_PAGE_SIZE} 的整数。"})
    return int(value)


def _item(record) -> dict:
    problem = record.problem
    unit = problem.unit if problem is not None and problem.unit is not None else record.unit
    ended = followups.closed_on(record)
    return {
        "intake_id": record.id,
        "tracking_code": record.tracking_code,
        "title": record.title,
        "unit_code": unit.code if unit else None,
        "unit": unit.name if unit else None,
        "problem": problem.number if problem is not None else None,
        "closed_on": ended.isoformat() if ended else None,
        "due_on": record.followup_due_on.isoformat() if record.followup_due_on else None,
        "tries": record.followup_tries,
        # Masks only: the whole number through the audited POST /api/v1/intake/<id>/reveal.
        "complainant": {"name": record.complainant_name_mask, "phone": record.complainant_phone_mask},
    }


@bp.route("/followups")
def list_followups():
    """Records due for a call, oldest first: page/size, or cursor (next_cursor) and size."""
    user = g.api_user
    policy.require(user, "followup.call")
    after = _cursor(request.args.get("cursor"))
    size = _size(request.args.get("size") or request.args.get("limit"))
    page = request.args.get("page")
    if page not in (None, "") and (not page.isdigit() or not 1 <= int(page) <= 10**6):
        raise ValidationFailed("查询参数有误。", {"page": "应为正整数。"})
    items, counts = followups.workbench(user, int(page or 1), size, after=after)
    last = items[-1] if len(items) == size else None
    next_cursor = f"{last.followup_due_on.isoformat()}_{last.id}" if last is not None else None
    return jsonify(items=[_item(r) for r in items], counts=counts, size=size, next_cursor=next_cursor)


@bp.route("/followups", methods=["POST"])
def create_followup():
    """{intake_id, outcome, note?} → 201 {id, outcome, state, tries, problem?}."""
    user = g.api_user
    policy.require(user, "followup.call")
    data = json_body()
    inputs.check_json_types(data, CALL_TYPES, message="回访信息有误。")
    record_id = data.get("intake_id")
    if record_id is None:
        raise ValidationFailed("请给出反映件编号（intake_id）。", {"intake_id": "必填，整数。"})
    record = db.session.get(IntakeRecord, record_id)
    if record is None or not policy.can(user, "followup.call", record):
        raise NotFound("未找到该反映件。")
    followup = followups.record_call(record, data.get("outcome"), data.get("note"), actor=user)
    db.session.commit()
    body = {
        "id": followup.id,
        "intake_id": record.id,
        "outcome": followup.outcome,
        "attempt": followup.attempt,
        "state": record.followup_state,
        "tries": record.followup_tries,
        "due_on": record.followup_due_on.isoformat() if record.followup_due_on else None,
        "decision": followup.decision,
        "problem": None,
    }
    if followup.problem is not None:
        body["problem"] = {"number": followup.problem.number, "status": followup.problem.status}
    return jsonify(body), 201

"""Bulk handling of intake records: one action over many records, chosen by ids or by the inbox filter.

`plan` says, without changing anything, which records can take the action and why the others
cannot; `bulk_apply` does it. Each record is handled completely or not at all: records that cannot
take the action are skipped (with the reason) before anything is written, and a record handled by
someone else in between makes the whole call fail (Conflict) rather than leave anything half done.
The work is set-based (one query to load, multi-row INSERTs and UPDATEs, audit events written in
bulk), so that thousands of records take seconds. Services flush; the caller commits.
"""

from dataclasses import dataclass, field
from itertools import islice

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, insert, select, update

from tracker.access import policy
from tracker.audit import services as audit
from tracker.core import clock, inputs
from tracker.core.errors import Conflict, ValidationFailed
from tracker.core.sanitize import plain_text
from tracker.extensions import db
from tracker.intake.models import HANDLING_LABELS, Handling, IntakeRecord
from tracker.intake.queries import InboxFilter, visible_records
from tracker.intake.services import explained
from tracker.ledger import services as ledger_services
from tracker.ledger.models import Problem, Status
from tracker.org.models import Unit

ACTIONS = {
    "merge": _l("转台账（合并为一个问题，一事多诉）"),
    "to_problem": _l("转台账（每件一个问题）"),
    "quick_fix": _l("立行立改"),
    "explain": _l("解释说明"),
    "duplicate": _l("标记为重复"),
    "set_unit": _l("设置责任单位"),
}
EFFECTS = {
    "merge": _l("这些反映件合并为台账上的一个问题（一事多诉），状态为待交办。"),
    "to_problem": _l("每件反映件各生成台账上的一个问题，状态为待交办。"),
    "quick_fix": _l("每件反映件各生成一个立行立改问题，按立行立改时限办理。"),
    "explain": _l("不生成问题；为每件反映件记录同一段向反映人所作的解释说明。"),
    "duplicate": _l("标记为重复件，并入所填台账编号的问题。"),
    "set_unit": _l("将涉及单位改为所选单位；反映件仍为待处理。"),
}
CREATES_PROBLEMS = {"merge", "to_problem", "quick_fix"}
MAX_ID = inputs.MAX_ID  # what an id column holds on every backend
CHUNK = 1000
FILTER_KEYS = {"handling", "channel", "kind", "unit", "unit_code", "date_from", "date_to", "q", "sort"}

NOT_FOUND = _l("不存在或无权处理")
SAME_UNIT = _l("已属该单位")


@dataclass
class Plan:
    """What an action would do: the records that can take it, and the others with the reason."""

    action: str
    selected: int = 0
    eligible: list[int] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    last_id: int = 0
    earliest_id: int | None = None
    before_units: dict[int, int | None] = field(default_factory=dict)

    @property
    def label(self):
        return ACTIONS[self.action]

    @property
    def effect(self):
        return EFFECTS[self.action]

    def reasons(self) -> list[tuple[str, int]]:
        """(reason, count), most frequent first."""
        counts = {}
        for item in self.skipped:
            counts[item["reason"]] = counts.get(item["reason"], 0) + 1
        return sorted(counts.items(), key=lambda pair: -pair[1])


def _chunks(items, size=CHUNK):
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def check_action(action) -> str:
    if action not in ACTIONS:
        raise ValidationFailed(
            _("未知的批量操作。"), {"action": _("应为：%(a)s。", a="、".join(str(v) for v in ACTIONS.values()))}
        )
    return action


def check_ids(ids) -> list[int]:
    """A list of record ids, in order, once each; raises ValidationFailed naming `ids`."""
    if not isinstance(ids, list) or not ids:
        raise ValidationFailed(_("请选择反映件。"), {"ids": _("应为反映件编号（整数）的非空列表。")})
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i <= MAX_ID for i in ids):
        raise ValidationFailed(_("反映件编号有误。"), {"ids": _("应为正整数。")})
    return list(dict.fromkeys(ids))


def filter_from_json(data) -> InboxFilter:
    """The inbox filter from the API's `filter` object; raises ValidationFailed naming `filter.<key>`."""
    if not isinstance(data, dict):
        raise ValidationFailed(_("筛选条件有误。"), {"filter": _("应为对象。")})
    errors, args = {}, {}
    for key, value in data.items():
        if key not in FILTER_KEYS:
            errors[f"filter.{key}"] = _("不支持的筛选条件。")
        elif value is None:
            continue
        elif isinstance(value, bool) or not isinstance(value, str | int):
            errors[f"filter.{key}"] = _("应为文字或整数。")
        else:
            args[key] = str(value)
    if "unit_code" in args:
        unit_id = db.session.scalar(select(Unit.id).where(Unit.code == args.pop("unit_code")))
        if unit_id is None:
            errors["filter.unit_code"] = _("单位不存在。")
        else:
            args["unit"] = str(unit_id)
    if "unit" in args and not (args["unit"].isdigit() and 0 < int(args["unit"]) <= MAX_ID):
        errors["filter.unit"] = _("应为单位编号（整数）。")
    args.setdefault("handling", "new")
    flt = InboxFilter.from_args(args)
    for name in flt.ignored:
        errors.setdefault(f"filter.{name}", _("无效的取值。"))
    if errors:
        raise ValidationFailed(_("筛选条件有误。"), errors)
    return flt


def _require(actor, action):
    policy.require(actor, "intake.handle")
    if action in CREATES_PROBLEMS:
        policy.require(actor, "problem.create")


def _reason(row, action, unit_id) -> str | None:
    if row.handling == Handling.APPEAL_PENDING:
        return _("申诉待复核，须先复核申诉")
    if row.handling != Handling.NEW:
        return _("已处理（%(h)s）", h=_(HANDLING_LABELS.get(row.handling, row.handling)))
    if action == "set_unit" and unit_id is not None and row.unit_id == unit_id:
        return str(SAME_UNIT)
    return None


def plan(action, *, actor, ids=None, flt: InboxFilter | None = None, upto_id=None, unit_id=None, lock=False) -> Plan:
    """Which of the selected records can take ACTION. The selection is IDS, or every record that
    ACTOR may see matching FLT (up to id UPTO_ID: what the user saw when confirming). Changes
    nothing. Raises ValidationFailed, Forbidden."""
    check_action(action)
    _require(actor, action)
    columns = (IntakeRecord.id, IntakeRecord.handling, IntakeRecord.unit_id, IntakeRecord.received_at)
    result = Plan(action)
    rows = []
    if ids is not None:
        ids = check_ids(ids)
        scope = policy.visible_unit_ids(actor)
        found = {}
        for chunk in _chunks(ids):
            stmt = select(*columns).where(IntakeRecord.id.in_(chunk))
            if lock:
                stmt = stmt.with_for_update()
            for row in db.session.execute(stmt):
                if scope is None or row.unit_id in scope:
                    found[row.id] = row
        for record_id in ids:
            if record_id in found:
                rows.append(found[record_id])
            else:
                result.skipped.append({"id": record_id, "reason": str(NOT_FOUND)})
        result.selected = len(ids)
    else:
        if flt is None:
            raise ValidationFailed(_("请选择反映件。"), {"ids": _("请给出 ids 或 filter。")})
        stmt = visible_records(actor, flt).with_only_columns(*columns)
        if upto_id:
            stmt = stmt.where(IntakeRecord.id <= upto_id)
        if lock:
            stmt = stmt.with_for_update()
        rows = db.session.execute(stmt).all()
        result.selected = len(rows)
    earliest = None
    for row in rows:
        result.last_id = max(result.last_id, row.id)
        reason = _reason(row, action, unit_id)
        if reason:
            result.skipped.append({"id": row.id, "reason": reason})
            continue
        result.eligible.append(row.id)
        result.before_units[row.id] = row.unit_id
        if earliest is None or (row.received_at, row.id) < (earliest.received_at, earliest.id):
            earliest = row
    result.earliest_id = earliest.id if earliest else None
    return result


# ---- details -------------------------------------------------------------------------------------


def _text_detail(details, name, limit) -> str:
    value = details.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed(_("填写的内容有误。"), {name: _("应为文字。")})
    return plain_text(value, limit)


def check_details(action, details) -> dict:
    """The clean details ACTION needs; raises ValidationFailed naming the field."""
    if action == "explain":
        text = _text_detail(details, "explanation", 5000)
        if len(text) < 5:
            raise ValidationFailed(
                _("请填写向反映人所作的解释说明（至少 5 个字）。"), {"explanation": _("请填写解释说明。")}
            )
        return {"explanation": text}
    if action == "duplicate":
        number = _text_detail(details, "problem", 30)
        if not number:
            raise ValidationFailed(_("请填写被重复的问题的台账编号。"), {"problem": _("请填写台账编号。")})
        problem = ledger_services.get_by_number(number)
        if problem is None:
            raise ValidationFailed(_("台账编号“%(n)s”不存在。", n=number), {"problem": _("编号不存在。")})
        if not problem.is_open:
            raise ValidationFailed(
                _("问题 %(n)s 已办结，不能再并入。", n=problem.number), {"problem": _("问题已办结。")}
            )
        return {"problem": problem}
    if action == "set_unit":
        code = _text_detail(details, "unit_code", 50)
        if not code:
            raise ValidationFailed(_("请选择责任单位。"), {"unit_code": _("请选择单位。")})
        unit = db.session.scalar(select(Unit).where(Unit.code == code))
        if unit is None or not unit.is_active:
            raise ValidationFailed(_("单位“%(u)s”不存在或已停用。", u=code), {"unit_code": _("单位不存在或已停用。")})
        return {"unit": unit}
    if action == "merge":
        return {"title": _text_detail(details, "title", 200)}
    return {}


# ---- applying ------------------------------------------------------------------------------------


def bulk_apply(action, *, actor, ids=None, flt: InboxFilter | None = None, upto_id=None, **details) -> dict:
    """Apply ACTION to the selected records (see `plan`): {done, problem?, problems?, skipped}.
    Details: `explanation` (explain), `problem` number (duplicate), `unit_code` (set_unit), `title`
    (merge, optional). Raises ValidationFailed (bad action, selection or details), Forbidden,
    Conflict (a record was handled by someone else meanwhile; nothing is changed)."""
    check_action(action)
    _require(actor, action)
    clean = check_details(action, details)
    target_unit = clean.get("unit")
    chosen = plan(
        action,
        actor=actor,
        ids=ids,
        flt=flt,
        upto_id=upto_id,
        unit_id=target_unit.id if target_unit else None,
        lock=True,
    )
    result = {"done": 0, "problem": None, "skipped": chosen.skipped}
    if not chosen.eligible:
        return result
    db.session.flush()
    now = clock.now()
    handled = {"handled_by_id": getattr(actor, "id", None), "handled_at": now}
    eligible = chosen.eligible
    if action == "merge":
        problem = _merge(chosen, clean["title"], actor, handled)
        result["problem"] = problem.number
    elif action in ("to_problem", "quick_fix"):
        result["problems"] = _one_problem_each(eligible, actor, handled, quick_fix=action == "quick_fix")
    elif action == "explain":
        _claim(eligible, {"handling": Handling.EXPLAINED, "explanation": clean["explanation"], **handled})
        events = [_handled_event("intake.explain", i, Handling.EXPLAINED) for i in eligible]
        audit.record_many(actor, events)
        explained.send(None, ids=eligible)  # due for a follow-up call: one UPDATE per chunk, there
    elif action == "duplicate":
        result["problem"] = _duplicate(eligible, clean["problem"], actor, handled)
    elif action == "set_unit":
        _claim(eligible, {"unit_id": target_unit.id})
        events = [
            {
                "action": "intake.set_unit",
                "object_type": "intake_record",
                "object_id": i,
                "before": {"unit_id": chosen.before_units[i]},
                "after": {"unit_id": target_unit.id},
            }
            for i in eligible
        ]
        audit.record_many(actor, events)
    result["done"] = len(eligible)
    _forget_loaded(clean.get("problem"))
    return result


def _claim(ids, values) -> None:
    """Write VALUES to the records IDS, still unhandled, bumping their versions; raises Conflict
    when any of them was handled meanwhile (the transaction is then to be rolled back)."""
    table = IntakeRecord.__table__
    changed = 0
    for chunk in _chunks(ids):
        stmt = (
            update(table)
            .where(table.c.id.in_(chunk), table.c.handling == Handling.NEW)
            .values(version=table.c.version + 1, **values)
        )
        changed += db.session.execute(stmt).rowcount
    if changed != len(ids):
        raise Conflict(_("有反映件刚被其他人处理，请重新确认后再执行。"))


def _handled_event(action, record_id, handling, **after) -> dict:
    return {
        "action": action,
        "object_type": "intake_record",
        "object_id": record_id,
        "before": {"handling": Handling.NEW.value},
        "after": {"handling": str(handling), **after},
    }


def _problem_row(record, number, actor, *, quick_fix, title=None) -> dict:
    """Column values of a problem created from RECORD, as `ledger.services.create_from_records` sets them."""
    return {
        "number": number,
        "title": (title or record.title)[:200],
        "description": record.body,
        "category": record.category,
        "channel": record.channel,
        "source_kind": record.kind,
        "status": Status.NEW,
        "is_quick_fix": quick_fix,
        "unit_id": record.unit_id,
        "created_by_id": getattr(actor, "id", None),
        "version": 1,
    }


def _creation_event(number, title, unit_id, intake_ids, quick_fix) -> dict:
    return {
        "action": "problem.create",
        "object_type": "problem",
        "object_id": number,
        "after": {"title": title, "unit_id": unit_id, "intake_ids": intake_ids, "quick_fix": quick_fix},
    }


_SOURCE_COLUMNS = (
    IntakeRecord.id,
    IntakeRecord.title,
    IntakeRecord.body,
    IntakeRecord.category,
    IntakeRecord.channel,
    IntakeRecord.kind,
    IntakeRecord.unit_id,
)


def _merge(chosen: Plan, title, actor, handled) -> Problem:
    """One new problem behind every eligible record (一事多诉); unit, category and description
    come from the earliest record, the title too unless given."""
    first = db.session.execute(select(*_SOURCE_COLUMNS).where(IntakeRecord.id == chosen.earliest_id)).one()
    row = _problem_row(first, ledger_services.next_number(), actor, quick_fix=False, title=title)
    problem = Problem(**row)
    db.session.add(problem)
    db.session.flush()
    _claim(chosen.eligible, {"handling": Handling.RECTIFY, "problem_id": problem.id, **handled})
    events = [_creation_event(problem.number, problem.title, problem.unit_id, chosen.eligible, False)]
    events += [_handled_event("intake.rectify", i, Handling.RECTIFY, problem=problem.number) for i in chosen.eligible]
    audit.record_many(actor, events)
    return problem


def _one_problem_each(ids, actor, handled, *, quick_fix) -> list[str]:
    """A new problem for every record, numbered consecutively."""
    handling = Handling.QUICK_FIX if quick_fix else Handling.RECTIFY
    action = "intake.quick_fix" if quick_fix else "intake.rectify"
    _claim(ids, {"handling": handling, **handled})
    numbers = iter(ledger_services.next_numbers(len(ids)))
    problems, records = Problem.__table__, IntakeRecord.__table__
    created = []
    for chunk in _chunks(ids):
        sources = {r.id: r for r in db.session.execute(select(*_SOURCE_COLUMNS).where(IntakeRecord.id.in_(chunk)))}
        rows = [_problem_row(sources[i], next(numbers), actor, quick_fix=quick_fix) for i in chunk]
        if db.session.get_bind().dialect.name == "postgresql":
            _link_postgresql(chunk, rows)
        else:
            inserted = db.session.execute(
                insert(problems).returning(problems.c.id, problems.c.number, sort_by_parameter_order=True), rows
            ).all()
            # One UPDATE per chunk (a CASE on the id), not one per record: a round trip each is slow.
            links = {i: p.id for i, p in zip(chunk, inserted, strict=True)}
            db.session.execute(
                update(records).where(records.c.id.in_(chunk)).values(problem_id=case(links, value=records.c.id))
            )
        events = []
        for record_id, row in zip(chunk, rows, strict=True):
            events.append(_creation_event(row["number"], row["title"], row["unit_id"], [record_id], quick_fix))
            events.append(_handled_event(action, record_id, handling, problem=row["number"]))
        audit.record_many(actor, events)
        created += [row["number"] for row in rows]
    return created


_PROBLEM_DEFAULTS = {
    "needs_verification": False,
    "evidence_waived": False,
    "rework_count": 0,
    "reopen_count": 0,
    "relapse_count": 0,
}


def _link_postgresql(record_ids, rows) -> None:
    """PostgreSQL: COPY the problems in, read their ids back by number (consecutive), COPY the
    (record, problem) pairs into a temporary table and link in one UPDATE. A multi-row INSERT of
    thousands of parameters costs more in parsing than the database spends on the rows."""
    now = clock.now()
    full = [
        {**_PROBLEM_DEFAULTS, **row, "status": str(row["status"]), "created_at": now, "updated_at": now} for row in rows
    ]
    columns = list(full[0])
    cursor = db.session.connection().connection.driver_connection.cursor()
    try:
        with cursor.copy(f"COPY problems ({', '.join(columns)}) FROM STDIN") as copy:
            for row in full:
                copy.write_row([row[c] for c in columns])
        cursor.execute("SELECT id, number FROM problems WHERE number = ANY(%s)", ([row["number"] for row in rows],))
        ids = {number: pid for pid, number in cursor.fetchall()}
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS bulk_links (record_id bigint, problem_id bigint)")
        with cursor.copy("COPY bulk_links (record_id, problem_id) FROM STDIN") as copy:
            for record_id, row in zip(record_ids, rows, strict=True):
                copy.write_row([record_id, ids[row["number"]]])
        cursor.execute(
            "UPDATE intake_records SET problem_id = l.problem_id FROM bulk_links l WHERE intake_records.id = l.record_id"
        )
        cursor.execute("DELETE FROM bulk_links")
    finally:
        cursor.close()


def _duplicate(ids, problem: Problem, actor, handled) -> str:
    """Mark the records as repeats of PROBLEM's matter and join them to it (一事多诉)."""
    original = db.session.scalar(
        select(IntakeRecord.id)
        .where(IntakeRecord.problem_id == problem.id)
        .order_by(IntakeRecord.received_at, IntakeRecord.id)
        .limit(1)
    )
    values = {"handling": Handling.DUPLICATE, "problem_id": problem.id, "duplicate_of_id": original, **handled}
    _claim(ids, values)
    events = []
    for record_id in ids:
        events.append(
            {
                "action": "problem.attach_record",
                "object_type": "problem",
                "object_id": problem.number,
                "after": {"intake_id": record_id},
            }
        )
        events.append(
            _handled_event(
                "intake.duplicate", record_id, Handling.DUPLICATE, problem=problem.number, duplicate_of=original
            )
        )
    audit.record_many(actor, events)
    return problem.number


def _forget_loaded(problem=None) -> None:
    """The UPDATEs above bypass the session: make loaded records (and PROBLEM's list) read afresh."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, IntakeRecord):
            db.session.expire(obj)
    if problem is not None:
        db.session.expire(problem, ["intake_records"])

"""Follow-up calls (回访): who is due, the call, retries, and what an unsatisfied answer does.

A record becomes due for a call when its problem closes (the workflow's `transitioned` signal) or
when it is explained (intake's `explained` signal): anonymous records and records without a phone
are marked skipped there and then (counted, never listed), records excluded by an upheld appeal are
left alone. The caller reveals the phone (an audited reveal), records the outcome; an unanswered call
comes back on the next working day, three times at most; an unsatisfied answer reopens the problem
or goes to the inspector, as the admin setting says. Services flush; the caller commits.
"""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select, update
from sqlalchemy.orm import joinedload

from tracker.access import policy
from tracker.audit import services as audit
from tracker.core import calendar, clock
from tracker.core.errors import Conflict, ValidationFailed
from tracker.core.sanitize import plain_text
from tracker.extensions import db
from tracker.intake import services as intake_services
from tracker.intake.models import Handling, IntakeRecord
from tracker.ledger.models import Problem, Status
from tracker.oversight.models import (
    FOLLOWUP_STATE_LABELS,
    OUTCOME_LABELS,
    FollowUp,
    FollowupState,
    Outcome,
)
from tracker.settings.services import get_setting, put_setting
from tracker.workflow import services as workflow
from tracker.workflow.services import transitioned

# The admin setting "followup": what an unsatisfied answer does.
DEFAULTS = {"unsatisfied": "reopen"}
UNSATISFIED_RULES = {
    "reopen": _l("重新办理：已销号的问题退回责任单位重新整改"),
    "inspector": _l("提交纪检监察员研判：由纪检监察员决定重新办理或维持办结"),
}
MAX_TRIES = 3
PENDING, REOPENED, KEPT = "pending", "reopened", "kept"
DECISION_LABELS = {PENDING: _l("待研判"), REOPENED: _l("重新办理"), KEPT: _l("维持办结")}
REVEAL_NOTE = "complainant phone shown for a follow-up call"  # worded by audit.labels.NOTE_LABELS
MAX_PAGE_SIZE = 200
CHUNK = 1000
_FOLLOWUP_ATTRS = ["followup_state", "followup_due_on", "followup_tries", "version"]


# ---- becoming due --------------------------------------------------------------------------------


def _expire_loaded() -> None:
    """The UPDATEs here bypass the session: loaded records read their follow-up columns afresh."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, IntakeRecord):
            db.session.expire(obj, _FOLLOWUP_ATTRS)


def _mark_due(*conditions) -> int:
    """Records matching CONDITIONS that wait for no call yet become due today, or skipped
    (anonymous / no phone): one UPDATE. Records excluded by an upheld appeal are not called."""
    db.session.flush()
    table = IntakeRecord.__table__
    state = case(
        (table.c.is_anonymous.is_(True), FollowupState.ANONYMOUS.value),
        (table.c.complainant_phone_enc.is_(None), FollowupState.NO_PHONE.value),
        else_=FollowupState.DUE.value,
    )
    stmt = (
        update(table)
        .where(table.c.followup_state.is_(None), table.c.is_excluded.is_(False), *conditions)
        .values(followup_state=state, followup_due_on=clock.today(), followup_tries=0)
    )
    changed = db.session.execute(stmt).rowcount
    _expire_loaded()
    return changed


@transitioned.connect
def _follow_problem(problem, action=None, before=None, **_kw):
    """A problem that closes makes its records due (again, after a reopen: records whose call was
    unsatisfied wait with no state); one that reopens takes back the calls not made yet."""
    table = IntakeRecord.__table__
    if problem.status == Status.CLOSED and before != Status.CLOSED:
        _mark_due(table.c.problem_id == problem.id)
    elif before == Status.CLOSED and problem.status != Status.CLOSED:
        db.session.flush()
        db.session.execute(
            update(table)
            .where(table.c.problem_id == problem.id, table.c.followup_state == FollowupState.DUE.value)
            .values(followup_state=None, followup_due_on=None, followup_tries=0)
        )
        _expire_loaded()


@intake_services.explained.connect
def _follow_explained(_sender, ids=(), **_kw):
    """Explained records (解释说明, one or thousands at once) are due for a call."""
    table = IntakeRecord.__table__
    ids = list(ids)
    for start in range(0, len(ids), CHUNK):
        _mark_due(table.c.id.in_(ids[start : start + CHUNK]), table.c.handling == Handling.EXPLAINED.value)


# ---- the workbench -------------------------------------------------------------------------------


def _bounded(page, size) -> tuple[int, int]:
    try:
        page = max(1, int(page or 1))
    except (TypeError, ValueError):
        page = 1
    try:
        size = min(MAX_PAGE_SIZE, max(1, int(size or 50)))
    except (TypeError, ValueError):
        size = 50
    return min(page, 10**6), size


def _with_problem(stmt):
    return stmt.options(joinedload(IntakeRecord.problem).joinedload(Problem.unit), joinedload(IntakeRecord.unit))


def due_query(today=None, after=None):
    """Due records, oldest first (followup_due_on, id): walks ix_intake_records_followup in order.
    AFTER = (due_on, id) of the last record seen, for cursor pagination."""
    today = today or clock.today()
    stmt = select(IntakeRecord).where(
        IntakeRecord.followup_state == FollowupState.DUE.value, IntakeRecord.followup_due_on <= today
    )
    if after is not None:
        due_on, last_id = after
        stmt = stmt.where(
            (IntakeRecord.followup_due_on > due_on)
            | ((IntakeRecord.followup_due_on == due_on) & (IntakeRecord.id > last_id))
        )
    return stmt.order_by(IntakeRecord.followup_due_on, IntakeRecord.id)


def counts(today=None) -> dict:
    """{"due", "anonymous", "no_phone", "unreachable", "pending_decision"}: each an index-only count."""
    today = today or clock.today()
    column = IntakeRecord.followup_state
    skipped = (FollowupState.ANONYMOUS.value, FollowupState.NO_PHONE.value, FollowupState.UNREACHABLE.value)
    by_state = dict(db.session.execute(select(column, func.count()).where(column.in_(skipped)).group_by(column)).all())
    due = db.session.scalar(
        select(func.count())
        .select_from(IntakeRecord)
        .where(column == FollowupState.DUE.value, IntakeRecord.followup_due_on <= today)
    )
    pending = db.session.scalar(select(func.count()).select_from(FollowUp).where(FollowUp.decision == PENDING))
    return {
        "due": due or 0,
        "anonymous": by_state.get(FollowupState.ANONYMOUS.value, 0),
        "no_phone": by_state.get(FollowupState.NO_PHONE.value, 0),
        "unreachable": by_state.get(FollowupState.UNREACHABLE.value, 0),
        "pending_decision": pending or 0,
    }


def workbench(user, page=1, size=50, *, after=None) -> tuple[list[IntakeRecord], dict]:
    """(due records for PAGE, oldest first, with problem and unit loaded; the counts). AFTER
    ((due_on, id)) replaces the page number with a cursor. Raises Forbidden without followup.call."""
    policy.require(user, "followup.call")
    page, size = _bounded(page, size)
    today = clock.today()
    stmt = _with_problem(due_query(today, after)).limit(size)
    if after is None:
        stmt = stmt.offset((page - 1) * size)
    return list(db.session.scalars(stmt)), counts(today)


def unreachable_records(user, page=1, size=50) -> list[IntakeRecord]:
    """Records nobody answered three times, latest first."""
    policy.require(user, "followup.call")
    page, size = _bounded(page, size)
    stmt = (
        select(IntakeRecord)
        .where(IntakeRecord.followup_state == FollowupState.UNREACHABLE.value)
        .order_by(IntakeRecord.followup_due_on.desc(), IntakeRecord.id.desc())
    )
    return list(db.session.scalars(_with_problem(stmt).limit(size).offset((page - 1) * size)))


def pending_decisions(user, page=1, size=50) -> list[FollowUp]:
    """Unsatisfied calls waiting for the inspector's decision (不满意待研判), oldest first."""
    policy.require(user, "followup.call")
    page, size = _bounded(page, size)
    stmt = (
        select(FollowUp)
        .where(FollowUp.decision == PENDING)
        .order_by(FollowUp.called_at, FollowUp.id)
        .options(
            joinedload(FollowUp.record).joinedload(IntakeRecord.unit),
            joinedload(FollowUp.problem).joinedload(Problem.unit),
        )
    )
    return list(db.session.scalars(stmt.limit(size).offset((page - 1) * size)))


def history(record) -> list[FollowUp]:
    """Every call made to RECORD's complainant, in order (for the inspector's record page)."""
    return list(
        db.session.scalars(
            select(FollowUp)
            .where(FollowUp.intake_id == record.id)
            .order_by(FollowUp.id)
            .options(joinedload(FollowUp.caller))
        )
    )


def closed_on(record):
    """The day the record's matter ended: its problem's sign-off, or the explanation."""
    if record.problem is not None and record.problem.closed_at is not None:
        return clock.to_local(record.problem.closed_at).date()
    if record.handled_at is not None:
        return clock.to_local(record.handled_at).date()
    return record.followup_due_on


# ---- the call ------------------------------------------------------------------------------------


def reveal_phone(record, *, actor) -> str:
    """The whole phone number for the caller, audited as intake.reveal. Raises Forbidden without
    followup.call, NotFound for a record out of reach, ValidationFailed when there is no phone."""
    policy.require(actor, "followup.call", record)
    if not record.complainant_phone_enc:
        raise ValidationFailed(_("该反映件没有联系电话，无法回访。"), {"phone": _("没有联系电话。")})
    identity = intake_services.reveal_complainant(record, actor=actor, note=REVEAL_NOTE)
    return identity["phone"]


def unsatisfied_rule() -> str:
    rule = get_setting("followup", DEFAULTS).get("unsatisfied")
    return rule if rule in UNSATISFIED_RULES else DEFAULTS["unsatisfied"]


def save_settings(rule, *, actor) -> None:
    """Set what an unsatisfied answer does. Raises Forbidden, ValidationFailed."""
    policy.require(actor, "followup.settings")
    if rule not in UNSATISFIED_RULES:
        raise ValidationFailed(_("请选择不满意回访的处理方式。"), {"unsatisfied": _("请选择一项。")})
    put_setting("followup", {"unsatisfied": rule}, actor=actor)


def _not_due_message(record, today) -> str:
    state = record.followup_state
    if record.is_excluded:
        return _("该反映件申诉成立，不回访。")
    if state == FollowupState.DUE and record.followup_due_on and record.followup_due_on > today:
        return _("该反映件今天已拨打过，无人接听；请于 %(d)s 再次回访。", d=record.followup_due_on.isoformat())
    if state is None:
        return _("该反映件的问题尚未办结（或尚未解释说明），还不到回访的时候。")
    if state == FollowupState.DONE:
        return _("该反映件已回访，不能重复登记。")
    if state == FollowupState.UNREACHABLE:
        return _("该反映件已 %(n)d 次无法联系，不再回访。", n=MAX_TRIES)
    if state == FollowupState.ANONYMOUS:
        return _("匿名反映件不回访。")
    if state == FollowupState.NO_PHONE:
        return _("该反映件没有联系电话，无法回访。")
    return _("该反映件不在待回访名单中。")


def check_outcome(outcome) -> str:
    values = [o.value for o in Outcome]
    if outcome not in values:
        names = "、".join(_(str(OUTCOME_LABELS[o])) for o in Outcome)
        raise ValidationFailed(_("回访结果应为：%(a)s。", a=names), {"outcome": _("请选择回访结果。")})
    return outcome


def record_call(record, outcome, note, *, actor) -> FollowUp:
    """Record one call to RECORD's complainant. Reached → done; unreachable → due again on the next
    working day, unreachable after the third try; unsatisfied → the problem reopens, or the call
    waits for the inspector's decision (the admin setting; always for a record with no problem).
    Raises Forbidden, NotFound, ValidationFailed (outcome, note), Conflict (not due, called
    meanwhile, problem changed). Nothing is written when it raises."""
    policy.require(actor, "followup.call", record)
    outcome = check_outcome(outcome)
    note = plain_text(note, 2000) if isinstance(note, str) else ""
    today = clock.today()
    if record.is_excluded or record.followup_state != FollowupState.DUE or record.followup_due_on > today:
        raise Conflict(_not_due_message(record, today))
    if outcome == Outcome.UNSATISFIED and not note:
        raise ValidationFailed(_("请填写反映人不满意的原因。"), {"note": _("请填写不满意的原因。")})
    problem = record.problem
    tries_before = record.followup_tries
    attempt = tries_before + 1
    decision, reopen = None, False
    state, due_on, tries = FollowupState.DONE.value, record.followup_due_on, attempt
    if outcome == Outcome.UNREACHABLE:
        if attempt >= MAX_TRIES:
            state = FollowupState.UNREACHABLE.value
        else:
            state, due_on = FollowupState.DUE.value, calendar.add_workdays(today, 1)
    elif outcome == Outcome.UNSATISFIED:
        if unsatisfied_rule() == "reopen" and problem is not None and problem.status == Status.CLOSED:
            # Waits with no state: due again when the problem closes again.
            reopen, state, due_on, tries = True, None, None, 0
        else:
            decision = PENDING
    # Claim the call: a second caller on the same record (or a double submit) matches no row.
    db.session.flush()
    table = IntakeRecord.__table__
    claimed = db.session.execute(
        update(table)
        .where(
            table.c.id == record.id,
            table.c.followup_state == FollowupState.DUE.value,
            table.c.followup_tries == tries_before,
            table.c.followup_due_on <= today,
        )
        .values(followup_state=state, followup_due_on=due_on, followup_tries=tries, version=table.c.version + 1)
    ).rowcount
    db.session.expire(record, _FOLLOWUP_ATTRS)
    if claimed != 1:
        raise Conflict(_("该反映件的回访刚被他人登记，请刷新后查看。"))
    if reopen:
        reason = _("回访不满意：%(n)s", n=note)
        workflow.apply(problem, "reopen", actor=actor, expected_version=problem.version, reason=reason)
    followup = FollowUp(
        intake_id=record.id,
        problem_id=record.problem_id,
        unit_id=problem.unit_id if problem is not None else record.unit_id,
        attempt=attempt,
        outcome=outcome,
        note=note or None,
        called_at=clock.now(),
        caller_id=getattr(actor, "id", None),
        decision=decision,
    )
    db.session.add(followup)
    db.session.flush()
    after = {"result": _(str(OUTCOME_LABELS[outcome])), "attempt": attempt}
    if state is not None:
        after["followup_state"] = _(str(FOLLOWUP_STATE_LABELS[state]))
    if reopen:
        after["problem"] = problem.number
    if decision:
        after["decision"] = _(str(DECISION_LABELS[decision]))
    audit.record(actor, "followup.call", "intake_record", record.id, after=after, note=note or None)
    return followup


def decide(followup, reopen: bool, note, *, actor) -> None:
    """The inspector's decision on an unsatisfied call: reopen the problem (an explained record goes
    back to the inbox to be handled again), or keep it closed (a note is required). Raises Forbidden,
    ValidationFailed, Conflict (decided already, the problem is not closed any more)."""
    policy.require(actor, "followup.decide")
    if followup.decision != PENDING:
        raise Conflict(_("该回访已研判，不能重复研判。"))
    note = plain_text(note, 2000) if isinstance(note, str) else ""
    if not reopen and not note:
        raise ValidationFailed(_("维持办结须填写研判意见。"), {"note": _("请填写研判意见。")})
    record = followup.record
    problem = followup.problem
    if reopen and problem is not None and problem.status != Status.CLOSED:
        raise Conflict(
            _(
                "问题 %(n)s 当前为“%(s)s”，已不是已销号状态，无需重新办理；请选择维持并写明意见。",
                n=problem.number,
                s=_(problem.status_label),
            )
        )
    db.session.flush()
    table = FollowUp.__table__
    claimed = db.session.execute(
        update(table)
        .where(table.c.id == followup.id, table.c.decision == PENDING)
        .values(
            decision=REOPENED if reopen else KEPT,
            decision_note=note or None,
            decided_by_id=getattr(actor, "id", None),
            decided_at=clock.now(),
        )
    ).rowcount
    db.session.expire(followup, ["decision", "decision_note", "decided_by_id", "decided_at"])
    if claimed != 1:
        raise Conflict(_("该回访刚被他人研判，请刷新后查看。"))
    after = {"decision": _(str(DECISION_LABELS[REOPENED if reopen else KEPT]))}
    if reopen:
        if problem is not None:
            reason = _("回访不满意：%(n)s", n=followup.note or "")
            if note:
                reason += _("；研判意见：%(n)s", n=note)
            workflow.apply(problem, "reopen", actor=actor, expected_version=problem.version, reason=reason)
            after["problem"] = problem.number
        elif record.handling == Handling.EXPLAINED:
            record.handling = Handling.NEW
            record.bump_version()
            after["handling"] = Handling.NEW.value
        # Due again when the matter ends again.
        record.followup_state, record.followup_due_on, record.followup_tries = None, None, 0
        db.session.flush()
    audit.record(actor, "followup.decide", "intake_record", record.id, after=after, note=note or None)

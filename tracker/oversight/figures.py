"""Oversight figures for reports: follow-up calls (回访率, 满意率) and re-inspection visits (pass rate,
relapses), per unit and period. Read-only; one grouped query per kind of figure, never one per unit."""

from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, case, func, or_, select, true, union

from tracker.core import clock
from tracker.extensions import db
from tracker.intake.models import Handling, IntakeRecord
from tracker.ledger.models import Problem
from tracker.oversight.models import FollowUp, FollowupState, InspectionItem, Outcome, Result

# A record is due for a call once its problem closes or it is explained, unless nobody can be
# called (anonymous, no phone) or an upheld appeal took it out of the unit's figures. (A record with
# no state waits for its reopened problem to close again.)
CALLABLE_STATES = (FollowupState.DUE, FollowupState.DONE, FollowupState.UNREACHABLE)


@dataclass
class Figures:
    """The counts of one unit (or of all units) over a period, and the rates derived from them.
    A rate is None when its denominator is 0 (pages show "—")."""

    due: int = 0  # records due for a call: problem closed or record explained in the period, or called in it
    followed_up: int = 0  # calls that reached the complainant, or that were the last unanswered try
    reached: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    unsatisfied: int = 0
    unreachable: int = 0  # records given up on after the last unanswered try
    visits: int = 0  # re-inspection visits with a result recorded
    passed: int = 0
    failed: int = 0
    relapses: int = 0  # failed visits on problems that were already closed (反弹)

    @property
    def followup_rate(self) -> float | None:
        """回访率: followed up / due."""
        return _ratio(self.followed_up, self.due)

    @property
    def satisfaction_rate(self) -> float | None:
        """满意率: (满意 + 基本满意) / reached."""
        return _ratio(self.satisfied + self.basically_satisfied, self.reached)

    @property
    def pass_rate(self) -> float | None:
        """Re-inspection pass rate: passed / visits."""
        return _ratio(self.passed, self.visits)

    def add(self, other: "Figures") -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "followup_rate": self.followup_rate,
            "satisfaction_rate": self.satisfaction_rate,
            "pass_rate": self.pass_rate,
        }


def _ratio(numerator, denominator):
    return numerator / denominator if denominator else None


# The kinds of figure by_unit can count: "due" (records due for a call: the denominator of 回访率, the
# dearest query by far: closed problems × their records), "calls" (reached, by outcome, and given up:
# followed_up, 满意率; two queries) and "visits" (re-inspections: pass rate, relapses).
KINDS = ("due", "calls", "visits")


def by_unit(
    date_from: date, date_to: date, units: set[int] | None = None, *, user=None, kinds: tuple[str, ...] = KINDS
) -> dict:
    """{unit_id: Figures} for the period DATE_FROM..DATE_TO (local dates, both included).

    UNITS limits the figures to those unit ids (None: all units); USER limits them to the units the
    user may see (tracker.access.policy.visible_unit_ids); both together take the intersection.
    KINDS: which figures to count (see KINDS; the others stay 0, and the rates built on them None),
    e.g. ("calls",) for followed_up and the satisfaction rate without the cost of `due`.
    Only units with something to count appear. Without a scope, figures that belong to no unit
    are under the key None. At most four queries, whatever the number of units."""
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kinds of figure: {sorted(unknown)}")
    scope = _scope(units, user)
    result: dict = {}
    if scope is not None and not scope:
        return result
    start, end = _bounds(date_from, date_to)
    if "due" in kinds:
        for unit_id, counts in _due(start, end, scope):
            result.setdefault(unit_id, Figures()).due += counts
    if "calls" in kinds:
        for unit_id, *counts in _calls(start, end, scope):
            figures = result.setdefault(unit_id, Figures())
            figures.reached, figures.satisfied, figures.basically_satisfied, figures.unsatisfied = map(int, counts)
        for unit_id, counts in _given_up(start, end, scope):
            result.setdefault(unit_id, Figures()).unreachable += counts
    if "visits" in kinds:
        for unit_id, *counts in _visits(start, end, scope):
            figures = result.setdefault(unit_id, Figures())
            figures.visits, figures.passed, figures.failed, figures.relapses = map(int, counts)
    for figures in result.values():
        figures.followed_up = figures.reached + figures.unreachable
    return result


def totals(
    date_from: date, date_to: date, units: set[int] | None = None, *, user=None, kinds: tuple[str, ...] = KINDS
) -> Figures:
    """The figures of every unit in scope added up (same arguments as by_unit)."""
    total = Figures()
    for figures in by_unit(date_from, date_to, units, user=user, kinds=kinds).values():
        total.add(figures)
    return total


def _scope(units, user):
    if user is None:
        return set(units) if units is not None else None
    from tracker.access.policy import visible_unit_ids

    visible = visible_unit_ids(user)
    if visible is None:
        return set(units) if units is not None else None
    return set(visible) if units is None else set(visible) & set(units)


def _bounds(date_from, date_to):
    """The period as UTC-comparable datetimes: from the start of DATE_FROM to the end of DATE_TO."""
    zone = clock.timezone()
    return datetime.combine(date_from, time(), zone), datetime.combine(date_to + timedelta(days=1), time(), zone)


def _in_scope(column, scope):
    return column.in_(scope) if scope is not None else true()


def _due(start, end, scope):
    """Records due for a call in the period, counted once each: the callable records of problems
    closed in it (under the problem's unit), the callable records explained in it, and the records
    called in it (they were due when called, even if their problem has reopened since)."""
    callable_record = and_(
        or_(IntakeRecord.followup_state.is_(None), IntakeRecord.followup_state.in_(CALLABLE_STATES)),
        IntakeRecord.is_excluded.is_(False),
    )
    closed = (
        select(Problem.unit_id.label("unit_id"), IntakeRecord.id.label("intake_id"))
        .join(IntakeRecord, IntakeRecord.problem_id == Problem.id)
        .where(Problem.closed_at >= start, Problem.closed_at < end, callable_record, _in_scope(Problem.unit_id, scope))
    )
    explained = select(IntakeRecord.unit_id, IntakeRecord.id).where(
        IntakeRecord.handling == Handling.EXPLAINED,
        IntakeRecord.problem_id.is_(None),
        IntakeRecord.handled_at >= start,
        IntakeRecord.handled_at < end,
        callable_record,
        _in_scope(IntakeRecord.unit_id, scope),
    )
    called = select(FollowUp.unit_id, FollowUp.intake_id).where(
        FollowUp.called_at >= start, FollowUp.called_at < end, _in_scope(FollowUp.unit_id, scope)
    )
    rows = union(closed, explained, called).subquery()
    return db.session.execute(select(rows.c.unit_id, func.count()).group_by(rows.c.unit_id)).all()


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


REACHED = (Outcome.SATISFIED, Outcome.BASICALLY_SATISFIED, Outcome.UNSATISFIED)


def _calls(start, end, scope):
    """Calls in the period that reached the complainant, by outcome."""
    return db.session.execute(
        select(
            FollowUp.unit_id,
            func.count(),
            _count_if(FollowUp.outcome == Outcome.SATISFIED),
            _count_if(FollowUp.outcome == Outcome.BASICALLY_SATISFIED),
            _count_if(FollowUp.outcome == Outcome.UNSATISFIED),
        )
        .where(
            FollowUp.called_at >= start,
            FollowUp.called_at < end,
            FollowUp.outcome.in_(REACHED),
            _in_scope(FollowUp.unit_id, scope),
        )
        .group_by(FollowUp.unit_id)
    ).all()


def _given_up(start, end, scope):
    """Unanswered calls in the period that were a record's last try (the record is now unreachable)."""
    return db.session.execute(
        select(FollowUp.unit_id, func.count())
        .join(IntakeRecord, IntakeRecord.id == FollowUp.intake_id)
        .where(
            FollowUp.called_at >= start,
            FollowUp.called_at < end,
            FollowUp.outcome == Outcome.UNREACHABLE,
            IntakeRecord.followup_state == FollowupState.UNREACHABLE,
            FollowUp.attempt == IntakeRecord.followup_tries,
            _in_scope(FollowUp.unit_id, scope),
        )
        .group_by(FollowUp.unit_id)
    ).all()


def _visits(start, end, scope):
    """Re-inspection visits whose result was recorded in the period, under the problem's unit then."""
    return db.session.execute(
        select(
            InspectionItem.unit_id,
            func.count(),
            _count_if(InspectionItem.result == Result.PASS),
            _count_if(InspectionItem.result == Result.FAIL),
            _count_if(and_(InspectionItem.result == Result.FAIL, InspectionItem.is_relapse.is_(True))),
        )
        .where(
            InspectionItem.recorded_at >= start,
            InspectionItem.recorded_at < end,
            or_(InspectionItem.result == Result.PASS, InspectionItem.result == Result.FAIL),
            _in_scope(InspectionItem.unit_id, scope),
        )
        .group_by(InspectionItem.unit_id)
    ).all()

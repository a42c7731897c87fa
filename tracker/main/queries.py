"""Figures and work lists for the home pages."""

from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import joinedload

from tracker.access import policy
from tracker.auth.models import User
from tracker.core import calendar, clock
from tracker.extensions import db
from tracker.ledger.models import OPEN_STATUSES, ExtensionRequest, Problem, Status
from tracker.org.models import Unit

LIMIT = 10


def admin_overview():
    this_year = clock.today().year
    return {
        "units": db.session.scalar(select(func.count()).select_from(Unit).where(Unit.is_active.is_(True))),
        "users": db.session.scalar(select(func.count()).select_from(User).where(User.is_active.is_(True))),
        "years": [calendar.year_status(y) for y in (this_year, this_year + 1)],
    }


def _scoped(user, stmt):
    scope = policy.visible_unit_ids(user)
    if scope is not None:
        stmt = stmt.where(Problem.unit_id.in_(sorted(scope) or [-1]))
    return stmt


def _queues(user, **arms) -> dict:
    """Each of ARMS (name=(conditions, order, limit)) as its first LIMIT problems in ORDER and its
    total, for USER's scope: {name: list, name_count: int}. One statement for every queue of a home
    page: each arm counts its rows with a window (computed before its LIMIT), the union of the arms
    is joined to the problems, with their units."""
    parts = []
    for name, (conditions, order, limit) in arms.items():
        ranked = select(
            Problem.id.label("id"),
            literal(name).label("queue"),
            func.count().over().label("total"),
            func.row_number().over(order_by=order).label("rank"),
        ).where(*conditions)
        parts.append(select(_scoped(user, ranked).order_by(*order).limit(limit).subquery()))
    found = {name: [] for name in arms} | {f"{name}_count": 0 for name in arms}
    arm = union_all(*parts).subquery()
    stmt = (
        select(Problem, arm.c.queue, arm.c.total)
        .join(arm, arm.c.id == Problem.id)
        .options(joinedload(Problem.unit))
        .order_by(arm.c.queue, arm.c.rank)
    )
    for problem, queue, total in db.session.execute(stmt):
        found[queue].append(problem)
        found[f"{queue}_count"] = total
    return found


def unit_work(user):
    """A unit user's queues: to accept, in progress (due soonest first), returned for rework."""
    rework = (Problem.status == Status.IN_PROGRESS, Problem.last_action.in_(("reject", "verify_fail", "reopen")))
    by_deadline = [Problem.deadline.asc(), Problem.id]
    return _queues(
        user,
        to_accept=([Problem.status == Status.ASSIGNED], by_deadline, LIMIT),
        in_progress=([Problem.status == Status.IN_PROGRESS], by_deadline, LIMIT),
        rework=(rework, by_deadline, LIMIT),
    )


def inspector_work(user):
    """An inspector's queues: submissions to review, verifications, returns to reassign, extensions."""
    from tracker.alerts.scan import not_accepted_condition
    from tracker.intake.models import Handling, IntakeRecord
    from tracker.ledger.queries import due_soon_condition

    today = clock.today()
    returned = (Problem.status == Status.NEW, Problem.last_action == "return")
    late = not_accepted_condition(today)
    intake_new = (
        select(func.count()).select_from(IntakeRecord).where(IntakeRecord.handling == Handling.NEW).scalar_subquery()
    )
    pending = db.session.execute(
        select(ExtensionRequest, intake_new)
        .where(ExtensionRequest.status == "pending")
        .options(joinedload(ExtensionRequest.problem))
        .order_by(ExtensionRequest.id)
        .limit(LIMIT)
    ).all()
    by_deadline, by_update = [Problem.deadline.asc(), Problem.id], [Problem.updated_at, Problem.id]
    work = _queues(
        user,
        submitted=([Problem.status == Status.SUBMITTED], by_update, LIMIT),
        verifying=([Problem.status == Status.VERIFYING], by_update, LIMIT),
        returned=(returned, by_update, LIMIT),
        unassigned=([Problem.status == Status.NEW], [Problem.id], 1),
        overdue=([Problem.status.in_(OPEN_STATUSES), Problem.deadline < today], [Problem.id], 1),
        due_soon=([due_soon_condition(today)], by_deadline, LIMIT),
        not_accepted=([late], [Problem.assigned_at, Problem.id], LIMIT),
    )
    return work | {
        "intake_new": pending[0][1] if pending else db.session.scalar(select(intake_new)),
        "extensions": [request for request, _count in pending],
        "today": today,
    }


def leader_work(user):
    """Overdue problems of the leader's units, grouped by unit (worst first), those due soon and
    those not accepted in time."""
    from tracker.alerts.scan import not_accepted_condition
    from tracker.ledger.queries import due_soon_condition

    today = clock.today()
    late = not_accepted_condition(today)
    work = _queues(
        user,
        overdue=([Problem.status.in_(OPEN_STATUSES), Problem.deadline < today], [Problem.deadline, Problem.id], 200),
        due_soon=([due_soon_condition(today)], [Problem.deadline.asc(), Problem.id], LIMIT),
        not_accepted=([late], [Problem.assigned_at, Problem.id], LIMIT),
    )
    groups = {}
    for problem in work.pop("overdue"):
        groups.setdefault(problem.unit, []).append(problem)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[1][0].deadline))
    return work | {"overdue_groups": ordered, "today": today}

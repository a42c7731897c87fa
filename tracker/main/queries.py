"""Figures and work lists for the home pages."""

from sqlalchemy import func, select

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


def _list(user, *conditions, order=None):
    stmt = _scoped(user, select(Problem).where(*conditions))
    return list(db.session.scalars(stmt.order_by(*(order or [Problem.deadline.asc(), Problem.id])).limit(LIMIT)))


def _count(user, *conditions):
    return db.session.scalar(_scoped(user, select(func.count()).select_from(Problem).where(*conditions)))


def unit_work(user):
    """A unit user's queues: to accept, in progress (due soonest first), returned for rework."""
    rework = (Problem.status == Status.IN_PROGRESS, Problem.last_action.in_(("reject", "verify_fail", "reopen")))
    return {
        "to_accept": _list(user, Problem.status == Status.ASSIGNED),
        "to_accept_count": _count(user, Problem.status == Status.ASSIGNED),
        "in_progress": _list(user, Problem.status == Status.IN_PROGRESS),
        "in_progress_count": _count(user, Problem.status == Status.IN_PROGRESS),
        "rework": _list(user, *rework),
        "rework_count": _count(user, *rework),
    }


def inspector_work(user):
    """An inspector's queues: submissions to review, verifications, returns to reassign, extensions."""
    from tracker.alerts.scan import not_accepted_condition
    from tracker.intake.models import Handling, IntakeRecord
    from tracker.ledger.queries import due_soon_condition

    today = clock.today()
    returned = (Problem.status == Status.NEW, Problem.last_action == "return")
    late = not_accepted_condition(today)
    pending = list(
        db.session.scalars(
            select(ExtensionRequest)
            .where(ExtensionRequest.status == "pending")
            .order_by(ExtensionRequest.id)
            .limit(LIMIT)
        )
    )
    return {
        "intake_new": db.session.scalar(
            select(func.count()).select_from(IntakeRecord).where(IntakeRecord.handling == Handling.NEW)
        ),
        "submitted": _list(user, Problem.status == Status.SUBMITTED, order=[Problem.updated_at]),
        "submitted_count": _count(user, Problem.status == Status.SUBMITTED),
        "verifying": _list(user, Problem.status == Status.VERIFYING, order=[Problem.updated_at]),
        "returned": _list(user, *returned, order=[Problem.updated_at]),
        "extensions": pending,
        "unassigned_count": _count(user, Problem.status == Status.NEW),
        "overdue_count": _count(user, Problem.status.in_(OPEN_STATUSES), Problem.deadline < today),
        "due_soon": _list(user, due_soon_condition(today)),
        "due_soon_count": _count(user, due_soon_condition(today)),
        "not_accepted": _list(user, late, order=[Problem.assigned_at, Problem.id]),
        "not_accepted_count": _count(user, late),
        "today": today,
    }


def leader_work(user):
    """Overdue problems of the leader's units, grouped by unit (worst first), those due soon and
    those not accepted in time."""
    from tracker.alerts.scan import not_accepted_condition
    from tracker.ledger.queries import due_soon_condition

    today = clock.today()
    late = not_accepted_condition(today)
    overdue = list(
        db.session.scalars(
            _scoped(user, select(Problem).where(Problem.status.in_(OPEN_STATUSES), Problem.deadline < today))
            .order_by(Problem.deadline)
            .limit(200)
        )
    )
    groups = {}
    for problem in overdue:
        groups.setdefault(problem.unit, []).append(problem)
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[1][0].deadline))
    return {
        "overdue_groups": ordered,
        "overdue_count": _count(user, Problem.status.in_(OPEN_STATUSES), Problem.deadline < today),
        "due_soon": _list(user, due_soon_condition(today)),
        "due_soon_count": _count(user, due_soon_condition(today)),
        "not_accepted": _list(user, late, order=[Problem.assigned_at, Problem.id]),
        "not_accepted_count": _count(user, late),
        "today": today,
    }

"""How a problem met its deadline when it was signed off: the figures the ranking counts.

Stored on the problem at sign-off (`close_timeliness`, `close_workdays`) by every path that closes
one (the workflow, bulk intake, demo and benchmark data, the migration that added the columns), so
that reports group on columns instead of recomputing working days per request."""

from datetime import date, datetime

from tracker.core import calendar, clock
from tracker.ledger.models import Timeliness


def judge(closed_on: date, original_deadline: date | None, deadline: date | None) -> str | None:
    """Timeliness of a sign-off on CLOSED_ON: by the original deadline, only by the extended one, or late.
    None when the problem never had a deadline."""
    first = original_deadline or deadline
    if first is None:
        return None
    if closed_on <= first:
        return Timeliness.ORIGINAL
    if deadline is not None and closed_on <= deadline:
        return Timeliness.EXTENDED
    return Timeliness.LATE


def closing_figures(problem, closed_at: datetime) -> tuple[str | None, int | None]:
    """(close_timeliness, close_workdays) for PROBLEM signed off at CLOSED_AT (aware datetime)."""
    zone = clock.timezone()
    closed_on = closed_at.astimezone(zone).date()
    workdays = None
    if problem.assigned_at is not None:
        workdays = max(0, calendar.workdays_between(problem.assigned_at.astimezone(zone).date(), closed_on))
    return judge(closed_on, problem.original_deadline, problem.deadline), workdays


def set_closed(problem, closed_at: datetime | None, closed_by_id: int | None) -> None:
    """Mark PROBLEM signed off at CLOSED_AT (None: reopened, the figures cleared)."""
    problem.closed_at, problem.closed_by_id = closed_at, closed_by_id
    if closed_at is None:
        problem.close_timeliness = problem.close_workdays = None
    else:
        problem.close_timeliness, problem.close_workdays = closing_figures(problem, closed_at)

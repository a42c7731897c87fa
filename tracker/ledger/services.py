"""Ledger rules: creating problems from intake records, numbering. Services flush; callers commit."""

from sqlalchemy import select

from tracker.audit import services as audit
from tracker.core import clock, sequences
from tracker.extensions import db
from tracker.ledger.models import Problem, Status

NUMBER_PREFIX = "ZG"


def next_number() -> str:
    """ZG-2026-000123: per-year counter, gap-free except for rolled-back transactions."""
    year = clock.today().year
    return f"{NUMBER_PREFIX}-{year}-{sequences.next_value('problem', year):06d}"


def get_by_number(number: str) -> Problem | None:
    return db.session.scalar(select(Problem).where(Problem.number == (number or "").strip().upper()))


def create_from_records(records, *, title, actor, description=None, category=None, quick_fix=False) -> Problem:
    """A new problem (state `new`) behind RECORDS; the unit and category come from the first record."""
    first = records[0]
    problem = Problem(
        number=next_number(),
        title=title[:200],
        description=description if description is not None else first.body,
        category=category or first.category,
        status=Status.NEW,
        is_quick_fix=quick_fix,
        unit_id=first.unit_id,
        created_by_id=getattr(actor, "id", None),
        version=1,
    )
    db.session.add(problem)
    db.session.flush()
    for record in records:
        record.problem = problem
    audit.record(
        actor,
        "problem.create",
        "problem",
        problem.number,
        after={
            "title": problem.title,
            "unit_id": problem.unit_id,
            "intake_ids": [r.id for r in records],
            "quick_fix": quick_fix,
        },
    )
    return problem


def attach_record(problem: Problem, record, *, actor) -> None:
    """Join RECORD to PROBLEM (一事多诉)."""
    record.problem = problem
    problem.bump_version()
    audit.record(actor, "problem.attach_record", "problem", problem.number, after={"intake_id": record.id})

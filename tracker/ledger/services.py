"""Ledger rules: creating problems from intake records, numbering. Services flush; callers commit."""

from sqlalchemy import select

from tracker.access import policy
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
        channel=first.channel,
        source_kind=first.kind,
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
    audit.record(actor, "problem.attach_record", "problem", problem.number, after={"intake_id": record.id})


def create_problem(intake_ids, *, title, actor, description=None, category=None) -> Problem:
    """A problem (state `new`) behind the given intake records, which must be unhandled and visible
    to ACTOR. Raises ValidationFailed, NotFound."""
    from flask_babel import gettext as _

    from tracker.core.errors import ValidationFailed
    from tracker.core.sanitize import plain_text
    from tracker.intake import queries as intake_queries
    from tracker.intake.models import Handling

    policy.require(actor, "problem.create")
    if not isinstance(intake_ids, list) or not intake_ids or not all(isinstance(i, int) for i in intake_ids):
        raise ValidationFailed(_("intake_ids 应为反映件编号（整数）的非空列表。"), {"intake_ids": _("请给出反映件。")})
    records = [intake_queries.get_record_or_404(i, actor) for i in dict.fromkeys(intake_ids)]
    taken = [r.id for r in records if r.handling != Handling.NEW]
    if taken:
        raise ValidationFailed(
            _("反映件 %(ids)s 已处理过。", ids=", ".join(map(str, taken))), {"intake_ids": _("包含已处理的反映件。")}
        )
    title = plain_text(title, 200)
    if not title:
        raise ValidationFailed(_("请填写问题标题。"), {"title": _("请填写问题标题。")})
    problem = create_from_records(
        records,
        title=title,
        actor=actor,
        description=plain_text(description, 20000) if description else None,
        category=plain_text(category, 50) or None,
    )
    for record in records:
        record.handling = Handling.RECTIFY
        record.handled_by_id = getattr(actor, "id", None)
        record.handled_at = clock.now()
    return problem

"""The public results page (处理结果向群众公开): closed problems the inspector opted in, anonymised,
and counts per unit. Read-only; grouped queries, never one query per unit or per problem."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from time import monotonic

from flask import current_app
from sqlalchemy import Date, and_, case, cast, func, select

from tracker.core import clock
from tracker.core.pagination import Page
from tracker.extensions import db
from tracker.intake.models import PUBLIC_CLAUSE, IntakeRecord
from tracker.ledger.models import Category, Problem, Status
from tracker.org import queries as org_queries
from tracker.org.models import Unit

PER_PAGE = 20


@dataclass
class ResultsFilter:
    unit_code: str = ""
    category: str = ""
    page: int = 1

    @classmethod
    def from_args(cls, args) -> "ResultsFilter":
        try:
            page = max(1, min(int(args.get("page") or 1), 100_000))
        except (TypeError, ValueError):
            page = 1
        return cls((args.get("unit") or "").strip()[:32], (args.get("category") or "").strip()[:50], page)


@dataclass
class PublicResult:
    """One row of the page: no title, no body, no people; the words the inspector published."""

    category: str | None
    unit: str | None
    received_on: date | None
    closed_on: date | None
    reply: str | None


def _unit_ids(unit_code) -> set[int] | None:
    """The unit and its sub-units for a filter by unit code; an empty set for an unknown code."""
    if not unit_code:
        return None
    unit = org_queries.unit_by_code(unit_code)
    return org_queries.subtree_ids({unit.id}) if unit is not None else set()


def results_page(flt: ResultsFilter) -> Page:
    """Closed problems with at least one record opted in for publication, latest first."""
    public = (
        select(IntakeRecord.problem_id.label("problem_id"), func.min(IntakeRecord.received_at).label("received_at"))
        .where(PUBLIC_CLAUSE, IntakeRecord.problem_id.is_not(None))
        .group_by(IntakeRecord.problem_id)
        .subquery()
    )
    stmt = (
        select(Problem.category, Unit.name, public.c.received_at, Problem.closed_at, Problem.public_reply)
        .join(public, public.c.problem_id == Problem.id)
        .outerjoin(Unit, Unit.id == Problem.unit_id)
        .where(Problem.status == Status.CLOSED)
    )
    units = _unit_ids(flt.unit_code)
    if units is not None:
        stmt = stmt.where(Problem.unit_id.in_(units))
    if flt.category:
        stmt = stmt.where(Problem.category == flt.category)
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    pages = max(1, -(-total // PER_PAGE))
    number = min(flt.page, pages)
    rows = db.session.execute(
        stmt.order_by(Problem.closed_at.desc(), Problem.id.desc()).limit(PER_PAGE).offset((number - 1) * PER_PAGE)
    ).all()
    zone = clock.timezone()
    items = [
        PublicResult(
            category=category,
            unit=unit,
            received_on=received_at.astimezone(zone).date()
            if isinstance(received_at, datetime)
            else _as_date(received_at),
            closed_on=closed_at.astimezone(zone).date() if closed_at else None,
            reply=reply,
        )
        for category, unit, received_at, closed_at, reply in rows
    ]
    return Page(items, number, PER_PAGE, total)


def _as_date(value):
    """min() over a UTC column comes back as text on SQLite: read it as UTC."""
    if not value:
        return None
    from datetime import UTC

    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC).astimezone(clock.timezone()).date()


def _local_date(column):
    """The local (Beijing) date of a UTC datetime column, in SQL, on PostgreSQL and SQLite."""
    zone = clock.timezone()
    if db.session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone(zone.key, column), Date)
    hours = int(clock.local_now().utcoffset().total_seconds() // 3600)
    return func.date(column, f"{hours:+d} hours")


def period() -> tuple[date, date]:
    """The counts cover this calendar year up to today."""
    today = clock.today()
    return date(today.year, 1, 1), today


@dataclass
class UnitCounts:
    unit: str
    received: int = 0
    closed: int = 0
    on_time: int = 0
    reached: int = 0
    satisfied: int = 0  # 满意 + 基本满意

    @property
    def satisfaction(self) -> float | None:
        return self.satisfied / self.reached if self.reached else None


def unit_counts(flt: ResultsFilter) -> list[UnitCounts]:
    """`count_per_unit`, kept for PUBLIC_COUNTS_CACHE_SECONDS (default 300; 0 when testing) per unit
    filter and day: the page needs no login, and the grouped query reads every problem of the year."""
    seconds = current_app.config.get("PUBLIC_COUNTS_CACHE_SECONDS", 0 if current_app.testing else 300)
    if not seconds:
        return count_per_unit(flt)
    cache = current_app.extensions.setdefault("tracker_public_counts", {})
    key, now = (flt.unit_code, clock.today()), monotonic()
    hit = cache.get(key)
    if hit is not None and now - hit[0] < seconds:
        return hit[1]
    rows = count_per_unit(flt)
    if len(cache) > 1000:  # unit codes typed into the address bar: keep the cache small
        cache.clear()
    cache[key] = (now, rows)
    return rows


def count_per_unit(flt: ResultsFilter) -> list[UnitCounts]:
    """Per unit, for problems handed to it this year (withdrawn ones left out): received, closed,
    closed on time (the local sign-off date on or before the first deadline, extensions not
    counted), and satisfaction from this year's follow-up calls ((满意 + 基本满意) / reached).
    Two grouped queries plus one for the unit names."""
    start_day, end_day = period()
    zone = clock.timezone()
    start = datetime.combine(start_day, time(), zone)
    end = datetime.combine(end_day + timedelta(days=1), time(), zone)
    units = _unit_ids(flt.unit_code)
    if units is not None and not units:
        return []
    closed = Problem.status == Status.CLOSED
    first_deadline = func.coalesce(Problem.original_deadline, Problem.deadline)
    stmt = (
        select(
            Problem.unit_id,
            func.count(),
            func.coalesce(func.sum(case((closed, 1), else_=0)), 0),
            func.coalesce(
                func.sum(case((and_(closed, _local_date(Problem.closed_at) <= first_deadline), 1), else_=0)), 0
            ),
        )
        .where(
            Problem.unit_id.is_not(None),
            Problem.assigned_at >= start,
            Problem.assigned_at < end,
            Problem.status != Status.WITHDRAWN,
        )
        .group_by(Problem.unit_id)
    )
    if units is not None:
        stmt = stmt.where(Problem.unit_id.in_(units))
    counts: dict[int, list[int]] = {
        unit_id: [int(received), int(done), int(on_time)]
        for unit_id, received, done, on_time in db.session.execute(stmt)
    }
    satisfaction = _satisfaction(start_day, end_day, units)
    ids = set(counts) | {unit_id for unit_id in satisfaction if unit_id is not None}
    if not ids:
        return []
    names = {unit_id: unit.name for unit_id, unit in org_queries.units_by_id().items()}
    rows = []
    for unit_id in sorted(ids, key=lambda i: (names.get(i) or "", i)):
        received, done, on_time = counts.get(unit_id, (0, 0, 0))
        reached, satisfied = satisfaction.get(unit_id, (0, 0))
        rows.append(UnitCounts(names.get(unit_id) or "", received, done, on_time, reached, satisfied))
    return rows


def _satisfaction(start_day, end_day, units) -> dict:
    """{unit id: (reached, satisfied + basically satisfied)} from tracker.oversight.figures, the
    same numbers as the reports."""
    from tracker.oversight import figures

    found = figures.by_unit(start_day, end_day, units)
    return {unit_id: (f.reached, f.satisfied + f.basically_satisfied) for unit_id, f in found.items() if f.reached}


def categories() -> list[str]:
    return list(db.session.scalars(select(Category.name).where(Category.is_active).order_by(Category.position)))


def units() -> list[tuple[Unit, int]]:
    return org_queries.tree_order(org_queries.all_units(active_only=True))

"""领导驾驶舱: the figures a leader or an inspector reads at a glance, scoped to the units they may see.

Every figure carries the drill-down it stands for: (endpoint, query arguments) of the ledger or the
intake inbox whose list has exactly that many entries. One grouped query per figure (never one per
unit or per week), each a range the problems' and intake records' indexes serve; the page and the
API (`/api/v1/reports/dashboard`) read the same `figures`."""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import case, func, literal, select, union_all

from tracker.access import policy
from tracker.core import calendar, clock
from tracker.core.words import N_
from tracker.extensions import db
from tracker.intake.models import IntakeDailyCount
from tracker.ledger.models import OPEN_STATUSES, STATUS_LABELS, TIMELINESS_LABELS, Problem, Tier, Timeliness
from tracker.org.models import Unit
from tracker.oversight import figures as oversight_figures
from tracker.reports import periods

WEEKS = 12  # the weekly series run over the last twelve weeks, this one included
TOP_UNITS = 15  # bars of the overdue-by-unit chart
WORST = 10  # rows of the worst-overdue table
LEDGER, INBOX = "ledger.index", "intake.inbox"

TIER_NAMES = {Tier.RED: N_("红色"), Tier.YELLOW: N_("黄色"), Tier.BLUE: N_("蓝色"), "": N_("未分级")}
TIER_COLORS = {Tier.RED: "#c0392b", Tier.YELLOW: "#d4a017", Tier.BLUE: "#2e6db4", "": "#9aa3af"}
NO_CATEGORY = N_("未分类")


@dataclass
class Count:
    """One number and the list behind it: url_for(endpoint, **args). No endpoint: nothing to drill to
    (the ledger cannot filter on a missing tier or category)."""

    count: int
    args: dict | None = None
    endpoint: str = LEDGER
    label: str = ""
    code: str = ""

    @property
    def link(self):
        return (self.endpoint, self.args) if self.args is not None else None


@dataclass
class Dashboard:
    today: date
    period: periods.Period
    week: tuple[date, date]
    open_total: Count
    open_by_tier: list[Count]
    open_by_status: list[Count]
    overdue: Count
    worst: list[dict]
    due_week: Count
    intake_this_week: Count
    intake_last_week: Count
    closed: Count
    closed_by_timeliness: list[Count]
    on_time: Count
    satisfaction: oversight_figures.Figures
    weeks: list[dict] = field(default_factory=list)  # {start, end, intake: Count, closed: Count}
    overdue_by_unit: list[Count] = field(default_factory=list)
    by_category: list[Count] = field(default_factory=list)


def _scoped(stmt, column, scope):
    return stmt if scope is None else stmt.where(column.in_(sorted(scope) or [-1]))


def _local(day: date) -> datetime:
    return datetime.combine(day, time(), clock.timezone())


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def figures(user, period: periods.Period) -> Dashboard:
    """The dashboard of USER: open, overdue and due problems now, intake and closures by week, and for
    PERIOD the sign-offs by timeliness and the follow-up figures."""
    scope = policy.visible_unit_ids(user)
    today = clock.today()
    monday = today - timedelta(days=today.weekday())
    sunday = monday + timedelta(days=6)
    open_args = {"status": "open"}

    by_tier, by_status, by_category = _open_counts(scope)
    open_total = Count(sum(by_status.values()), open_args, label=N_("未销号问题"))
    open_by_tier = [
        Count(by_tier.get(t.value, 0), {**open_args, "tier": t.value}, label=TIER_NAMES[t], code=t.value) for t in Tier
    ]
    if by_tier.get(""):
        open_by_tier.append(Count(by_tier[""], None, label=TIER_NAMES[""], code=""))
    open_by_status = [
        Count(by_status.get(s.value, 0), {"status": s.value}, label=STATUS_LABELS[s], code=s.value)
        for s in OPEN_STATUSES
    ]

    overdue_n, due_n, overdue_units = _overdue_and_due(scope, today, sunday)
    overdue = Count(overdue_n, {"due": "overdue", "sort": "deadline"}, label=N_("逾期问题"))
    due_week = Count(
        due_n,
        {**open_args, "deadline_from": today.isoformat(), "deadline_to": sunday.isoformat(), "sort": "deadline"},
        label=N_("本周到期"),
    )

    weeks = _weekly(scope, monday)
    start, end = period.bounds()
    closed_by, closed_total = _closed_by_timeliness(scope, start, end)
    closed_args = period.ledger_args("closed")
    closed = Count(closed_total, closed_args, label=N_("本期销号"))
    closed_by_timeliness = [
        Count(
            closed_by.get(t.value, 0), {**closed_args, "timeliness": t.value}, label=TIMELINESS_LABELS[t], code=t.value
        )
        for t in Timeliness
    ]
    on_time = Count(
        closed_by.get(Timeliness.ORIGINAL, 0) + closed_by.get(Timeliness.EXTENDED, 0),
        {**closed_args, "timeliness": "on_time"},
        label=N_("按期办结"),
    )
    return Dashboard(
        today=today,
        period=period,
        week=(monday, sunday),
        open_total=open_total,
        open_by_tier=open_by_tier,
        open_by_status=open_by_status,
        overdue=overdue,
        worst=_worst_overdue(scope, today),
        due_week=due_week,
        intake_this_week=weeks[-1]["intake"],
        intake_last_week=weeks[-2]["intake"],
        closed=closed,
        closed_by_timeliness=closed_by_timeliness,
        on_time=on_time,
        satisfaction=oversight_figures.totals(period.start, period.end, user=user, kinds=("calls",)),
        weeks=weeks,
        overdue_by_unit=overdue_units,
        by_category=by_category,
    )


def _open_counts(scope):
    """({tier: n}, {status: n}, [Count per category]) of the open problems: one range over the open
    statuses of ix_problems_status_tier_category, read from the index alone."""
    stmt = select(Problem.tier, Problem.status, Problem.category, func.count()).where(Problem.status.in_(OPEN_STATUSES))
    keys = (Problem.status, Problem.tier, Problem.category)  # the index's order: a sorted group, no hash
    rows = db.session.execute(_scoped(stmt, Problem.unit_id, scope).group_by(*keys).order_by(*keys)).all()
    by_tier, by_status, by_category = {}, {}, {}
    for tier, status, category, n in rows:
        by_tier[tier or ""] = by_tier.get(tier or "", 0) + n
        by_status[status] = by_status.get(status, 0) + n
        by_category[category or ""] = by_category.get(category or "", 0) + n
    return by_tier, by_status, _category_counts(by_category)


def _category_counts(by_category):
    """Open problems per category, most first (no category: counted, not linked)."""
    ordered = sorted(by_category.items(), key=lambda item: (-item[1], item[0]))
    return [
        Count(count, {"status": "open", "category": category}, label=category, code=category)
        if category
        else Count(count, None, label=NO_CATEGORY, code="")
        for category, count in ordered
    ]


def _overdue_and_due(scope, today, sunday):
    """(overdue now, due from today to Sunday, [Count of the TOP_UNITS units with the most overdue]):
    one range on (status, deadline) of ix_problems_status_deadline_unit, grouped by unit. The bars
    count each unit's own problems (not its sub-units: the link says unit_only=1); the totals also
    count the problems of no unit."""
    overdue, due = _count_if(Problem.deadline < today), _count_if(Problem.deadline >= today)
    stmt = select(Problem.unit_id, overdue.label("overdue"), due.label("due")).where(
        Problem.status.in_(OPEN_STATUSES), Problem.deadline <= sunday
    )
    per_unit = _scoped(stmt, Problem.unit_id, scope).group_by(Problem.unit_id).subquery()
    rows = db.session.execute(
        select(per_unit.c.unit_id, Unit.name, per_unit.c.overdue, per_unit.c.due).outerjoin(
            Unit, Unit.id == per_unit.c.unit_id
        )
    ).all()
    overdue_n = sum(int(row.overdue) for row in rows)
    due_n = sum(int(row.due) for row in rows)
    worst = sorted(
        (row for row in rows if row.name is not None and row.overdue), key=lambda row: (-row.overdue, row.name)
    )
    bars = [
        Count(
            int(row.overdue),
            {"unit": row.unit_id, "unit_only": 1, "due": "overdue", "sort": "deadline"},
            label=row.name,
            code=row.unit_id,
        )
        for row in worst[:TOP_UNITS]
    ]
    return overdue_n, due_n, bars


def _worst_overdue(scope, today):
    """The WORST overdue problems, most working days overdue first (= earliest deadline first). One
    statement: the first WORST of each open status by (status, deadline, id), merged, so that no plan
    walks the deadlines of the closed problems."""
    parts = [
        _scoped(
            select(Problem.id, Problem.deadline)
            .where(Problem.status == status, Problem.deadline < today)
            .order_by(Problem.deadline, Problem.id)
            .limit(WORST),
            Problem.unit_id,
            scope,
        ).subquery()
        for status in OPEN_STATUSES
    ]
    firsts = union_all(*(select(part.c.id, part.c.deadline) for part in parts)).subquery()
    stmt = (
        select(Problem.number, Problem.title, Problem.tier, Problem.deadline, Unit.id, Unit.name)
        .join(firsts, firsts.c.id == Problem.id)
        .outerjoin(Unit, Unit.id == Problem.unit_id)
        .order_by(Problem.deadline, Problem.id)
        .limit(WORST)
    )
    rows = db.session.execute(stmt).all()
    if not rows:
        return []
    index = calendar.WorkdayIndex(rows[0].deadline - timedelta(days=1), today + timedelta(days=1))
    return [
        {
            "number": number,
            "title": title,
            "tier": tier or "",
            "unit_id": unit_id,
            "unit": unit or "",
            "deadline": deadline,
            "workdays_overdue": index.between(deadline, today),
        }
        for number, title, tier, deadline, unit_id, unit in rows
    ]


def _intake_per_week(scope, starts):
    """Intake records received in each week starting on STARTS, from the per-day summary the triggers
    keep (tracker/intake/counts.py): a dozen weeks are a few hundred rows, not a million records.
    Records excluded by an upheld appeal do not count (the inbox's counted=1 drops them too)."""
    stmt = _scoped(
        select(IntakeDailyCount.day, func.sum(IntakeDailyCount.counted))
        .where(IntakeDailyCount.day >= starts[0], IntakeDailyCount.day < starts[-1] + timedelta(weeks=1))
        .group_by(IntakeDailyCount.day),
        IntakeDailyCount.unit_id,
        scope,
    )
    weeks = [0] * len(starts)
    for day, n in db.session.execute(stmt):
        weeks[(day - starts[0]).days // 7] += int(n or 0)
    return weeks


def _weekly(scope, monday):
    """Intake records received and problems signed off in each of the last WEEKS weeks (Monday to
    Sunday, local time). Intake comes from the per-day summary; sign-offs are one statement, a UNION
    ALL of one range count per week, each an index range (closed_at, with unit_id first for a scope)."""
    starts = [monday - timedelta(weeks=WEEKS - 1 - i) for i in range(WEEKS)]
    edges = [_local(day) for day in starts] + [_local(monday + timedelta(weeks=1))]

    def per_week(column, unit_column):
        parts = [
            _scoped(
                select(literal(i).label("week"), func.count().label("n")).where(column >= low, column < high),
                unit_column,
                scope,
            )
            for i, (low, high) in enumerate(zip(edges, edges[1:], strict=False))
        ]
        counts = dict(db.session.execute(union_all(*parts)).all())
        return [int(counts.get(i, 0)) for i in range(WEEKS)]

    intake = _intake_per_week(scope, starts)
    closed = per_week(Problem.closed_at, Problem.unit_id)
    weeks = []
    for start, n_in, n_closed in zip(starts, intake, closed, strict=True):
        end = start + timedelta(days=6)
        days = {"from": start.isoformat(), "to": end.isoformat()}
        weeks.append(
            {
                "start": start,
                "end": end,
                "intake": Count(
                    int(n_in),
                    {"handling": "all", "counted": 1, "date_from": days["from"], "date_to": days["to"]},
                    INBOX,
                ),
                "closed": Count(int(n_closed), {"closed_from": days["from"], "closed_to": days["to"]}),
            }
        )
    return weeks


def _closed_by_timeliness(scope, start, end):
    """({timeliness: n}, total) of the problems signed off in [START, END) (ix_problems_closed_cover)."""
    stmt = (
        select(Problem.close_timeliness, func.count())
        .where(Problem.closed_at >= start, Problem.closed_at < end)
        .group_by(Problem.close_timeliness)
    )
    rows = db.session.execute(_scoped(stmt, Problem.unit_id, scope)).all()
    return {key: n for key, n in rows if key}, sum(n for _key, n in rows)


# ---- charts (ECharts options are built in tracker/static/js/charts.js from these) ----------------------


def chart_data(dash: Dashboard, href, translate) -> dict:
    """The data of the four charts as plain JSON, each point with the link it drills down to.
    HREF(endpoint, args) builds a URL, TRANSLATE a label (the page passes url_for and gettext)."""

    def link(item: Count):
        return href(*item.link) if item.link else None

    return {
        "weekly": {
            "labels": [w["start"].strftime("%m-%d") for w in dash.weeks],
            "series": [
                {
                    "name": translate("收到反映件"),
                    "data": [w["intake"].count for w in dash.weeks],
                    "links": [link(w["intake"]) for w in dash.weeks],
                },
                {
                    "name": translate("销号问题"),
                    "data": [w["closed"].count for w in dash.weeks],
                    "links": [link(w["closed"]) for w in dash.weeks],
                },
            ],
        },
        "overdue_units": {
            "color": "#c0392b",
            "labels": [u.label for u in dash.overdue_by_unit],
            "series": [
                {
                    "name": translate("逾期问题"),
                    "data": [u.count for u in dash.overdue_by_unit],
                    "links": [link(u) for u in dash.overdue_by_unit],
                }
            ],
        },
        "categories": {
            "color": "#12325c",
            "labels": [translate(c.label) if not c.code else c.label for c in dash.by_category],
            "series": [
                {
                    "name": translate("未销号问题"),
                    "data": [c.count for c in dash.by_category],
                    "links": [link(c) for c in dash.by_category],
                }
            ],
        },
        "tiers": {
            "labels": [translate(t.label) for t in dash.open_by_tier],
            "colors": [TIER_COLORS[t.code] for t in dash.open_by_tier],
            "series": [
                {
                    "name": translate("未销号问题"),
                    "data": [t.count for t in dash.open_by_tier],
                    "links": [link(t) for t in dash.open_by_tier],
                }
            ],
        },
    }


# ---- API ----------------------------------------------------------------------------------------------


def api_payload(user, args) -> dict:
    """GET /api/v1/reports/dashboard: the same figures as the page, as codes, counts and Chinese
    `_label`s. The period (month by default) applies to the sign-offs and the follow-ups.
    Raises ValidationFailed for a bad period (the API answers 422)."""
    period = periods.parse(args, "month")
    dash = figures(user, period)

    def week(item: Count, start, end):
        return {"from": start.isoformat(), "to": end.isoformat(), "count": item.count}

    this_monday, sunday = dash.week
    last_monday = this_monday - timedelta(weeks=1)
    satisfaction = dash.satisfaction
    return {
        "date": dash.today.isoformat(),
        "period": {
            "kind": period.kind,
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "label": period.label,
        },
        "open": {
            "total": dash.open_total.count,
            "by_tier": [{"tier": t.code or None, "tier_label": t.label, "count": t.count} for t in dash.open_by_tier],
            "by_status": [{"status": s.code, "status_label": s.label, "count": s.count} for s in dash.open_by_status],
        },
        "overdue": {
            "count": dash.overdue.count,
            "worst": [
                {
                    "number": row["number"],
                    "title": row["title"],
                    "tier": row["tier"] or None,
                    "unit": row["unit"],
                    "deadline": row["deadline"].isoformat(),
                    "workdays_overdue": row["workdays_overdue"],
                }
                for row in dash.worst
            ],
        },
        "due_this_week": week(dash.due_week, dash.today, sunday),
        "intake": {
            "this_week": week(dash.intake_this_week, this_monday, sunday),
            "last_week": week(dash.intake_last_week, last_monday, last_monday + timedelta(days=6)),
        },
        "closed": {
            "total": dash.closed.count,
            "on_time": dash.on_time.count,
            "by_timeliness": [
                {"timeliness": t.code, "timeliness_label": t.label, "count": t.count} for t in dash.closed_by_timeliness
            ],
        },
        "satisfaction": {
            "followed_up": satisfaction.followed_up,
            "reached": satisfaction.reached,
            "satisfied": satisfaction.satisfied,
            "basically_satisfied": satisfaction.basically_satisfied,
            "unsatisfied": satisfaction.unsatisfied,
            "unreachable": satisfaction.unreachable,
            "satisfaction_rate": satisfaction.satisfaction_rate,
        },
    }

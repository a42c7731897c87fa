"""Overdue list (逾期清单): every open problem past its deadline in the user's scope, grouped by unit,
leader in charge or tier, worst first. One query module for the page, the print page, the Excel
download (and the weekly e-mail's attachment) and the API.

"Overdue" is the ledger's own condition (`due=overdue`: open status, deadline before today), built by
tracker.ledger.queries.filtered, so every count here is the total of the ledger page it links to.
Groups come in order of their count (largest first), then of their worst item; the items of a group
in order of working days overdue (earliest deadline first)."""

import tempfile
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from flask_babel import gettext as _
from sqlalchemy import Integer, func, literal, select
from sqlalchemy.orm import aliased

from tracker.access import policy
from tracker.alerts.scan import alert_label
from tracker.core import calendar, clock
from tracker.core.errors import NotFound
from tracker.core.inputs import parse_id
from tracker.core.words import N_
from tracker.extensions import db
from tracker.ledger import queries as ledger_queries
from tracker.ledger.models import TIER_LABELS, Tier
from tracker.ledger.queries import LedgerFilter, _latest_notes
from tracker.org import queries as org_queries

GROUPS = {"unit": N_("按责任单位"), "leader": N_("按分管领导"), "tier": N_("按分级")}
SCREEN_ROWS = 500  # rows shown on the page; the print page and the Excel file have all of them
PRINT_ROWS = 5000  # beyond this a browser struggles to paginate: the print page points to the Excel file
API_LIMIT, API_MAX_LIMIT = 100, 1000  # problems per unit in the API answer (counts stay true)
BATCH = 2000
# The escalation ladder's steps (tracker.alerts.scan.LEVELS), lowest first; an alert's step is
# "<level>:<deadline>".
LEVELS = ("reminder", "supervise", "listed")

EXPORT_TITLE = "逾期问题清单"
EXPORT_COLUMNS = [  # (header, width, wrapped)
    ("序号", 6, False),
    ("编号", 15, False),
    ("问题", 32, True),
    ("分级", 8, False),
    ("责任单位", 16, True),
    ("责任人", 8, False),
    ("分管领导", 8, False),
    ("完成时限", 11, False),
    ("原定时限", 11, False),
    ("逾期工作日", 7, False),
    ("督办层级", 8, False),
    ("最新进展", 40, True),
]
EXPORT_HEADERS = [c[0] for c in EXPORT_COLUMNS]
EXPORT_WIDTHS = [c[1] for c in EXPORT_COLUMNS]
EXPORT_WRAPPED = [i for i, c in enumerate(EXPORT_COLUMNS) if c[2]]


@dataclass
class OverdueFilter:
    group: str = "unit"
    tier: str = ""  # red | yellow | blue | quick_fix
    unit_id: int | None = None  # the unit and its sub-units, as the ledger's unit filter
    campaign_id: int | None = None
    ignored: list = field(default_factory=list)

    @classmethod
    def from_args(cls, args) -> "OverdueFilter":
        """Parse query arguments; garbage is dropped and named in `ignored`, never a 500."""
        flt = cls()
        for name, allowed in (("group", set(GROUPS)), ("tier", {t.value for t in Tier} | {"quick_fix"})):
            value = args.get(name, "")
            if value and value not in allowed:
                flt.ignored.append(name)
            elif value:
                setattr(flt, name, value)
        for name, attr in (("unit", "unit_id"), ("campaign", "campaign_id")):
            value = args.get(name, "")
            if value:
                if parse_id(value) is None:
                    flt.ignored.append(name)
                else:
                    setattr(flt, attr, parse_id(value))
        return flt

    def args(self, **override) -> dict:
        """The filter as query arguments (for links and the downloads), without empty values."""
        values = {
            "group": self.group if self.group != "unit" else "",
            "tier": self.tier,
            "unit": self.unit_id,
            "campaign": self.campaign_id,
        }
        values.update(override)
        return {k: v for k, v in values.items() if v not in (None, "")}

    def ledger_filter(self) -> LedgerFilter:
        return LedgerFilter(due="overdue", tier=self.tier, unit_id=self.unit_id, campaign_id=self.campaign_id)


def parse_filter(user, args) -> OverdueFilter:
    """The filter ARGS ask for. Raises NotFound for a unit USER may not see (or that does not exist),
    the same answer as everywhere."""
    from tracker.org.models import Unit

    flt = OverdueFilter.from_args(args)
    code = (args.get("unit_code") or "").strip()
    if code and not flt.unit_id:
        unit = db.session.scalar(select(Unit).where(Unit.code == code))
        if unit is None:
            raise NotFound(_("未找到该单位。"))
        flt.unit_id = unit.id
    if flt.unit_id:
        scope = policy.visible_unit_ids(user)
        if db.session.get(Unit, flt.unit_id) is None or (scope is not None and flt.unit_id not in scope):
            raise NotFound(_("未找到该单位。"))
    return flt


# ---- the query ------------------------------------------------------------------------------------


def _group_key(base, group):
    """The grouping column of subquery BASE, NULL folded into 0 / "" so that it can be joined on."""
    if group == "tier":
        return func.coalesce(base.c.tier, literal(""))
    column = base.c.leader_id if group == "leader" else base.c.unit_id
    return func.coalesce(column, literal(0))


def _chunk(column, ids):
    """COLUMN IN IDS; one array parameter on PostgreSQL (2,000 separate parameters cost more to send
    than the lookup itself)."""
    from sqlalchemy import any_, bindparam
    from sqlalchemy.dialects.postgresql import ARRAY

    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam("chunk_ids", list(ids), type_=ARRAY(Integer)))
    return column.in_(list(ids))


def _escalation_steps(problem_ids) -> dict[int, str]:
    """{problem id: the highest ladder step of its open escalation alerts} for one chunk, one query
    (through the (problem_id, kind, step) unique index)."""
    from tracker.alerts.models import Alert

    rows = db.session.execute(
        select(Alert.problem_id, Alert.step).where(
            _chunk(Alert.problem_id, problem_ids), Alert.kind == "escalation", Alert.resolved_at.is_(None)
        )
    )
    ranks = {level: n for n, level in enumerate(LEVELS)}
    best = {}
    for problem_id, step in rows:
        level = step.split(":")[0]
        if level in ranks and ranks[level] >= ranks.get(best.get(problem_id), -1):
            best[problem_id] = level
    return best


def _complete(rows) -> None:
    """Latest progress and escalation step of ROWS (one chunk): two queries."""
    ids = [r.id for r in rows]
    notes, steps = _latest_notes(ids), _escalation_steps(ids)
    for row in rows:
        row.progress = notes.get(row.id, "")
        row.escalation = steps.get(row.id, "")


def _rows_stmt(user, flt: OverdueFilter):
    """The overdue rows of FLT in report order (groups by count desc, then worst item; items by
    deadline, the earliest being the most working days overdue)."""
    from tracker.auth.models import User
    from tracker.org.models import Unit

    base = ledger_queries.filtered(user, flt.ledger_filter()).subquery("p")
    key = _group_key(base, flt.group)
    groups = (
        select(key.label("k"), func.count().label("n"), func.min(base.c.deadline).label("worst"))
        .group_by(key)
        .subquery("g")
    )
    owner, leader = aliased(User), aliased(User)
    return (
        select(
            base.c.id,
            base.c.number,
            base.c.title,
            base.c.tier,
            base.c.is_quick_fix,
            Unit.name,
            owner.name,
            leader.name,
            base.c.deadline,
            base.c.original_deadline,
            key,
        )
        .select_from(base)
        .join(groups, groups.c.k == key)
        .outerjoin(Unit, Unit.id == base.c.unit_id)
        .outerjoin(owner, owner.id == base.c.owner_id)
        .outerjoin(leader, leader.id == base.c.leader_id)
        .order_by(groups.c.n.desc(), groups.c.worst, groups.c.k, base.c.deadline, base.c.id)
    )


@dataclass
class OverdueRow:
    id: int
    number: str
    title: str
    tier: str | None
    is_quick_fix: bool
    unit: str
    owner: str
    leader: str
    deadline: date
    original_deadline: date | None
    days_overdue: int
    group_key: object
    escalation: str = ""  # the highest open ladder step's code (reminder | supervise | listed) or ""
    progress: str = ""

    @property
    def tier_label(self) -> str:
        return TIER_LABELS.get(self.tier, "")

    @property
    def tier_text(self) -> str:
        """分级 in words: 红 / 黄 / 蓝, with 立行立改 noted."""
        label = _(self.tier_label) if self.tier else _("未分级")
        return label + (_("（立行立改）") if self.is_quick_fix else "")

    @property
    def escalation_label(self) -> str:
        return alert_label("escalation", self.escalation) if self.escalation else ""

    @property
    def extended(self) -> bool:
        return bool(self.original_deadline and self.original_deadline != self.deadline)


def _row(values, index: calendar.WorkdayIndex, today: date) -> OverdueRow:
    pid, number, title, tier, quick, unit, owner, leader, deadline, original, key = values
    return OverdueRow(
        id=pid,
        number=number,
        title=title,
        tier=tier,
        is_quick_fix=bool(quick),
        unit=unit or "",
        owner=owner or "",
        leader=leader or "",
        deadline=deadline,
        original_deadline=original,
        days_overdue=index.between(deadline, today),
        group_key=key,
    )


@dataclass
class OverdueGroup:
    key: object  # unit id, leader id (0: none) or tier ("": none)
    label: str
    count: int
    worst: date
    ledger_args: dict | None  # query args of the ledger page with exactly these problems, or None
    rows: list = field(default_factory=list)

    @property
    def shown(self) -> int:
        return len(self.rows)


def _groups(user, flt: OverdueFilter) -> list[OverdueGroup]:
    """Every group with its true count (one grouped COUNT query and one for the names), in report order."""
    from tracker.auth.models import User

    base = ledger_queries.filtered(user, flt.ledger_filter()).subquery("p")
    key = _group_key(base, flt.group)
    counted = db.session.execute(
        select(key, func.count(), func.min(base.c.deadline))
        .group_by(key)
        .order_by(func.count().desc(), func.min(base.c.deadline), key)
    ).all()
    keys = [k for k, _n, _w in counted if k]
    if flt.group == "unit":
        names = {unit_id: unit.name for unit_id, unit in org_queries.units_by_id().items()}
        none_label = _("（未指定责任单位）")
    elif flt.group == "leader":
        names = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(keys))).all()) if keys else {}
        none_label = _("（未指定分管领导）")
    else:
        names = {t.value: _("%(t)s色", t=_(TIER_LABELS[t])) for t in Tier}
        none_label = _("未分级")
    ledger = flt.ledger_filter()
    out = []
    for k, n, worst in counted:
        link = None
        if k and flt.group == "unit":
            link = ledger.args(unit=k, unit_only=1)
        elif k and flt.group == "leader":
            link = ledger.args(leader=k)
        elif k and flt.group == "tier" and flt.tier in ("", k):
            link = ledger.args(tier=k)
        out.append(OverdueGroup(k, names.get(k, none_label) if k else none_label, n, worst, link))
    return out


def _index(groups, today: date) -> calendar.WorkdayIndex:
    """One working-day index for the whole list, from its earliest deadline to today."""
    earliest = min((g.worst for g in groups), default=today)
    return calendar.WorkdayIndex(min(earliest, today) - timedelta(days=1), today + timedelta(days=1))


def _fetch(user, flt: OverdueFilter, groups, limit: int) -> list[OverdueRow]:
    """The first LIMIT rows in report order, with their latest progress (one query per BATCH rows)."""
    today = clock.today()
    index = _index(groups, today)
    rows = [_row(r, index, today) for r in db.session.execute(_rows_stmt(user, flt).limit(limit))]
    for start in range(0, len(rows), BATCH):
        _complete(rows[start : start + BATCH])
    return rows


@dataclass
class OverdueReport:
    flt: OverdueFilter
    today: date
    groups: list  # [OverdueGroup], each with the rows shown
    total: int  # every overdue problem of the filter (a COUNT, not the rows shown)
    shown: int
    limit: int
    ledger_args: dict  # the ledger page of all of them

    @property
    def truncated(self) -> bool:
        return self.shown < self.total


def report(user, args, limit: int | None = None) -> OverdueReport:
    """The overdue list for the page (LIMIT rows at most, default SCREEN_ROWS; PRINT_ROWS for the
    print page), with the true counts of every group. Raises NotFound for a unit outside USER's scope."""
    limit = limit or SCREEN_ROWS
    flt = parse_filter(user, args)
    groups = _groups(user, flt)
    rows = _fetch(user, flt, groups, limit) if groups else []
    by_key = {g.key: g for g in groups}
    for row in rows:
        by_key[row.group_key].rows.append(row)
    return OverdueReport(
        flt=flt,
        today=clock.today(),
        groups=groups,
        total=sum(g.count for g in groups),
        shown=len(rows),
        limit=limit,
        ledger_args=flt.ledger_filter().args(),
    )


# ---- export ---------------------------------------------------------------------------------------


def title_rows(user, flt: OverdueFilter) -> list[str]:
    """Title, scope, grouping and filter, as-of time: the lines above the table (Excel and print)."""
    ledger = flt.ledger_filter()
    line = _("分组：%(g)s", g=_(GROUPS[flt.group]))
    extra = ledger_queries.export_filter_text(LedgerFilter(tier=flt.tier, campaign_id=flt.campaign_id))
    if flt.tier or flt.campaign_id:
        line += "；" + _("筛选条件：%(f)s", f=extra)
    return [
        EXPORT_TITLE,
        _("范围：%(s)s", s=ledger_queries.export_scope_text(user, ledger)),
        line,
        ledger_queries.export_time_text(),
    ]


def export_rows(user, args, batch: int = BATCH):
    """Every overdue row of ARGS as an iterator of tuples (EXPORT_HEADERS), streamed from the
    database in chunks of BATCH (no ORM objects; latest progress fetched once per chunk).

    The scope, the filter and the working-day index are worked out here, before the iterator is
    returned. Raises NotFound for a unit outside USER's scope."""
    flt = parse_filter(user, args)
    return _stream(user, flt, batch)


def _stream(user, flt: OverdueFilter, batch: int):
    """The row iterator of FLT; its statement, groups and working-day index worked out now."""
    groups = _groups(user, flt)
    today = clock.today()
    stmt = _rows_stmt(user, flt).execution_options(yield_per=batch)
    return _export_stream(stmt, _index(groups, today), today, batch)


def _export_stream(stmt, index, today, batch):
    # Labels translated once, not per row (gettext costs more than writing the cell).
    tiers, steps = {}, {level: _(alert_label("escalation", level)) for level in LEVELS}
    number = 0
    for part in db.session.execute(stmt).partitions(batch):
        rows = [_row(values, index, today) for values in part]
        _complete(rows)
        for row in rows:
            number += 1
            tier = tiers.get((row.tier, row.is_quick_fix))
            if tier is None:
                tier = tiers[(row.tier, row.is_quick_fix)] = row.tier_text
            yield (
                number,
                row.number,
                row.title,
                tier,
                row.unit,
                row.owner,
                row.leader,
                row.deadline.isoformat(),
                row.original_deadline.isoformat() if row.extended else "",
                row.days_overdue,
                steps.get(row.escalation, ""),
                row.progress,
            )


def xlsx_layout(user, flt: OverdueFilter) -> dict:
    return {
        "sheet_name": EXPORT_TITLE,
        "widths": EXPORT_WIDTHS,
        "title_rows": title_rows(user, flt),
        "wrapped": EXPORT_WRAPPED,
        "for_print": True,
    }


def xlsx_filename() -> str:
    return f"{EXPORT_TITLE}-{clock.local_now().strftime('%Y%m%d-%H%M')}.xlsx"


def xlsx_attachment(user, args=None) -> tuple[str, bytes]:
    """(file name, XLSX bytes): the overdue list of USER's scope grouped by unit, as the download
    gives it; for the weekly summary e-mail."""
    from tracker.excel.services import write_xlsx

    flt = parse_filter(user, args or {})
    handle = tempfile.NamedTemporaryFile(suffix=".xlsx", delete=False)  # noqa: SIM115 - removed below
    handle.close()
    path = Path(handle.name)
    try:
        write_xlsx(path, EXPORT_HEADERS, _stream(user, flt, BATCH), **xlsx_layout(user, flt))
        return xlsx_filename(), path.read_bytes()
    finally:
        path.unlink(missing_ok=True)


# ---- API ------------------------------------------------------------------------------------------


def api_payload(user, args) -> dict:
    """{date, total, units: [{unit_code, unit, count, problems: [...]}]} by unit, worst first.
    `total` and `count` are true counts; each unit lists its first `limit` problems (default
    API_LIMIT, at most API_MAX_LIMIT), the most overdue first. Raises NotFound for a unit outside
    USER's scope."""
    from tracker.auth.models import User
    from tracker.org.models import Unit

    flt = parse_filter(user, args)
    flt.group = "unit"
    limit = parse_id(args.get("limit", "")) or API_LIMIT
    limit = min(limit, API_MAX_LIMIT)
    groups = _groups(user, flt)
    today = clock.today()
    index = _index(groups, today)
    codes = (
        dict(db.session.execute(select(Unit.id, Unit.code).where(Unit.id.in_([g.key for g in groups if g.key]))).all())
        if groups
        else {}
    )
    base = ledger_queries.filtered(user, flt.ledger_filter()).subquery("p")
    key = _group_key(base, "unit")
    owner, leader = aliased(User), aliased(User)
    position = func.row_number().over(partition_by=key, order_by=(base.c.deadline, base.c.id))
    ranked = select(
        base.c.id,
        base.c.number,
        base.c.title,
        base.c.tier,
        base.c.is_quick_fix,
        base.c.unit_id,
        base.c.owner_id,
        base.c.leader_id,
        base.c.deadline,
        base.c.original_deadline,
        key.label("k"),
        position.label("pos"),
    ).subquery("r")
    stmt = (
        select(
            ranked.c.id,
            ranked.c.number,
            ranked.c.title,
            ranked.c.tier,
            ranked.c.is_quick_fix,
            Unit.name,
            owner.name,
            leader.name,
            ranked.c.deadline,
            ranked.c.original_deadline,
            ranked.c.k,
        )
        .select_from(ranked)
        .outerjoin(Unit, Unit.id == ranked.c.unit_id)
        .outerjoin(owner, owner.id == ranked.c.owner_id)
        .outerjoin(leader, leader.id == ranked.c.leader_id)
        .where(ranked.c.pos <= limit)
        .order_by(ranked.c.k, ranked.c.pos)
    )
    rows = [_row(values, index, today) for values in db.session.execute(stmt)] if groups else []
    for start in range(0, len(rows), BATCH):
        _complete(rows[start : start + BATCH])
    by_key = {}
    for row in rows:
        by_key.setdefault(row.group_key, []).append(row)
    units = []
    for group in groups:
        units.append(
            {
                "unit_code": codes.get(group.key),
                "unit": group.label if group.key else None,
                "count": group.count,
                "problems": [_api_problem(r) for r in by_key.get(group.key, [])],
            }
        )
    return {"date": today.isoformat(), "total": sum(g.count for g in groups), "limit": limit, "units": units}


def _api_problem(row: OverdueRow) -> dict:
    return {
        "number": row.number,
        "title": row.title,
        "tier": row.tier,
        "quick_fix": row.is_quick_fix,
        "deadline": row.deadline.isoformat(),
        "original_deadline": row.original_deadline.isoformat() if row.original_deadline else None,
        "days_overdue": row.days_overdue,
        "owner": row.owner or None,
        "leader": row.leader or None,
        "escalation": row.escalation or None,
        "last_progress": row.progress or None,
    }

"""Read-only ledger queries, access-scoped: the filtered list with keyset pagination, counts, one problem."""

import base64
import html
import json
import re
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select, tuple_

from tracker.access import policy
from tracker.core import calendar, clock
from tracker.core.errors import NotFound
from tracker.core.inputs import parse_id
from tracker.extensions import db
from tracker.ledger.models import OPEN_STATUSES, Problem, Status, Tier, Timeliness
from tracker.org.queries import subtree_ids

PAGE_SIZE = 50
# Working days before the deadline at which an open problem counts as due soon (DESIGN.md §4).
DUE_SOON_DAYS = {Tier.RED: 0, Tier.YELLOW: 2, Tier.BLUE: 5}
QUICK_FIX_DUE_SOON = 0
SORTS = ("-id", "id", "deadline", "-deadline")


def get_problem_or_404(number: str, user) -> Problem:
    """The problem if USER may see it; the same NotFound for missing and out-of-scope problems."""
    problem = db.session.scalar(select(Problem).where(Problem.number == (number or "").strip().upper()))
    if problem is None or not policy.can(user, "problem.view", problem):
        raise NotFound(_("未找到该问题。"))
    return problem


@dataclass
class LedgerFilter:
    status: str = ""
    tier: str = ""
    unit_id: int | None = None
    category: str = ""
    channel: str = ""
    due: str = ""  # overdue | soon
    assigned_from: date | None = None
    assigned_to: date | None = None
    leader_id: int | None = None
    campaign_id: int | None = None
    # Drill-downs from the reports: the unit alone (not its sub-units), signed off in a period, how
    # the deadline was met (ledger.models.Timeliness), reworked or relapsed at least once.
    unit_only: bool = False
    closed_from: date | None = None
    closed_to: date | None = None
    timeliness: str = ""
    deadline_from: date | None = None  # the dashboard's 本周到期: deadline within a range
    deadline_to: date | None = None
    reworked: bool = False
    relapsed: bool = False
    q: str = ""
    sort: str = "-id"
    cursor: str = ""
    ignored: list = field(default_factory=list)

    @classmethod
    def from_args(cls, args) -> "LedgerFilter":
        """Parse query arguments; garbage is dropped and named in `ignored`, never a 500."""
        flt = cls()
        statuses = {s.value for s in Status} | {"open"}
        for name, allowed in (
            ("status", statuses),
            ("tier", {t.value for t in Tier} | {"quick_fix"}),
            ("due", {"overdue", "soon"}),
            ("timeliness", {t.value for t in Timeliness} | {"on_time"}),
            ("sort", set(SORTS)),
        ):
            value = args.get(name, "")
            if value and value not in allowed:
                flt.ignored.append(name)
            elif value:
                setattr(flt, name, value)
        for name, attr in (("unit", "unit_id"), ("leader", "leader_id"), ("campaign", "campaign_id")):
            value = args.get(name, "") or args.get(attr, "")
            if value:
                if parse_id(value) is None:
                    flt.ignored.append(name)
                else:
                    setattr(flt, attr, parse_id(value))
        for name in ("unit_only", "reworked", "relapsed"):
            value = args.get(name, "")
            if value in ("1", "true", "yes"):
                setattr(flt, name, True)
            elif value not in ("", "0", "false", "no"):
                flt.ignored.append(name)
        for name in ("assigned_from", "assigned_to", "closed_from", "closed_to", "deadline_from", "deadline_to"):
            value = args.get(name, "")
            if value:
                try:
                    setattr(flt, name, date.fromisoformat(value))
                except ValueError:
                    flt.ignored.append(name)
        flt.category = args.get("category", "")[:50]
        flt.channel = args.get("channel", "")[:50]
        flt.q = args.get("q", "").strip()[:100]
        flt.cursor = args.get("cursor", "")[:200]
        return flt

    def args(self, **override) -> dict:
        """The filter as query arguments (for links), without empty values."""
        values = {
            "status": self.status,
            "tier": self.tier,
            "unit": self.unit_id,
            "category": self.category,
            "channel": self.channel,
            "due": self.due,
            "assigned_from": self.assigned_from,
            "assigned_to": self.assigned_to,
            "leader": self.leader_id,
            "campaign": self.campaign_id,
            "unit_only": 1 if self.unit_only else "",
            "closed_from": self.closed_from,
            "closed_to": self.closed_to,
            "timeliness": self.timeliness,
            "deadline_from": self.deadline_from,
            "deadline_to": self.deadline_to,
            "reworked": 1 if self.reworked else "",
            "relapsed": 1 if self.relapsed else "",
            "q": self.q,
            "sort": self.sort if self.sort != "-id" else "",
        }
        values.update(override)
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items() if v not in (None, "")}


def due_soon_condition(today: date):
    """Open problems whose deadline is today or within their tier's warning window (the thresholds
    the admin set for alerts, so that lists and alerts agree)."""
    from tracker.alerts.scan import settings as alert_settings

    windows = alert_settings().get("due_soon_days", {})
    parts = []
    for tier, default in DUE_SOON_DAYS.items():
        days = windows.get(tier.value, default)
        limit = calendar.add_workdays(today, days) if days else today
        parts.append(and_(Problem.tier == tier, Problem.is_quick_fix.is_(False), Problem.deadline <= limit))
    days = windows.get("quick_fix", QUICK_FIX_DUE_SOON)
    limit = calendar.add_workdays(today, days) if days else today
    parts.append(and_(Problem.is_quick_fix.is_(True), Problem.deadline <= limit))
    return and_(Problem.status.in_(OPEN_STATUSES), Problem.deadline >= today, or_(*parts))


def filtered(user, flt: LedgerFilter, *, for_counts=False):
    """SELECT of the problems USER may see that match FLT (no order, no paging)."""
    stmt = select(Problem)
    scope = policy.visible_unit_ids(user)
    if scope is not None:
        stmt = stmt.where(Problem.unit_id.in_(sorted(scope) or [-1]))
    if flt.status == "open":
        stmt = stmt.where(Problem.status.in_(OPEN_STATUSES))
    elif flt.status and not for_counts:
        stmt = stmt.where(Problem.status == flt.status)
    if flt.tier == "quick_fix":
        stmt = stmt.where(Problem.is_quick_fix.is_(True))
    elif flt.tier and not for_counts:
        stmt = stmt.where(Problem.tier == flt.tier)
    if flt.unit_id and flt.unit_only:
        stmt = stmt.where(Problem.unit_id == flt.unit_id)
    elif flt.unit_id:
        stmt = stmt.where(Problem.unit_id.in_(sorted(subtree_ids({flt.unit_id})) or [-1]))
    if flt.campaign_id:
        stmt = stmt.where(Problem.campaign_id == flt.campaign_id)
    if flt.timeliness == "on_time":
        stmt = stmt.where(Problem.close_timeliness.in_((Timeliness.ORIGINAL, Timeliness.EXTENDED)))
    elif flt.timeliness:
        stmt = stmt.where(Problem.close_timeliness == flt.timeliness)
    if flt.reworked:
        stmt = stmt.where(Problem.rework_count > 0)
    if flt.relapsed:
        stmt = stmt.where(Problem.relapse_count > 0)
    if flt.category:
        stmt = stmt.where(Problem.category == flt.category)
    if flt.channel:
        stmt = stmt.where(Problem.channel == flt.channel)
    if flt.leader_id:
        stmt = stmt.where(Problem.leader_id == flt.leader_id)
    today = clock.today()
    if flt.due == "overdue":
        stmt = stmt.where(Problem.status.in_(OPEN_STATUSES), Problem.deadline < today)
    elif flt.due == "soon":
        stmt = stmt.where(due_soon_condition(today))
    if flt.deadline_from:
        stmt = stmt.where(Problem.deadline >= flt.deadline_from)
    if flt.deadline_to:
        stmt = stmt.where(Problem.deadline <= flt.deadline_to)
    zone = clock.timezone()
    if flt.assigned_from:
        stmt = stmt.where(Problem.assigned_at >= datetime.combine(flt.assigned_from, time(), zone))
    if flt.assigned_to:
        stmt = stmt.where(Problem.assigned_at < datetime.combine(flt.assigned_to + timedelta(days=1), time(), zone))
    if flt.closed_from:
        stmt = stmt.where(Problem.closed_at >= datetime.combine(flt.closed_from, time(), zone))
    if flt.closed_to:
        stmt = stmt.where(Problem.closed_at < datetime.combine(flt.closed_to + timedelta(days=1), time(), zone))
    if flt.q:
        like = f"%{flt.q}%"
        stmt = stmt.where(
            or_(Problem.number == flt.q.upper(), Problem.title.ilike(like), Problem.description.ilike(like))
        )
    return stmt


def encode_cursor(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str):
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, last_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if parse_id(last_id) is None:
            return None
        return (date.fromisoformat(value) if value else None), parse_id(last_id)
    except (ValueError, TypeError, json.JSONDecodeError):
        return None


def _phases(stmt, sort, cursor):
    """The queries that, read one after the other, give the rows after CURSOR in SORT order, and
    whether CURSOR was valid. Deadline sorts keep NULL deadlines in a separate phase so that every
    phase is one index range: a row-value comparison (deadline, id) > (v, id) instead of an OR that
    would make deep pages scan from the start."""
    decoded = decode_cursor(cursor) if cursor else None
    valid = decoded is not None
    value, last_id = decoded if decoded else (None, None)
    has_deadline, no_deadline = Problem.deadline.is_not(None), Problem.deadline.is_(None)
    if sort in ("-id", "id"):
        if not valid:
            return [stmt], False
        return [stmt.where(Problem.id < last_id if sort == "-id" else Problem.id > last_id)], True
    if sort == "deadline":  # deadlines ascending, then the problems without one
        if not valid:
            return [stmt.where(has_deadline), stmt.where(no_deadline)], False
        if value is None:
            return [stmt.where(no_deadline, Problem.id > last_id)], True
        return [
            stmt.where(tuple_(Problem.deadline, Problem.id) > tuple_(value, last_id)),
            stmt.where(no_deadline),
        ], True
    # -deadline: the problems without a deadline first (newest first), then the latest deadlines
    if not valid:
        return [stmt.where(no_deadline), stmt.where(has_deadline)], False
    if value is None:
        return [stmt.where(no_deadline, Problem.id < last_id), stmt.where(has_deadline)], True
    return [stmt.where(tuple_(Problem.deadline, Problem.id) < tuple_(value, last_id))], True


def _ordering(sort):
    if sort == "id":
        return [Problem.id.asc()]
    if sort == "deadline":
        return [Problem.deadline.asc().nulls_last(), Problem.id.asc()]
    if sort == "-deadline":
        return [Problem.deadline.desc().nulls_first(), Problem.id.desc()]
    return [Problem.id.desc()]


@dataclass
class LedgerPage:
    items: list
    next_cursor: str | None
    is_first: bool


@dataclass(frozen=True)
class Choice:
    id: int | None
    name: str
    is_active: bool


def filter_choices() -> dict[str, list[Choice]]:
    """The choices of the list filters in one statement: categories (by position), active channels (by
    position), leaders (by name) and campaigns (active first, by name). Creates the default categories
    and channels when their tables are still empty (as ensure_categories / active_channels do)."""
    from sqlalchemy import Integer, literal, null, true, union_all

    from tracker.access.policy import Role
    from tracker.auth.models import User
    from tracker.intake.models import Channel
    from tracker.ledger.models import Campaign, Category

    def part(kind, id_, name, active, *order, where=()):
        rank = func.row_number().over(order_by=order)
        return select(
            literal(kind).label("kind"), id_.label("id"), name.label("name"), active.label("active"), rank.label("rank")
        ).where(*where)

    stmt = union_all(
        part("category", null().cast(Integer), Category.name, true(), Category.position),
        part(
            "channel",
            null().cast(Integer),
            Channel.name,
            Channel.is_active,
            Channel.position,
            where=[Channel.is_active.is_(True)],
        ),
        part("leader", User.id, User.name, User.is_active, User.name, where=[User.role == Role.LEADER]),
        part("campaign", Campaign.id, Campaign.name, Campaign.is_active, Campaign.is_active.desc(), Campaign.name),
    )
    found = {"category": [], "channel": [], "leader": [], "campaign": []}
    for kind, id_, name, active, _rank in sorted(db.session.execute(stmt), key=lambda r: (r.kind, r.rank)):
        found[kind].append(Choice(id_, name, bool(active)))
    if not found["category"]:
        from tracker.triage.services import ensure_categories

        ensure_categories()
        names = db.session.scalars(select(Category.name).order_by(Category.position))
        found["category"] = [Choice(None, n, True) for n in names]
    if not found["channel"]:
        from tracker.intake.services import active_channels

        found["channel"] = [Choice(None, n, True) for n in active_channels()]
    return found


# What the list page reads: these columns of each problem, and of the many-to-one relations it names.
LIST_COLUMNS = ("number", "title", "tier", "is_quick_fix", "channel", "deadline", "status")
LIST_RELATIONS = {"unit": ("name",), "owner": ("name",), "leader": ("name",)}


def ledger_page(
    user, flt: LedgerFilter, size: int = PAGE_SIZE, *, columns=LIST_COLUMNS, relations=LIST_RELATIONS
) -> LedgerPage:
    """One page of the ledger in FLT's order, starting after FLT's cursor. Keyset pagination:
    page 2,000 costs what page 1 costs. The rows come with their RELATIONS (many-to-one: the unit,
    owner and leader that a list names) joined in the same statement.

    Only what the caller reads is loaded: COLUMNS of the problems (None: all of them) and, per
    relation, the columns RELATIONS names (None: all); building 50 rows of every column of four
    tables costs several times the query. A column left out still loads when read, one query per
    object: name every column the caller reads."""
    from sqlalchemy.orm import joinedload, load_only

    options = []
    for name, wanted in relations.items():
        relation = getattr(Problem, name)
        option = joinedload(relation)
        if wanted is not None:
            target = relation.property.mapper.class_
            option = option.load_only(*(getattr(target, c) for c in wanted))
        options.append(option)
    if columns is not None:
        options.append(load_only(*(getattr(Problem, c) for c in columns)))
    stmt = filtered(user, flt).options(*options)
    phases, has_cursor = _phases(stmt, flt.sort, flt.cursor)
    if flt.cursor and not has_cursor:
        flt.ignored.append("cursor")
    rows = []
    for stmt in phases:
        rows += db.session.scalars(stmt.order_by(*_ordering(flt.sort)).limit(size + 1 - len(rows)))
        if len(rows) > size:
            break
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = encode_cursor([last.deadline.isoformat() if last.deadline else None, last.id])
    return LedgerPage(rows, next_cursor, not has_cursor)


# What the summary table can answer: the scope, a unit (with or without its sub-units), 未办结 and
# 即知即改; the list's own tier and status choices are ignored by the bar anyway.
SUMMARY_FIELDS = {"status", "tier", "unit_id", "unit_only", "sort", "cursor", "ignored"}


def counts(user, flt: LedgerFilter) -> dict:
    """Problems per tier and per status for the filter (ignoring its own tier and status choice):
    from problem_counts (kept by triggers) when the filter is one it can answer, else counted live."""
    if _summary_answers(flt):
        rows = db.session.execute(_summary_counts(user, flt)).all()
    else:
        base = filtered(user, flt, for_counts=True).with_only_columns(Problem.tier, Problem.status, func.count())
        rows = db.session.execute(base.group_by(Problem.tier, Problem.status)).all()
    by_tier, by_status = {}, {}
    for tier, status, n in rows:
        by_tier[tier or ""] = by_tier.get(tier or "", 0) + n
        by_status[status] = by_status.get(status, 0) + n
    return {"tier": by_tier, "status": by_status, "total": sum(by_status.values())}


def _summary_answers(flt: LedgerFilter) -> bool:
    default = LedgerFilter()
    return all(getattr(flt, f.name) == getattr(default, f.name) for f in fields(flt) if f.name not in SUMMARY_FIELDS)


def _summary_counts(user, flt: LedgerFilter):
    from tracker.ledger.models import ProblemCount as C

    stmt = select(func.nullif(C.tier, ""), C.status, func.sum(C.problems)).group_by(C.tier, C.status)
    scope = policy.visible_unit_ids(user)
    if scope is not None:
        stmt = stmt.where(C.unit_id.in_(sorted(scope) or [-1]))
    if flt.unit_id and flt.unit_only:
        stmt = stmt.where(C.unit_id == flt.unit_id)
    elif flt.unit_id:
        stmt = stmt.where(C.unit_id.in_(sorted(subtree_ids({flt.unit_id})) or [-1]))
    if flt.status == "open":
        stmt = stmt.where(C.status.in_(OPEN_STATUSES))
    if flt.tier == "quick_fix":
        stmt = stmt.where(C.quick_fix == 1)
    return stmt.having(func.sum(C.problems) > 0)


def days_index(today: date, problems) -> calendar.WorkdayIndex:
    """The working-day index that days_left needs for PROBLEMS: from today to the deadlines of the
    open ones (the others have no days left to count)."""
    deadlines = [p.deadline for p in problems if p.deadline and p.is_open]
    low = min([today, *deadlines]) - timedelta(days=1)
    high = max([today, *deadlines]) + timedelta(days=1)
    return calendar.WorkdayIndex(low, high)


def days_left(problem: Problem, today: date, index=None) -> int | None:
    """Working days left (negative: working days overdue); None without a deadline or when done."""
    if problem.deadline is None or not problem.is_open:
        return None
    between = index.between if index else calendar.workdays_between
    if today > problem.deadline:
        return -between(problem.deadline, today)
    return between(today, problem.deadline)


EXPORT_COLUMNS = [  # (header, width, wrapped)
    ("序号", 6, False),
    ("编号", 15, False),
    ("问题", 30, True),
    ("来源", 11, False),
    ("分级", 6, False),
    ("责任单位", 16, True),
    ("责任人", 8, False),
    ("分管领导", 8, False),
    ("交办日期", 11, False),
    ("整改措施", 30, True),
    ("最新进展", 34, True),
    ("状态", 7, False),
    ("原定时限", 11, False),
    ("现时限", 11, False),
    ("逾期工作日", 7, False),
    ("返工次数", 6, False),
    ("审核意见", 24, True),
    ("销号日期", 11, False),
]
EXPORT_HEADERS = [c[0] for c in EXPORT_COLUMNS]
EXPORT_WIDTHS = [c[1] for c in EXPORT_COLUMNS]
EXPORT_WRAPPED = [i for i, c in enumerate(EXPORT_COLUMNS) if c[2]]
EXPORT_TITLE = "问题整改台账"
# Notes whose text is the "latest progress": the unit's progress and its rectification report.
PROGRESS_KINDS = ("progress", "report")
_BLOCK_END = re.compile(r"(?i)<br\s*/?>|</(p|li|div|h\d)>")
_TAG = re.compile(r"<[^>]*>")


def note_text(body_html: str | None, limit: int = 2000) -> str:
    """A progress note's cleaned HTML as plain text for a spreadsheet cell: one line per paragraph
    or list item. (The HTML was cleaned on write; this only takes the tags away.)"""
    if not body_html:
        return ""
    text = html.unescape(_TAG.sub("", _BLOCK_END.sub("\n", body_html)))
    lines = [line.strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)[:limit]


def export_scope_text(user, flt: LedgerFilter) -> str:
    """Which units an export covers, in words: the filter's unit, else the user's reach."""
    from tracker.org.models import Unit

    if flt.unit_id:
        unit = db.session.get(Unit, flt.unit_id)
        return _("%(u)s（含下级单位）", u=unit.name) if unit else _("（无此单位）")
    scope = policy.visible_unit_ids(user)
    if scope is None:
        return _("全部单位")
    if user.role == policy.Role.LEADER:
        roots = [u.name for u in user.leader_of]
        return _("分管的单位：%(u)s（含下级单位）", u="、".join(roots)) if roots else _("（无分管单位）")
    unit = db.session.get(Unit, user.unit_id) if user.unit_id else None
    return _("%(u)s（含下级单位）", u=unit.name) if unit else _("（无所属单位）")


def export_filter_text(flt: LedgerFilter) -> str:
    """FLT in words, for the title rows of an export."""
    from tracker.auth.models import User
    from tracker.ledger.models import STATUS_LABELS

    parts = []
    if flt.status == "open":
        parts.append(_("状态：未销号"))
    elif flt.status:
        parts.append(_("状态：%(s)s", s=STATUS_LABELS.get(flt.status, flt.status)))
    if flt.tier == "quick_fix":
        parts.append(_("分级：立行立改"))
    elif flt.tier:
        parts.append(_("分级：%(t)s", t=TIER_LABELS_FULL.get(flt.tier, flt.tier)))
    if flt.category:
        parts.append(_("分类：%(c)s", c=flt.category))
    if flt.channel:
        parts.append(_("来源：%(c)s", c=flt.channel))
    if flt.due == "overdue":
        parts.append(_("已逾期"))
    elif flt.due == "soon":
        parts.append(_("即将到期"))
    if flt.assigned_from or flt.assigned_to:
        low = flt.assigned_from.isoformat() if flt.assigned_from else "…"
        high = flt.assigned_to.isoformat() if flt.assigned_to else "…"
        parts.append(_("交办日期：%(a)s 至 %(b)s", a=low, b=high))
    if flt.deadline_from or flt.deadline_to:
        low = flt.deadline_from.isoformat() if flt.deadline_from else "…"
        high = flt.deadline_to.isoformat() if flt.deadline_to else "…"
        parts.append(_("完成时限：%(a)s 至 %(b)s", a=low, b=high))
    if flt.leader_id:
        leader = db.session.get(User, flt.leader_id)
        parts.append(_("分管领导：%(n)s", n=leader.name if leader else "—"))
    if flt.campaign_id:
        from tracker.ledger.models import Campaign

        campaign = db.session.get(Campaign, flt.campaign_id)
        parts.append(_("专项：%(n)s", n=campaign.name if campaign else "—"))
    if flt.unit_only:
        parts.append(_("仅本单位（不含下级单位）"))
    if flt.closed_from or flt.closed_to:
        low = flt.closed_from.isoformat() if flt.closed_from else "…"
        high = flt.closed_to.isoformat() if flt.closed_to else "…"
        parts.append(_("销号日期：%(a)s 至 %(b)s", a=low, b=high))
    if flt.timeliness == "on_time":
        parts.append(_("按期办结（含延期后按期）"))
    elif flt.timeliness:
        from tracker.ledger.models import TIMELINESS_LABELS

        parts.append(str(TIMELINESS_LABELS.get(flt.timeliness, flt.timeliness)))
    if flt.reworked:
        parts.append(_("有返工"))
    if flt.relapsed:
        parts.append(_("有反弹"))
    if flt.q:
        parts.append(_("关键词：%(q)s", q=flt.q))
    return "；".join(parts) if parts else _("无（全部问题）")


TIER_LABELS_FULL = {Tier.RED: "红色", Tier.YELLOW: "黄色", Tier.BLUE: "蓝色"}


def export_time_text() -> str:
    """The as-of line of an export, in local time (Beijing time unless TIMEZONE says otherwise)."""
    zone = clock.timezone()
    zone_name = _("北京时间") if getattr(zone, "key", "") in ("Asia/Shanghai", "PRC", "Asia/Chongqing") else str(zone)
    return _("数据截至：%(t)s（%(z)s）", t=clock.local_now().strftime("%Y-%m-%d %H:%M"), z=zone_name)


def export_title_rows(user, flt: LedgerFilter) -> list[str]:
    """The title rows of a ledger export: title, scope, filter, as-of time (local time)."""
    return [
        EXPORT_TITLE,
        _("范围：%(s)s", s=export_scope_text(user, flt)),
        _("筛选条件：%(f)s", f=export_filter_text(flt)),
        export_time_text(),
    ]


def export_rows(user, flt: LedgerFilter, batch=2000):
    """The ledger rows of FLT for export, as an iterator that streams from the database (no ORM
    objects kept; latest progress notes fetched once per chunk of BATCH rows).

    Everything that needs USER (its scope, lazy relationships) is worked out here, before the
    iterator is returned: a streamed response runs the iterator after the view has returned."""
    from sqlalchemy.orm import aliased

    from tracker.auth.models import User
    from tracker.org.models import Unit

    owner, leader = aliased(User), aliased(User)
    filtered_stmt = filtered(user, flt)
    base = filtered_stmt.subquery()
    stmt = (
        select(
            base.c.id,
            base.c.number,
            base.c.title,
            base.c.channel,
            base.c.tier,
            base.c.is_quick_fix,
            Unit.name,
            owner.name,
            leader.name,
            base.c.assigned_at,
            base.c.measures,
            base.c.status,
            base.c.original_deadline,
            base.c.deadline,
            base.c.rework_count,
            base.c.review_opinion,
            base.c.closed_at,
        )
        .select_from(base)
        .outerjoin(Unit, Unit.id == base.c.unit_id)
        .outerjoin(owner, owner.id == base.c.owner_id)
        .outerjoin(leader, leader.id == base.c.leader_id)
        .order_by(base.c.id)
        .execution_options(yield_per=batch)
    )
    today = clock.today()
    earliest = db.session.scalar(filtered_stmt.with_only_columns(func.min(Problem.deadline)).order_by(None))
    low = min(earliest or today, today) - timedelta(days=1)
    # Overdue counts run up to today (open) or to the sign-off day (closed), both within the window.
    index = calendar.WorkdayIndex(low, today + timedelta(days=1))
    return _export_stream(stmt, index, today, clock.timezone(), batch)


def _latest_notes(problem_ids) -> dict[int, str]:
    """{problem id: its latest progress note as text} for one chunk of an export, in one query."""
    from sqlalchemy import Integer, any_, bindparam
    from sqlalchemy.dialects.postgresql import ARRAY

    from tracker.ledger.models import ProgressNote

    if db.session.get_bind().dialect.name == "postgresql":
        # One array parameter: 2,000 separate IN parameters cost more to send than the query itself.
        chunk = ProgressNote.problem_id == any_(bindparam("ids", list(problem_ids), type_=ARRAY(Integer)))
    else:
        chunk = ProgressNote.problem_id.in_(problem_ids)
    latest = (
        select(func.max(ProgressNote.id))
        .where(chunk, ProgressNote.kind.in_(PROGRESS_KINDS))
        .group_by(ProgressNote.problem_id)
    )
    rows = db.session.execute(
        select(ProgressNote.problem_id, ProgressNote.body_html).where(ProgressNote.id.in_(latest))
    )
    return {problem_id: note_text(body) for problem_id, body in rows}


def _export_stream(stmt, index, today, zone, batch):
    from tracker.ledger.models import STATUS_LABELS, TIER_LABELS

    open_values = {s.value for s in OPEN_STATUSES}
    number = 0
    for chunk in db.session.execute(stmt).partitions(batch):
        notes = _latest_notes([row[0] for row in chunk])
        for row in chunk:
            (pid, code, title, channel, tier, quick, unit, owner_name, leader_name, assigned_at, measures, status,
             original, deadline, reworks, opinion, closed_at) = row  # fmt: skip
            number += 1
            closed_on = closed_at.astimezone(zone).date() if closed_at else None
            overdue = ""
            if deadline and status in open_values:
                overdue = index.between(deadline, today) if today > deadline else 0
            elif deadline and closed_on and status == Status.CLOSED:
                overdue = index.between(deadline, closed_on) if closed_on > deadline else 0
            yield (
                number,
                code,
                title,
                channel or "",
                TIER_LABELS.get(tier, "") + ("（立行立改）" if quick else ""),
                unit or "",
                owner_name or "",
                leader_name or "",
                assigned_at.astimezone(zone).date().isoformat() if assigned_at else "",
                measures or "",
                notes.get(pid, ""),
                STATUS_LABELS.get(status, status),
                original.isoformat() if original else "",
                deadline.isoformat() if deadline else "",
                overdue,
                reworks or 0,
                opinion or "",
                closed_on.isoformat() if closed_on else "",
            )

"""Unit ranking (排名通报): per responsible unit and period, what it received, closed and how on time,
what is overdue now, rework, relapses, follow-up satisfaction and supervision notices; one module
feeds the page, the 通报 draft, the Excel file and the API, so that they give the same numbers.

What each figure counts (口径; the page shows the same in Chinese, see NOTES):

- Rows: one per responsible unit in the caller's scope (tracker.access.policy.visible_unit_ids,
  optionally narrowed to one unit's subtree) that has anything to count. Every figure counts the
  unit's OWN problems and records (``unit_id`` equal to the unit, not its sub-units): the
  drill-downs are ledger filters with ``unit=<id>&unit_only=1``.
- received (受理): intake records of the unit received in the period (``received_at``), except
  records taken out by an upheld appeal (``is_excluded``): they do not count against the unit.
  Not a link: the inbox's unit filter includes sub-units and does not leave out upheld appeals.
- assigned (交办): problems assigned to the unit in the period (``assigned_at``); ledger
  ``assigned_from/assigned_to``.
- closed (办结): problems signed off in the period (``closed_at``; a reopened problem no longer
  counts); ledger ``closed_from/closed_to``. Of those, by the stored ``close_timeliness``:
  on_time_original (按原定时限办结), on_time_extended (after the original deadline but by the one
  an approved extension set, 延期后按期办结) and late (逾期办结); ledger ``timeliness=…``.
  A problem that never had a deadline is closed but in none of the three.
- on_time_rate (按期办结率) = (on_time_original + on_time_extended) / closed, and original_rate
  (按原定时限办结率) = on_time_original / closed; percentages with one decimal, None when nothing
  was closed.
- overdue_now (当前逾期): open problems of the unit past their deadline today, whatever the period
  (ledger ``due=overdue``).
- avg_working_days (平均办结用时): the mean of ``close_workdays`` (working days from assignment to
  sign-off) over the problems closed in the period, one decimal.
- rework / relapse (返工 / 反弹): problems assigned in the period that were sent back at least once
  (``rework_count > 0``) / failed a re-inspection after closing (``relapse_count > 0``); ledger
  ``assigned_from/assigned_to&reworked=1`` / ``relapsed=1``.
- followed_up, satisfied, satisfaction_rate (回访, 满意, 满意率): tracker.oversight.figures.by_unit
  for the period: calls that reached the complainant or were the last unanswered try; 满意 +
  基本满意; (满意 + 基本满意) / reached, as a percentage.
- notices (督办单): supervision notices issued to the unit in the period (``issued_at``).
- Order and rank (名次): units that closed something in the period or have something overdue now
  are ranked, by 按期办结率 descending (a unit that closed nothing counts 0 %), then overdue_now
  ascending; equal values share a rank. The other units are listed after, without a rank. Any
  column can sort the table (None last either way); the rank does not change with the sort.
- flagged (连续排名靠后，建议约谈): ranked units at the bottom of this period AND of the previous one
  (Period.previous()): the bottom 3, or the bottom 10 % (rounded up) when more than 30 units are
  ranked, never more than half of the ranked units. (overdue_now is today's in both periods.)

Speed: one grouped query per kind of figure over all units (never one per unit); the previous
period's ranking needs only its closing query (overdue_now is today's for both)."""

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from flask_babel import gettext as _
from sqlalchemy import case, func, select

from tracker.access import policy
from tracker.alerts.models import SupervisionNotice
from tracker.core import clock
from tracker.core.errors import NotFound
from tracker.core.inputs import parse_id
from tracker.core.words import N_
from tracker.extensions import db
from tracker.intake.models import IntakeDailyCount
from tracker.ledger.models import OPEN_STATUSES, Problem, Timeliness
from tracker.org.models import Unit
from tracker.org.queries import subtree_ids
from tracker.oversight import figures
from tracker.reports import periods

TITLE = N_("责任单位整改情况排名")
FLAG_TEXT = N_("连续排名靠后，建议约谈")
BOTTOM_COUNT = 3  # units at the bottom of a ranking …
BOTTOM_SHARE_FROM = 30  # … or, with more ranked units than this, the bottom 10 %
BOTTOM_SHARE = 0.1

# (key, header, width in the Excel file). The order of the table, the print and the file.
COLUMNS = [
    ("rank", N_("名次"), 6),
    ("unit", N_("责任单位"), 20),
    ("received", N_("受理"), 7),
    ("assigned", N_("交办"), 7),
    ("closed", N_("办结"), 7),
    ("on_time_original", N_("按原定时限办结"), 9),
    ("on_time_extended", N_("延期后按期办结"), 9),
    ("late", N_("逾期办结"), 7),
    ("on_time_rate", N_("按期办结率"), 9),
    ("original_rate", N_("按原定时限办结率"), 10),
    ("overdue_now", N_("当前逾期"), 7),
    ("avg_working_days", N_("平均办结用时（工作日）"), 10),
    ("rework", N_("返工"), 6),
    ("relapse", N_("反弹"), 6),
    ("followed_up", N_("回访"), 6),
    ("satisfied", N_("满意（含基本满意）"), 9),
    ("satisfaction_rate", N_("满意率"), 8),
    ("notices", N_("督办单"), 7),
]
RATE_COLUMNS = ("on_time_rate", "original_rate", "satisfaction_rate")
SORT_COLUMNS = {key for key, _label, _width in COLUMNS} | {"unit_code"}

# The definitions as the page, the print and the Excel file show them (口径说明).
NOTES = [
    N_("统计对象：可查看范围内本期有数据的责任单位；各项只计本单位的问题和反映件，不含下级单位。"),
    N_("受理：本期收到的反映件，经申诉复核成立而不计入的除外；交办：本期交办给该单位的问题。"),
    N_(
        "办结：本期销号的问题；其中按原定时限办结、延期后按期办结（超过原定时限但在批准延期的时限内）、"
        "逾期办结分开统计。"
    ),
    N_("按期办结率 =（按原定时限办结 + 延期后按期办结）÷ 办结；按原定时限办结率 = 按原定时限办结 ÷ 办结。"),
    N_(
        "当前逾期：截至今日已过时限仍未销号的问题，不受统计周期限制；平均办结用时：本期办结问题从交办到销号的工作日均值。"
    ),
    N_("返工、反弹：本期交办的问题中被退回重改过的、销号后复查未通过的。"),
    N_(
        "回访、满意：本期回访情况（满意含基本满意），满意率 =（满意 + 基本满意）÷ 回访接通数；督办单：本期向该单位发出的督办单。"
    ),
    N_(
        "排名：本期有办结或当前有逾期的单位参与排名，按期办结率从高到低（本期无办结按 0 计），相同时当前逾期少者在前；"
        "本期和上一期均排在末 3 位（参与排名单位超过 30 个时为末十分之一）的单位标注“连续排名靠后，建议约谈”。"
    ),
]


@dataclass
class RankingRow:
    unit_id: int | None
    unit_code: str
    unit: str
    received: int = 0
    assigned: int = 0
    closed: int = 0
    on_time_original: int = 0
    on_time_extended: int = 0
    late: int = 0
    overdue_now: int = 0
    avg_working_days: float | None = None
    rework: int = 0
    relapse: int = 0
    followed_up: int = 0
    satisfied: int = 0
    reached: int = 0  # calls that reached the complainant: the denominator of the satisfaction rate
    notices: int = 0
    rank: int | None = None
    flagged: bool = False
    # Working days summed over the closed problems that have them, and how many: the mean of a total.
    workdays_sum: int = field(default=0, repr=False)
    workdays_count: int = field(default=0, repr=False)

    @property
    def on_time_rate(self) -> float | None:
        return _percent(self.on_time_original + self.on_time_extended, self.closed)

    @property
    def original_rate(self) -> float | None:
        return _percent(self.on_time_original, self.closed)

    @property
    def satisfaction_rate(self) -> float | None:
        return _percent(self.satisfied, self.reached)

    @property
    def is_ranked(self) -> bool:
        return bool(self.closed or self.overdue_now)

    def add(self, other: "RankingRow") -> None:
        for name in [
            "received",
            "assigned",
            "closed",
            "on_time_original",
            "on_time_extended",
            "late",
            "overdue_now",
            "rework",
            "relapse",
            "followed_up",
            "satisfied",
            "reached",
            "notices",
            "workdays_sum",
            "workdays_count",
        ]:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.avg_working_days = _mean(self.workdays_sum, self.workdays_count)

    def value(self, key):
        return getattr(self, key)

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in API_FIELDS}


API_FIELDS = [
    "unit_id",
    "unit_code",
    "unit",
    "received",
    "assigned",
    "closed",
    "on_time_original",
    "on_time_extended",
    "late",
    "on_time_rate",
    "original_rate",
    "overdue_now",
    "avg_working_days",
    "rework",
    "relapse",
    "followed_up",
    "satisfied",
    "satisfaction_rate",
    "notices",
    "rank",
    "flagged",
]


def _percent(part, whole):
    return round(part * 100 / whole, 1) if whole else None


def _mean(total, count):
    return round(total / count, 1) if count else None


@dataclass
class Ranking:
    period: periods.Period
    rows: list[RankingRow]
    totals: RankingRow
    flagged: list[RankingRow]
    within: Unit | None = None
    sort: str = ""
    direction: str = "asc"


def build(user, period, *, sort=None, direction="asc", within=None) -> Ranking:
    """The ranking of PERIOD for USER's units (WITHIN: a Unit, to rank only its subtree), with the
    flags from the previous period, ordered by SORT (a column key; None: by rank) in DIRECTION."""
    scope = _scope(user, within)
    overdue = _overdue(scope)
    rows = _ranked(_collect(user, period, scope, overdue))
    previous = _ranked(_collect(user, period.previous(), scope, overdue, keys_only=True))
    at_bottom_before = {row.unit_id for row in _bottom(previous)}
    for row in _bottom(rows):
        row.flagged = row.unit_id in at_bottom_before
    sort = sort if sort in SORT_COLUMNS else ""
    direction = "desc" if direction == "desc" else "asc"
    if sort:
        rows = _sorted(rows, sort, direction)
    return Ranking(period, rows, totals(rows), [r for r in rows if r.flagged], within, sort, direction)


def rows(user, period, sort=None, direction="asc", within=None) -> list[RankingRow]:
    """The rows of the ranking (see build)."""
    return build(user, period, sort=sort, direction=direction, within=within).rows


def totals(rows) -> RankingRow:
    """ROWS added up (the rates worked out from the sums)."""
    total = RankingRow(None, "", _("合计"))
    for row in rows:
        total.add(row)
    return total


def _scope(user, within):
    """The unit ids to count (None: all units)."""
    scope = policy.visible_unit_ids(user)
    if within is not None:
        subtree = subtree_ids({within.id})
        scope = subtree if scope is None else scope & subtree
    return scope


def _where(column, scope):
    """The scope condition: none for all units (the rows of no unit are dropped when collected; a
    `unit_id IS NOT NULL` would lead SQLite to a unit-first index that does not cover the figure)."""
    return [] if scope is None else [column.in_(sorted(scope) or [-1])]


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _overdue(scope) -> dict[int, int]:
    """{unit id: open problems past their deadline today}: the same for every period."""
    return dict(
        db.session.execute(
            select(Problem.unit_id, func.count())
            .where(Problem.status.in_(OPEN_STATUSES), Problem.deadline < clock.today(), *_where(Problem.unit_id, scope))
            .group_by(Problem.unit_id)
        ).all()
    )


def _collect(user, period, scope, overdue, keys_only=False) -> dict[int, RankingRow]:
    """{unit id: its row} for PERIOD: one grouped query per kind of figure; OVERDUE is _overdue's
    answer. KEYS_ONLY: only what the order needs (closings and overdue now), for the previous period."""
    start, end = period.bounds()
    found: dict[int, dict] = {}

    def put(unit_id, **values):
        if unit_id is not None:  # figures of no unit (not yet assigned) belong to no row
            found.setdefault(unit_id, {}).update(values)

    closed = db.session.execute(
        select(
            Problem.unit_id,
            func.count(),
            _count_if(Problem.close_timeliness == Timeliness.ORIGINAL),
            _count_if(Problem.close_timeliness == Timeliness.EXTENDED),
            _count_if(Problem.close_timeliness == Timeliness.LATE),
            func.coalesce(func.sum(Problem.close_workdays), 0),
            func.count(Problem.close_workdays),
        )
        .where(Problem.closed_at >= start, Problem.closed_at < end, *_where(Problem.unit_id, scope))
        .group_by(Problem.unit_id)
    )
    for unit_id, n, original, extended, late, days, days_n in closed:
        put(
            unit_id,
            closed=n,
            on_time_original=int(original),
            on_time_extended=int(extended),
            late=int(late),
            workdays_sum=int(days),
            workdays_count=days_n,
        )
    for unit_id, n in overdue.items():
        put(unit_id, overdue_now=n)
    if not keys_only:
        _collect_the_rest(user, period, scope, put)
    units = {}
    if found and not keys_only:  # the previous period's rows need no names
        units = {
            unit_id: (code, name)
            for unit_id, code, name in db.session.execute(
                select(Unit.id, Unit.code, Unit.name).where(Unit.id.in_(sorted(found)))
            )
        }
    result = {}
    for unit_id, values in found.items():
        code, name = units.get(unit_id, ("", ""))
        row = RankingRow(unit_id, code, name, **values)
        row.avg_working_days = _mean(row.workdays_sum, row.workdays_count)
        result[unit_id] = row
    return result


def _collect_the_rest(user, period, scope, put):
    start, end = period.bounds()
    # From the per-day summary the triggers keep (tracker/intake/counts.py): a quarter is a few
    # thousand rows instead of a million records. Unit 0 holds the records that name no unit.
    received = db.session.execute(
        select(IntakeDailyCount.unit_id, func.sum(IntakeDailyCount.counted))
        .where(
            IntakeDailyCount.day >= period.start,
            IntakeDailyCount.day <= period.end,
            *_where(IntakeDailyCount.unit_id, scope),
        )
        .group_by(IntakeDailyCount.unit_id)
    )
    for unit_id, n in received:
        if unit_id and n:
            put(unit_id, received=int(n))
    assigned = db.session.execute(
        select(Problem.unit_id, func.count(), _count_if(Problem.rework_count > 0), _count_if(Problem.relapse_count > 0))
        .where(Problem.assigned_at >= start, Problem.assigned_at < end, *_where(Problem.unit_id, scope))
        .group_by(Problem.unit_id)
    )
    for unit_id, n, rework, relapse in assigned:
        put(unit_id, assigned=n, rework=int(rework), relapse=int(relapse))
    notices = db.session.execute(
        select(SupervisionNotice.unit_id, func.count())
        .where(
            SupervisionNotice.issued_at >= start,
            SupervisionNotice.issued_at < end,
            *_where(SupervisionNotice.unit_id, scope),
        )
        .group_by(SupervisionNotice.unit_id)
    )
    for unit_id, n in notices:
        put(unit_id, notices=n)
    for unit_id, fig in figures.by_unit(period.start, period.end, scope, user=user, kinds=("calls",)).items():
        if unit_id is not None and (fig.followed_up or fig.reached):
            put(
                unit_id,
                followed_up=fig.followed_up,
                satisfied=fig.satisfied + fig.basically_satisfied,
                reached=fig.reached,
            )


def _order_key(row):
    return (-(row.on_time_rate or 0.0), row.overdue_now)


def _ranked(by_unit: dict[int, RankingRow]) -> list[RankingRow]:
    """The rows in rank order, each ranked row with its rank (equal keys share one)."""
    ranked = sorted((r for r in by_unit.values() if r.is_ranked), key=lambda r: (_order_key(r), r.unit_code))
    rank, last = 0, None
    for position, row in enumerate(ranked, start=1):
        key = _order_key(row)
        if key != last:
            rank, last = position, key
        row.rank = rank
    rest = sorted((r for r in by_unit.values() if not r.is_ranked), key=lambda r: r.unit_code)
    return ranked + rest


def bottom_size(ranked: int) -> int:
    """How many of RANKED units count as the bottom of a ranking."""
    size = math.ceil(ranked * BOTTOM_SHARE) if ranked > BOTTOM_SHARE_FROM else BOTTOM_COUNT
    return min(size, ranked // 2)


def _bottom(rows) -> list[RankingRow]:
    ranked = [r for r in rows if r.rank is not None]
    cut = len(ranked) - bottom_size(len(ranked))
    return [r for r in ranked if r.rank > cut]


def _sorted(rows, key, direction):
    present = [r for r in rows if r.value(key) is not None]
    missing = [r for r in rows if r.value(key) is None]
    present.sort(key=lambda r: r.value(key), reverse=direction == "desc")
    return present + missing


# ---- drill-downs: the ledger filter behind each number ------------------------------------------

DRILLS = {
    "assigned": ("assigned", {}),
    "closed": ("closed", {}),
    "on_time_original": ("closed", {"timeliness": Timeliness.ORIGINAL.value}),
    "on_time_extended": ("closed", {"timeliness": Timeliness.EXTENDED.value}),
    "late": ("closed", {"timeliness": Timeliness.LATE.value}),
    "overdue_now": (None, {"due": "overdue"}),
    "rework": ("assigned", {"reworked": 1}),
    "relapse": ("assigned", {"relapsed": 1}),
}


def drill(key, period, unit_id=None, within=None) -> dict | None:
    """The `ledger.index` query arguments whose list holds exactly the problems counted in column KEY
    of UNIT_ID's row (None: the totals row, over WITHIN's subtree when the ranking is narrowed to a
    unit), or None when the column is not a count of problems."""
    if key not in DRILLS:
        return None
    field_name, extra = DRILLS[key]
    args = dict(period.ledger_args(field_name)) if field_name else {}
    args.update(extra)
    if unit_id is not None:
        args.update(unit=unit_id, unit_only=1)
    elif within is not None:
        args.update(unit=within.id)
    return args


def received_drill(period, unit_id) -> dict | None:
    """The `intake.inbox` query arguments listing exactly the records counted as 受理 in UNIT_ID's row:
    the unit alone, received in the period, not excluded by an upheld appeal. None for the totals row
    (it also counts records that name no unit, which no inbox filter selects)."""
    if unit_id is None:
        return None
    return {
        "handling": "all",
        "unit": unit_id,
        "unit_only": 1,
        "counted": 1,
        "date_from": period.start.isoformat(),
        "date_to": period.end.isoformat(),
    }


# ---- shared words: scope, title, the paragraph of the 通报 -----------------------------------------


def scope_text(user, within=None) -> str:
    if within is not None:
        return _("%(u)s及下级单位", u=within.name)
    from tracker.ledger.queries import LedgerFilter, export_scope_text

    return export_scope_text(user, LedgerFilter())


def cell_text(row, key) -> str:
    """A cell as the page and the print show it: rates with %, None as —."""
    value = row.value(key)
    if key == "rank" and value is None:
        return "—"
    if value is None:
        return "—"
    if key in RATE_COLUMNS:
        return f"{value:.1f}%"
    if key == "avg_working_days":
        return f"{value:.1f}"
    return str(value)


def summary(ranking: Ranking) -> str:
    """The paragraph of the 通报: the totals in words and the units flagged."""
    t = ranking.totals
    text = _(
        "%(p)s，共受理反映件 %(r)d 件，交办问题 %(a)d 件，办结 %(c)d 件，其中按原定时限办结 %(o)d 件、"
        "延期后按期办结 %(e)d 件、逾期办结 %(l)d 件，按期办结率 %(rate)s，按原定时限办结率 %(orate)s；"
        "截至目前逾期未办结 %(d)d 件；回访 %(f)d 件，满意率 %(s)s；发出督办单 %(n)d 份。",
        p=ranking.period.label,
        r=t.received,
        a=t.assigned,
        c=t.closed,
        o=t.on_time_original,
        e=t.on_time_extended,
        l=t.late,
        rate=cell_text(t, "on_time_rate"),
        orate=cell_text(t, "original_rate"),
        d=t.overdue_now,
        f=t.followed_up,
        s=cell_text(t, "satisfaction_rate"),
        n=t.notices,
    )
    if ranking.flagged:
        names = "、".join(r.unit for r in ranking.flagged)
        text += _("%(u)s连续两期排名靠后，建议约谈。", u=names)
    return text


def as_of_text() -> str:
    from tracker.ledger.queries import export_time_text

    return export_time_text()


def date_text() -> str:
    """Today as the 落款 date: 2026年12月2日."""
    today = clock.today()
    return _("%(y)d年%(m)d月%(d)d日", y=today.year, m=today.month, d=today.day)


def document_title(period) -> str:
    return _("关于%(p)s问题整改情况的通报（征求意见稿）", p=period.label)


# ---- the API and the Excel file ------------------------------------------------------------------


def within_from_args(user, args) -> Unit | None:
    """The unit `unit=<id>` asks to rank within; NotFound for a unit the user may not see."""
    value = (args.get("unit") or "").strip()
    if not value:
        return None
    unit_id = parse_id(value)
    unit = db.session.get(Unit, unit_id) if unit_id else None
    scope = policy.visible_unit_ids(user)
    if unit is None or (scope is not None and unit.id not in scope):
        raise NotFound(_("未找到该单位。"))
    return unit


def api_payload(user, args) -> dict:
    """GET /api/v1/reports/ranking: `from`/`to` or `period=quarter&quarter=2026-Q4` (default the
    current quarter), `unit`, `sort`, `dir`. Raises ValidationFailed for a bad period, NotFound for
    a unit outside the user's units."""
    period = periods.parse(args, "quarter")
    within = within_from_args(user, args)
    ranking = build(user, period, sort=args.get("sort"), direction=args.get("dir", "asc"), within=within)
    return {
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "label": period.label,
        "items": [row.as_dict() for row in ranking.rows],
        "totals": {k: v for k, v in ranking.totals.as_dict().items() if k not in ("unit_id", "unit_code", "rank")},
    }


def xlsx_headers() -> list[str]:
    headers = [_(label) for _key, label, _width in COLUMNS]
    headers.insert(1, _("单位编码"))
    return [*headers, _("备注")]


def xlsx_rows(ranking: Ranking) -> list[list]:
    """The data rows of the Excel file, the totals last. Numbers stay numbers (rates in %)."""
    result = []
    for row in [*ranking.rows, ranking.totals]:
        line = [row.value(key) if row.value(key) is not None else "" for key, _label, _width in COLUMNS]
        line.insert(1, row.unit_code)
        line.append(_(FLAG_TEXT) if row.flagged else "")
        result.append(line)
    return result


def xlsx_title_rows(user, ranking: Ranking) -> list[str]:
    from tracker.ledger.queries import export_time_text

    return [
        _(TITLE),
        _("统计周期：%(p)s（%(a)s 至 %(b)s）", p=ranking.period.label, a=ranking.period.start, b=ranking.period.end),
        _("范围：%(s)s", s=scope_text(user, ranking.within)),
        export_time_text(),
        _("口径说明：") + "".join(_(n) for n in NOTES),
    ]


def xlsx_spec(user, ranking: Ranking) -> tuple[list, list, str, dict]:
    """(headers, rows, filename, layout for write_xlsx) of the ranking's Excel file."""
    widths = [width for _key, _label, width in COLUMNS]
    widths.insert(1, 10)
    layout = {
        "sheet_name": _(TITLE)[:31],
        "widths": [*widths, 20],
        "title_rows": xlsx_title_rows(user, ranking),
        "wrapped": [2],
        "for_print": True,
    }
    filename = f"{_(TITLE)}-{ranking.period.start.isoformat()}-{ranking.period.end.isoformat()}.xlsx"
    return xlsx_headers(), xlsx_rows(ranking), filename, layout


def xlsx_attachment(user, period) -> tuple[str, bytes]:
    """(file name, XLSX bytes) of PERIOD's ranking for USER: the weekly e-mail's attachment."""
    from tracker.excel.services import write_xlsx

    headers, data, filename, layout = xlsx_spec(user, build(user, period))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ranking.xlsx"
        write_xlsx(path, headers, data, **layout)
        return filename, path.read_bytes()

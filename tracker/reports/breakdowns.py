"""Breakdowns (分类统计): problems and intake records of a period per category or per channel, each
figure read with the ledger's (or the inbox's) own filter so that every number equals the list it
links to."""

from dataclasses import dataclass, field

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func

from tracker.core import clock
from tracker.extensions import db
from tracker.intake import queries as intake_queries
from tracker.intake.models import IntakeRecord
from tracker.ledger import queries as ledger_queries
from tracker.ledger.models import OPEN_STATUSES, Problem, Timeliness
from tracker.reports.periods import Period

DIMENSIONS = {"category": _l("问题类别"), "channel": _l("来源渠道")}
FIGURES = ("assigned", "open", "overdue", "closed", "on_time", "records")
FIGURE_LABELS = {
    "assigned": _l("期内交办"),
    "open": _l("其中未办结"),
    "overdue": _l("其中已逾期"),
    "closed": _l("期内销号"),
    "on_time": _l("其中按期销号"),
    "records": _l("期内反映件"),
}
EXPORT_WIDTHS = [22, 11, 11, 11, 11, 13, 11]
CHART_ROWS = 15
TOTAL = ""  # the key of the totals row in links(); rows without a name have the key None and no links


@dataclass
class Row:
    """One category or channel; NAME is None for the problems and records that have none."""

    name: str | None
    assigned: int = 0
    open: int = 0
    overdue: int = 0
    closed: int = 0
    on_time: int = 0
    records: int = 0

    @property
    def label(self) -> str:
        return self.name if self.name else _("（未填写）")

    def figures(self) -> dict:
        return {name: getattr(self, name) for name in FIGURES}


@dataclass
class Breakdown:
    period: Period
    dim: str
    rows: list[Row] = field(default_factory=list)
    total: Row = field(default_factory=lambda: Row(None))

    @property
    def is_empty(self) -> bool:
        return not any(self.total.figures().values())


def dimension(args) -> str:
    """The dimension the query string asks for (category unless it says channel)."""
    dim = (args.get("dim") or "").strip()
    return dim if dim in DIMENSIONS else "category"


def breakdown(user, period: Period, dim: str) -> Breakdown:
    """The figures of PERIOD per DIM (category | channel) over what USER may see: three grouped
    queries (problems assigned in the period, problems closed in it, records received in it), each on
    the same SELECT the ledger or the inbox runs for the link the number carries."""
    today = clock.today()
    start, end = period.start, period.end

    assigned_stmt = ledger_queries.filtered(user, ledger_queries.LedgerFilter(assigned_from=start, assigned_to=end))
    key = getattr(Problem, dim)
    is_open = Problem.status.in_(OPEN_STATUSES)
    assigned = db.session.execute(
        assigned_stmt.with_only_columns(
            key,
            func.count(),
            func.sum(case((is_open, 1), else_=0)),
            func.sum(case((is_open & (Problem.deadline < today), 1), else_=0)),
        ).group_by(key)
    ).all()

    closed_stmt = ledger_queries.filtered(user, ledger_queries.LedgerFilter(closed_from=start, closed_to=end))
    on_time = Problem.close_timeliness.in_((Timeliness.ORIGINAL, Timeliness.EXTENDED))
    closed = db.session.execute(
        closed_stmt.with_only_columns(key, func.count(), func.sum(case((on_time, 1), else_=0))).group_by(key)
    ).all()

    records_stmt = intake_queries.visible_records(
        user, intake_queries.InboxFilter(handling="all", date_from=start, date_to=end)
    ).order_by(None)
    record_key = getattr(IntakeRecord, dim)
    records = db.session.execute(records_stmt.with_only_columns(record_key, func.count()).group_by(record_key)).all()

    rows: dict[str | None, Row] = {}

    def row(name):
        name = name or None  # an empty string and NULL both mean "not filled in"
        return rows.setdefault(name, Row(name))

    for name, n, n_open, n_overdue in assigned:
        item = row(name)
        item.assigned += n
        item.open += int(n_open or 0)
        item.overdue += int(n_overdue or 0)
    for name, n, n_on_time in closed:
        item = row(name)
        item.closed += n
        item.on_time += int(n_on_time or 0)
    for name, n in records:
        row(name).records += n

    result = Breakdown(period, dim)
    result.rows = sorted(
        rows.values(), key=lambda r: (r.name is None, -r.assigned, -r.records, -r.closed, r.name or "")
    )
    for item in result.rows:
        for name in FIGURES:
            setattr(result.total, name, getattr(result.total, name) + getattr(item, name))
    return result


def ledger_args(period: Period, dim: str, name: str | None, figure: str) -> dict | None:
    """The ledger query arguments whose list has exactly FIGURE's problems for NAME (None: every
    category or channel together, for the totals row). None when no ledger filter gives that count
    (the problems without a category or channel) or for the records figure."""
    if figure == "records":
        return None
    args = {dim: name} if name else {}
    if figure in ("assigned", "open", "overdue"):
        args |= period.ledger_args("assigned")
        if figure == "open":
            args["status"] = "open"
        elif figure == "overdue":
            args["due"] = "overdue"
    else:
        args |= period.ledger_args("closed")
        if figure == "on_time":
            args["timeliness"] = "on_time"
    return args


def inbox_args(period: Period, dim: str, name: str | None) -> dict | None:
    """The inbox query arguments listing exactly the records counted for NAME; None where the inbox
    has no such filter (a category, or records without a channel)."""
    if name and dim != "channel":
        return None
    args = {"handling": "all", "date_from": period.start.isoformat(), "date_to": period.end.isoformat()}
    if name:
        args["channel"] = name
    return args


def links(result: Breakdown) -> dict:
    """{(name, figure): ("ledger.index" | "intake.inbox", args)} for every number that has a drill-down;
    (TOTAL, figure) is the totals row. The row without a name has no links: no filter lists exactly it."""
    out = {}
    for item in result.rows:
        if item.name is None:
            continue
        for figure in FIGURES:
            target = _target(result, item.name, figure)
            if target:
                out[(item.name, figure)] = target
    for figure in FIGURES:
        target = _target(result, None, figure)
        if target:
            out[(TOTAL, figure)] = target
    return out


def _target(result, name, figure):
    if figure == "records":
        args = inbox_args(result.period, result.dim, name)
        return ("intake.inbox", args) if args else None
    return "ledger.index", ledger_args(result.period, result.dim, name, figure)


def chart_data(result: Breakdown, href) -> dict:
    """The bar chart of problems assigned per named row (at most CHART_ROWS, the largest first), for
    static/js/charts.js; HREF turns a links() target into a URL, so that a click opens that list."""
    targets = links(result)
    named = [r for r in result.rows if r.name is not None and r.assigned][:CHART_ROWS]
    return {
        "labels": [r.label for r in named],
        "series": [
            {
                "name": str(FIGURE_LABELS["assigned"]),
                "data": [r.assigned for r in named],
                "links": [href(targets[(r.name, "assigned")]) for r in named],
            }
        ],
        "color": "#2e6db4",
    }


# ---- export --------------------------------------------------------------------------------------


def export_title(dim: str) -> str:
    return _("分类统计（按%(d)s）", d=DIMENSIONS[dim])


def export_headers(dim: str) -> list[str]:
    return [str(DIMENSIONS[dim])] + [str(FIGURE_LABELS[name]) for name in FIGURES]


def export_rows(result: Breakdown) -> list[list]:
    rows = [[item.label, *item.figures().values()] for item in result.rows]
    rows.append([_("合计"), *result.total.figures().values()])
    return rows


def export_title_rows(user, result: Breakdown) -> list[str]:
    scope = ledger_queries.export_scope_text(user, ledger_queries.LedgerFilter())
    return [
        export_title(result.dim),
        _("统计周期：%(p)s（%(a)s 至 %(b)s）", p=result.period.label, a=result.period.start, b=result.period.end),
        _("范围：%(s)s", s=scope),
        _("说明：期内交办、未办结、逾期按交办日期统计；销号、按期销号按销号日期统计；按期含经批准延期后按期。"),
        ledger_queries.export_time_text(),
    ]

"""The three lists (问题清单、责任清单、任务清单) of a period or of a campaign (专项): one query each that
feeds the page, the printed document and the Excel file.

A list covers the problems assigned in a period, or, when a campaign is chosen, every problem of that
campaign whatever its dates. Both are ledger filters (`assigned_from`/`assigned_to` or `campaign`),
so that each count on a list links to a ledger page with exactly that many problems."""

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from tracker.auth.models import User
from tracker.core import clock
from tracker.core.errors import ValidationFailed
from tracker.core.inputs import parse_id
from tracker.core.pagination import Page, page_number
from tracker.extensions import db
from tracker.ledger import queries as ledger_queries
from tracker.ledger.models import (
    OPEN_STATUSES,
    STATUS_LABELS,
    TIER_LABELS,
    Campaign,
    Milestone,
    Problem,
    Status,
)
from tracker.org.models import Unit, leader_units
from tracker.reports import periods

PAGE_SIZE = 50
PRINT_MAX = 3000  # rows on one printed document; the Excel file has them all


# ---- what a list covers --------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The problems a list covers: those assigned in PERIOD, or every problem of CAMPAIGN."""

    period: periods.Period
    campaign: Campaign | None = None

    @property
    def label(self) -> str:
        if self.campaign is not None:
            return _("专项：%(n)s", n=self.campaign.name)
        if self.period.kind == "custom":  # its label is the dates already
            return _("交办时间：%(p)s", p=self.period.label)
        return _("交办时间：%(p)s（%(a)s 至 %(b)s）", p=self.period.label, a=self.period.start, b=self.period.end)

    def ledger_filter(self) -> ledger_queries.LedgerFilter:
        return ledger_queries.LedgerFilter.from_args(self.ledger_args())

    def ledger_args(self, **extra) -> dict:
        """The ledger filter of the scope as query arguments, plus EXTRA (unit, status…)."""
        if self.campaign is not None:
            return {"campaign": self.campaign.id, **extra}
        return {**self.period.ledger_args("assigned"), **extra}

    def args(self) -> dict:
        """The scope as query arguments of the list pages (links between them, downloads)."""
        if self.campaign is not None:
            return {"campaign": self.campaign.id}
        return self.period.args()


def parse_scope(args) -> Scope:
    """The scope the query arguments ask for: `campaign=<id>` (any period arguments are then not
    used), else the period (periods.parse, a month by default). Raises ValidationFailed for a bad
    period or a campaign that does not exist."""
    raw = (args.get("campaign") or "").strip()
    if raw:
        campaign = db.session.get(Campaign, parse_id(raw)) if parse_id(raw) else None
        if campaign is None:
            raise ValidationFailed(_("未找到该专项。"), {"campaign": _("未找到该专项。")})
        return Scope(periods.parse({}, "month"), campaign)
    return Scope(periods.parse(args, "month"))


def campaigns() -> list[Campaign]:
    """Every campaign for the selects, the active ones first."""
    return list(db.session.scalars(select(Campaign).order_by(Campaign.is_active.desc(), Campaign.name)))


def title_rows(user, title: str, scope: Scope) -> list[str]:
    """The title rows of a list's Excel file: name, what it covers, whose units, as-of time."""
    return [
        title,
        scope.label,
        _("范围：%(s)s", s=ledger_queries.export_scope_text(user, ledger_queries.LedgerFilter())),
        ledger_queries.export_time_text(),
    ]


def count(user, scope: Scope) -> int:
    """How many problems the scope holds for USER: the total of the ledger link."""
    stmt = ledger_queries.filtered(user, scope.ledger_filter()).order_by(None)
    return db.session.scalar(stmt.with_only_columns(func.count()))


def _local_day(value):
    return value.astimezone(clock.timezone()).date() if value else None


def _tier_text(tier, quick_fix) -> str:
    text = _(TIER_LABELS[tier]) if tier in TIER_LABELS else ""
    return text + (_("（立行立改）") if quick_fix else "")


def _status_text(status) -> str:
    return _(STATUS_LABELS[status]) if status in STATUS_LABELS else ""


def _iso(day) -> str:
    return day.isoformat() if day else ""


# ---- 问题清单 ------------------------------------------------------------------------------------

PROBLEM_TITLE = _l("问题清单")
PROBLEM_COLUMNS = [  # (header, Excel width, wrapped)
    (_l("序号"), 6, False),
    (_l("编号"), 15, False),
    (_l("问题"), 30, True),
    (_l("分类"), 10, False),
    (_l("来源"), 11, False),
    (_l("分级"), 8, False),
    (_l("责任单位"), 16, True),
    (_l("责任人"), 8, False),
    (_l("分管领导"), 8, False),
    (_l("整改措施"), 34, True),
    (_l("完成时限"), 11, False),
    (_l("状态"), 7, False),
    (_l("销号日期"), 11, False),
]


def _problem_select(user, scope: Scope):
    owner, leader = aliased(User), aliased(User)
    base = ledger_queries.filtered(user, scope.ledger_filter()).subquery()
    return (
        select(
            base.c.number,
            base.c.title,
            base.c.category,
            base.c.channel,
            base.c.tier,
            base.c.is_quick_fix,
            Unit.name,
            owner.name,
            leader.name,
            base.c.measures,
            base.c.deadline,
            base.c.status,
            base.c.closed_at,
        )
        .select_from(base)
        .outerjoin(Unit, Unit.id == base.c.unit_id)
        .outerjoin(owner, owner.id == base.c.owner_id)
        .outerjoin(leader, leader.id == base.c.leader_id)
        .order_by(base.c.id)
    )


def _problem_row(index, row) -> tuple:
    number, title, category, channel, tier, quick, unit, owner, leader, measures, deadline, status, closed_at = row
    return (
        index,
        number,
        title,
        category or "",
        channel or "",
        _tier_text(tier, quick),
        unit or "",
        owner or "",
        leader or "",
        measures or "",
        _iso(deadline),
        _status_text(status),
        _iso(_local_day(closed_at)) if status == Status.CLOSED else "",
    )


def problem_page(user, scope: Scope, page=1, per_page=PAGE_SIZE) -> Page:
    """One screen page of the problem list (numbers, then the total of the ledger link)."""
    total = count(user, scope)
    number = page_number(page, total, per_page)
    offset = (number - 1) * per_page
    rows = db.session.execute(_problem_select(user, scope).limit(per_page).offset(offset)).all()
    return Page([_problem_row(offset + i, r) for i, r in enumerate(rows, 1)], number, per_page, total)


def problem_rows(user, scope: Scope, limit=None):
    """Every row of the problem list (print, Excel), in number order."""
    stmt = _problem_select(user, scope)
    if limit:
        stmt = stmt.limit(limit)
    return [_problem_row(i, r) for i, r in enumerate(db.session.execute(stmt), 1)]


# ---- 责任清单 ------------------------------------------------------------------------------------

RESPONSIBILITY_TITLE = _l("责任清单")
STATUS_ORDER = [*OPEN_STATUSES, Status.CLOSED, Status.WITHDRAWN]


@dataclass
class UnitDuty:
    unit_id: int
    unit: str
    depth: int
    people: list  # responsible persons: the owners on its problems, then its other active unit users
    leaders: list  # leaders in charge: those whose charge covers the unit or a unit above it
    by_status: dict  # {status: count}

    @property
    def total(self) -> int:
        return sum(self.by_status.values())


@dataclass
class Responsibility:
    units: list  # [UnitDuty] in tree order
    unplaced: int  # problems of the scope that have no unit yet (new, not assigned)

    @property
    def total(self) -> int:
        return sum(u.total for u in self.units) + self.unplaced

    def status_totals(self) -> dict:
        totals = {}
        for unit in self.units:
            for status, n in unit.by_status.items():
                totals[status] = totals.get(status, 0) + n
        return totals


def responsibility(user, scope: Scope) -> Responsibility:
    """Per unit with problems in the scope: who is responsible, the leaders in charge, and its problems
    by state. Four queries whatever the number of units."""
    from tracker.access.policy import Role

    flt = scope.ledger_filter()
    matching = ledger_queries.filtered(user, flt).order_by(None)
    counts = db.session.execute(
        matching.with_only_columns(Problem.unit_id, Problem.status, func.count()).group_by(
            Problem.unit_id, Problem.status
        )
    ).all()
    by_unit, unplaced = {}, 0
    for unit_id, status, n in counts:
        if unit_id is None:
            unplaced += n
        else:
            by_unit.setdefault(unit_id, {})[status] = n
    if not by_unit:
        return Responsibility([], unplaced)
    units = list(db.session.execute(select(Unit.id, Unit.code, Unit.name, Unit.parent_id)))
    parents = {u.id: u.parent_id for u in units}
    owners = db.session.execute(
        matching.with_only_columns(Problem.unit_id, User.name)
        .join(User, User.id == Problem.owner_id)
        .distinct()
        .order_by(Problem.unit_id, User.name)
    ).all()
    members = db.session.execute(
        select(User.unit_id, User.name)
        .where(User.role == Role.UNIT, User.is_active.is_(True), User.unit_id.in_(sorted(by_unit)))
        .order_by(User.unit_id, User.name)
    ).all()
    people = {}
    for unit_id, name in [*owners, *members]:
        names = people.setdefault(unit_id, [])
        if name not in names:
            names.append(name)
    in_charge = {}
    for unit_id, name in db.session.execute(
        select(leader_units.c.unit_id, User.name)
        .join(User, User.id == leader_units.c.user_id)
        .where(User.is_active.is_(True), User.role == Role.LEADER)
        .order_by(User.name)
    ):
        in_charge.setdefault(unit_id, []).append(name)
    ordered = _tree_order(units)
    rows = []
    for unit_id, name, depth in ordered:
        if unit_id not in by_unit:
            continue
        leaders, node, seen = [], unit_id, set()
        while node is not None and node not in seen:  # the unit, then each unit above it
            seen.add(node)
            leaders += [n for n in in_charge.get(node, []) if n not in leaders]
            node = parents.get(node)
        rows.append(UnitDuty(unit_id, name, depth, people.get(unit_id, []), leaders, by_unit[unit_id]))
    return Responsibility(rows, unplaced)


def _tree_order(units) -> list[tuple[int, str, int]]:
    """(id, name, depth) depth-first under the parents, siblings by code."""
    ids = {u.id for u in units}
    children = {}
    for unit in units:
        children.setdefault(unit.parent_id if unit.parent_id in ids else None, []).append(unit)
    ordered, stack = [], [(u, 0) for u in sorted(children.get(None, []), key=lambda u: u.code, reverse=True)]
    while stack:
        unit, depth = stack.pop()
        ordered.append((unit.id, unit.name, depth))
        stack += [(c, depth + 1) for c in sorted(children.get(unit.id, []), key=lambda u: u.code, reverse=True)]
    return ordered


def responsibility_headers() -> list[str]:
    return [
        _("序号"),
        _("责任单位"),
        _("责任人"),
        _("分管领导"),
        *[_status_text(s) for s in STATUS_ORDER],
        _("合计"),
    ]


def responsibility_rows(result: Responsibility):
    for index, unit in enumerate(result.units, 1):
        yield (
            index,
            unit.unit,
            "、".join(unit.people),
            "、".join(unit.leaders),
            *[unit.by_status.get(s, 0) for s in STATUS_ORDER],
            unit.total,
        )


# ---- 任务清单 ------------------------------------------------------------------------------------

TASK_TITLE = _l("任务清单")
TASK_COLUMNS = [
    (_l("序号"), 6, False),
    (_l("问题编号"), 15, False),
    (_l("问题"), 26, True),
    (_l("责任单位"), 16, True),
    (_l("责任人"), 8, False),
    (_l("任务（整改措施／节点）"), 36, True),
    (_l("计划完成"), 11, False),
    (_l("完成时间"), 11, False),
    (_l("完成情况"), 8, False),
    (_l("说明"), 24, True),
]
DONE, OPEN, LATE, WITHDRAWN = "done", "open", "late", "withdrawn"
TASK_STATE_LABELS = {DONE: _l("已完成"), OPEN: _l("未完成"), LATE: _l("已逾期"), WITHDRAWN: _l("已撤销")}


@dataclass
class Task:
    number: str
    problem: str
    unit: str
    owner: str
    task: str
    due: object  # date or None
    done_on: object  # date or None
    state: str  # DONE | OPEN | LATE | WITHDRAWN
    explanation: str
    is_measure: bool  # the measures of a problem without milestones

    @property
    def state_label(self) -> str:
        return str(TASK_STATE_LABELS[self.state])


def _task_problems(user, scope: Scope):
    owner = aliased(User)
    base = ledger_queries.filtered(user, scope.ledger_filter()).subquery()
    return (
        select(
            base.c.id,
            base.c.number,
            base.c.title,
            Unit.name,
            owner.name,
            base.c.measures,
            base.c.deadline,
            base.c.status,
            base.c.closed_at,
        )
        .select_from(base)
        .outerjoin(Unit, Unit.id == base.c.unit_id)
        .outerjoin(owner, owner.id == base.c.owner_id)
        .order_by(base.c.id)
    )


def _tasks_of(problems, today) -> list[Task]:
    """The tasks of PROBLEMS (rows of _task_problems): their milestones in order, or one task for the
    measures of a problem that has none. One query for the milestones of all of them."""
    ids = [p.id for p in problems]
    milestones = {}
    if ids:
        for m in db.session.execute(
            select(Milestone.problem_id, Milestone.title, Milestone.due_date, Milestone.done_at, Milestone.explanation)
            .where(Milestone.problem_id.in_(ids))
            .order_by(Milestone.problem_id, Milestone.position, Milestone.id)
        ):
            milestones.setdefault(m.problem_id, []).append(m)
    tasks = []
    for p in problems:
        withdrawn = p.status == Status.WITHDRAWN
        common = {"number": p.number, "problem": p.title, "unit": p[3] or "", "owner": p[4] or ""}
        for m in milestones.get(p.id, []):
            done_on = _local_day(m.done_at)
            state = DONE if done_on else WITHDRAWN if withdrawn else LATE if m.due_date < today else OPEN
            tasks.append(Task(**common, task=m.title, due=m.due_date, done_on=done_on, state=state,
                              explanation=m.explanation or "", is_measure=False))  # fmt: skip
        if p.id not in milestones:
            closed = p.status == Status.CLOSED
            done_on = _local_day(p.closed_at) if closed else None
            late = p.deadline is not None and p.deadline < today
            state = DONE if closed else WITHDRAWN if withdrawn else LATE if late else OPEN
            tasks.append(Task(**common, task=p.measures or _("（尚未制定整改措施）"), due=p.deadline,
                              done_on=done_on, state=state, explanation="", is_measure=True))  # fmt: skip
    return tasks


@dataclass
class TaskPage(Page):
    """A page of problems (the pager counts problems: TOTAL) with all their tasks as ITEMS."""

    task_total: int = 0
    first_index: int = 0  # tasks on the pages before this one


def _task_count(problems) -> int:
    """Tasks of the problems PROBLEMS (a subquery with an `id` column): each milestone, or one for a
    problem without any. One query."""
    from sqlalchemy import case

    milestones = func.count(Milestone.id)
    per_problem = (
        select(case((milestones == 0, 1), else_=milestones).label("n"))
        .select_from(problems)
        .outerjoin(Milestone, Milestone.problem_id == problems.c.id)
        .group_by(problems.c.id)
        .subquery()
    )
    return db.session.scalar(select(func.coalesce(func.sum(per_problem.c.n), 0)))


def _scope_ids(user, scope: Scope):
    return ledger_queries.filtered(user, scope.ledger_filter()).order_by(None).with_only_columns(Problem.id)


def task_total(user, scope: Scope) -> int:
    """Tasks in the scope: every milestone, plus one for each problem without milestones."""
    return _task_count(_scope_ids(user, scope).subquery())


def task_page(user, scope: Scope, page=1, per_page=PAGE_SIZE) -> TaskPage:
    """The tasks of one screen page of problems (PER_PAGE problems a page, all their tasks), numbered
    on from the tasks of the pages before."""
    problems = count(user, scope)
    number = page_number(page, problems, per_page)
    offset = (number - 1) * per_page
    rows = db.session.execute(_task_problems(user, scope).limit(per_page).offset(offset)).all()
    before = _task_count(_scope_ids(user, scope).order_by(Problem.id).limit(offset).subquery()) if offset else 0
    return TaskPage(_tasks_of(rows, clock.today()), number, per_page, problems, task_total(user, scope), before)


def tasks(user, scope: Scope, limit=None, chunk=1000):
    """Every task of the scope (print, Excel), problems in number order, read a chunk at a time."""
    today, result = clock.today(), []
    stmt = _task_problems(user, scope)
    for rows in db.session.execute(stmt.execution_options(yield_per=chunk)).partitions(chunk):
        result += _tasks_of(rows, today)
        if limit and len(result) >= limit:
            return result[:limit]
    return result


def task_rows(items):
    for index, t in enumerate(items, 1):
        yield (index, t.number, t.problem, t.unit, t.owner, t.task, _iso(t.due), _iso(t.done_on), t.state_label,
               t.explanation)  # fmt: skip


def task_state_counts(items) -> dict:
    counts = {}
    for t in items:
        counts[t.state] = counts.get(t.state, 0) + 1
    return counts


def headers(columns) -> list[str]:
    return [str(c[0]) for c in columns]


def widths(columns) -> list[int]:
    return [c[1] for c in columns]


def wrapped(columns) -> list[int]:
    return [i for i, c in enumerate(columns) if c[2]]

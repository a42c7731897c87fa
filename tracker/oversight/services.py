"""Covert re-inspection (暗访复查): batches drawn by method, 双随机 inspectors with 回避, visits and
their effect on the problem.

A batch and its selection are the inspectors' business only: nothing here writes to a problem row
or to a problem's audit trail until a visit's result is recorded (a unit reads its problems'
timelines and versions). The transition a result causes goes through workflow.apply, with a
VisitContext that makes the timeline name the inspection group, never the people who visited.
"""

import logging
import math
import random
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from tracker.access import policy
from tracker.access.policy import Role
from tracker.audit import services as audit
from tracker.auth.models import User
from tracker.core import clock, sequences, storage
from tracker.core.errors import Conflict, NotFound, ValidationFailed
from tracker.core.inputs import parse_id
from tracker.core.sanitize import plain_text
from tracker.core.words import N_
from tracker.extensions import db
from tracker.ledger import services as ledger_services
from tracker.ledger.models import Problem, Status, Tier
from tracker.org.models import Unit
from tracker.org.queries import subtree_ids
from tracker.oversight.models import (
    METHOD_LABELS,
    VISIT_WAYS,
    InspectionBatch,
    InspectionItem,
    InspectionPhoto,
    Method,
    Result,
)
from tracker.workflow import services as workflow
from tracker.workflow.services import VisitContext, transitioned

log = logging.getLogger(__name__)

# Problems never drawn: not yet assigned to anyone, or withdrawn.
OUTSIDE_POPULATION = (Status.NEW, Status.WITHDRAWN)
FILTER_STATUSES = tuple(s.value for s in Status if s not in OUTSIDE_POPULATION)
FILTER_KEYS = ("unit_code", "category", "tier", "status", "closed_from", "closed_to")
DEFAULT_PER_PROBLEM = 2
MAX_PER_PROBLEM = 10
MAX_TARGETED = 5000
MAX_SEED = 2**63 - 1
_CHUNK = 5000  # ids per IN (…) list: well under every backend's parameter limit
GROUP_NAME = "暗访复查组"  # how a visit's transition reads to anyone who may not see the inspectors


class PoolTooSmall(ValueError):
    """draw(): after 回避 a problem has fewer eligible inspectors than asked for."""

    def __init__(self, problem_id, eligible, needed):
        super().__init__(f"problem {problem_id}: {eligible} eligible, {needed} needed")
        self.problem_id, self.eligible, self.needed = problem_id, eligible, needed


# ---- the plan -------------------------------------------------------------------------------------


@dataclass
class Plan:
    """A batch's plan, validated: everything needed to draw it (and to draw it again)."""

    method: str
    filter: dict  # as stored and printed: strings only
    conditions: list = field(default_factory=list)
    sample_size: int | None = None
    sample_percent: float | None = None
    seed: int | None = None
    pool: list = field(default_factory=list)  # User objects, ordered by id
    per_problem: int = DEFAULT_PER_PROBLEM
    double_random: bool = False
    title: str = ""
    targeted_ids: list | None = None  # targeted: the problems picked, in id order
    unknown: list = field(default_factory=list)

    @property
    def pool_ids(self):
        return [u.id for u in self.pool]


def _fail(message, name):
    raise ValidationFailed(message, {name: message})


def _parse_day(value, name) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        _fail(_("日期格式应为 YYYY-MM-DD。"), name)


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, clock.timezone())


def clean_filter(raw) -> tuple[dict, list]:
    """The filter as stored (strings) and as SQL conditions on problems. Raises ValidationFailed
    naming the field (`filter.<name>`)."""
    if raw in (None, ""):
        raw = {}
    if not isinstance(raw, dict):
        _fail(_("筛选条件格式有误。"), "filter")
    unknown = [k for k in raw if k not in FILTER_KEYS]
    if unknown:
        _fail(_("未知的筛选条件：%(k)s。", k="、".join(map(str, unknown))[:100]), f"filter.{unknown[0]}")
    stored, conditions = {}, [Problem.status.notin_([s.value for s in OUTSIDE_POPULATION])]
    for key in ("unit_code", "category", "tier", "status"):
        value = raw.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            _fail(_("应为文本。"), f"filter.{key}")
        stored[key] = value.strip()
    if "unit_code" in stored:
        unit = db.session.scalar(select(Unit).where(Unit.code == stored["unit_code"]))
        if unit is None:
            _fail(_("单位编码“%(c)s”不存在。", c=stored["unit_code"][:50]), "filter.unit_code")
        conditions.append(Problem.unit_id.in_(sorted(subtree_ids({unit.id}))))
    if "category" in stored:
        conditions.append(Problem.category == stored["category"][:50])
    if "tier" in stored:
        if stored["tier"] not in {t.value for t in Tier}:
            _fail(_("分级应为红（red）、黄（yellow）或蓝（blue）。"), "filter.tier")
        conditions.append(Problem.tier == stored["tier"])
    if "status" in stored:
        if stored["status"] not in FILTER_STATUSES:
            _fail(_("状态只能是已交办之后、未撤销的状态。"), "filter.status")
        conditions.append(Problem.status == stored["status"])
    closed_from = _parse_day(raw.get("closed_from"), "filter.closed_from")
    closed_to = _parse_day(raw.get("closed_to"), "filter.closed_to")
    if closed_from and closed_to and closed_from > closed_to:
        _fail(_("销号日期的起始日不能晚于截止日。"), "filter.closed_to")
    if closed_from:
        stored["closed_from"] = closed_from.isoformat()
        conditions.append(Problem.closed_at >= _local_midnight(closed_from))
    if closed_to:
        stored["closed_to"] = closed_to.isoformat()
        conditions.append(Problem.closed_at < _local_midnight(closed_to + timedelta(days=1)))
    return stored, conditions


def _int_field(value, name, low, high, message):
    if value in (None, ""):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) < 20:
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        _fail(message, name)
    return value


def _percent_field(value):
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip().rstrip("%％"))
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 100 or math.isnan(value):
        _fail(_("抽取比例应为大于 0、不超过 100 的数。"), "sample_percent")
    return float(value)


def _users(values, name) -> list[User]:
    """Active inspectors named by username or id, each once, ordered by id. Raises ValidationFailed."""
    if values in (None, ""):
        return []
    if isinstance(values, str):
        values = [v for v in values.replace("，", ",").replace("、", ",").split(",") if v.strip()]
    if not isinstance(values, list | tuple):
        _fail(_("检查人员应为用户名的列表。"), name)
    found, missing = {}, []
    for value in values:
        user = None
        if isinstance(value, User):
            user = value
        elif isinstance(value, int) and not isinstance(value, bool):
            user = db.session.get(User, value) if parse_id(value) else None
        elif isinstance(value, str):
            user = db.session.scalar(select(User).where(User.username == value.strip().lower()))
        if user is None or user.role != Role.INSPECTOR or not user.is_active:
            missing.append(str(value)[:64])
        else:
            found[user.id] = user
    if missing:
        _fail(_("“%(u)s”不是在用的纪检监察员。", u="、".join(missing[:10])), name)
    return [found[i] for i in sorted(found)]


def active_inspectors() -> list[User]:
    return list(
        db.session.scalars(select(User).where(User.role == Role.INSPECTOR, User.is_active.is_(True)).order_by(User.id))
    )


def _boolean(value) -> bool:
    return value in (True, 1, "1", "true", "on", "yes")


def make_plan(data) -> Plan:
    """Validate DATA (see create_batch) into a Plan. Raises ValidationFailed with Chinese messages
    naming the fields."""
    if not isinstance(data, dict):
        raise ValidationFailed(_("抽查方案格式有误。"))
    method = data.get("method")
    if method not in {m.value for m in Method}:
        _fail(_("请选择抽查方式：拉网式、随机式或点穴式。"), "method")
    stored, conditions = clean_filter(data.get("filter"))
    plan = Plan(method=method, filter=stored, conditions=conditions)
    plan.double_random = _boolean(data.get("double_random"))
    plan.per_problem = _int_field(
        data.get("per_problem"),
        "per_problem",
        1,
        MAX_PER_PROBLEM,
        _("每个问题的检查人数应为 1 到 %(n)d 的整数。", n=MAX_PER_PROBLEM),
    ) or (DEFAULT_PER_PROBLEM)
    plan.seed = _int_field(data.get("seed"), "seed", 0, MAX_SEED, _("随机种子应为非负整数。"))
    plan.pool = _users(data.get("inspectors"), "inspectors")
    if plan.double_random and not plan.pool:
        plan.pool = active_inspectors()
    if method == Method.RANDOM:
        size = _int_field(data.get("sample_size"), "sample_size", 1, 10**9, _("抽取数量应为正整数。"))
        percent = _percent_field(data.get("sample_percent"))
        if (size is None) == (percent is None):
            _fail(_("随机式抽查请填写抽取数量或抽取比例（只填其一）。"), "sample_size")
        plan.sample_size, plan.sample_percent = size, percent
    if method == Method.TARGETED:
        numbers = data.get("problems")
        if isinstance(numbers, str):
            numbers = numbers.replace("，", ",").replace("、", ",").replace("\n", ",").split(",")
        if not isinstance(numbers, list | tuple) or not [n for n in numbers if isinstance(n, str) and n.strip()]:
            _fail(_("点穴式抽查请列出要复查的问题编号。"), "problems")
        if not all(isinstance(n, str) for n in numbers):
            _fail(_("问题编号应为文本。"), "problems")
        wanted = list(dict.fromkeys(n.strip().upper() for n in numbers if n.strip()))
        if len(wanted) > MAX_TARGETED:
            _fail(_("一次最多点选 %(n)d 个问题。", n=MAX_TARGETED), "problems")
        rows = {}
        for chunk in _chunks(wanted):
            stmt = select(Problem.number, Problem.id, Problem.status).where(Problem.number.in_(chunk))
            rows.update({number: (pid, status) for number, pid, status in db.session.execute(stmt)})
        missing = [n for n in wanted if n not in rows]
        if missing:
            _fail(_("问题编号不存在：%(n)s。", n="、".join(missing[:10])[:300]), "problems")
        outside = [n for n in wanted if rows[n][1] in OUTSIDE_POPULATION]
        if outside:
            _fail(_("问题 %(n)s 尚未交办或已撤销，不能复查。", n="、".join(outside[:10])[:300]), "problems")
        plan.targeted_ids = sorted(rows[n][0] for n in wanted)
        plan.filter = {}
    title = plain_text(data.get("title"), 200) if isinstance(data.get("title"), str) else ""
    plan.title = title or _("%(m)s暗访复查（%(d)s）", m=_(METHOD_LABELS[method]), d=clock.today().isoformat())
    return plan


def population_ids(plan: Plan) -> list[int]:
    """The ids of the problems the plan draws from, ordered by id: one query, ids only."""
    if plan.targeted_ids is not None:
        return list(plan.targeted_ids)
    stmt = select(Problem.id).where(*plan.conditions).order_by(Problem.id)
    return list(db.session.execute(stmt).scalars())


def sample_count(plan: Plan, population: int) -> int:
    """How many problems the plan draws from POPULATION. Raises ValidationFailed when it cannot."""
    if population == 0:
        _fail(_("没有符合筛选条件的问题（尚未交办和已撤销的问题不参加复查）。"), "filter")
    if plan.method != Method.RANDOM:
        return population
    if plan.sample_percent is not None:
        return max(1, math.ceil(population * plan.sample_percent / 100 - 1e-9))
    if plan.sample_size > population:
        _fail(_("抽取数量（%(k)d）大于符合条件的问题数（%(n)d）。", k=plan.sample_size, n=population), "sample_size")
    return plan.sample_size


# ---- the draw -------------------------------------------------------------------------------------


def draw(population_ids, k, seed, pool_ids, per_problem, avoid) -> list[tuple[int, list[int]]]:
    """K problems of POPULATION_IDS (ordered by id) and PER_PROBLEM inspectors of POOL_IDS for each,
    none of AVOID[problem] (回避). Pure and deterministic: random.Random(SEED) draws the problems
    (all of them, in order, when K is the whole population), then the inspectors problem by problem
    in id order. AVOID is a mapping problem id → ids, or a function taking the drawn ids and
    returning one (so that only the drawn problems' are read). Raises PoolTooSmall."""
    population_ids = list(population_ids)
    rng = random.Random(seed)
    chosen = population_ids if k >= len(population_ids) else sorted(rng.sample(population_ids, k))
    if not pool_ids or not per_problem:
        return [(pid, []) for pid in chosen]
    avoided = avoid(chosen) if callable(avoid) else (avoid or {})
    out = []
    for pid in chosen:
        barred = set(avoided.get(pid, ()))
        eligible = [u for u in pool_ids if u not in barred]
        if len(eligible) < per_problem:
            raise PoolTooSmall(pid, len(eligible), per_problem)
        out.append((pid, rng.sample(eligible, per_problem)))
    return out


def _chunks(ids):
    ids = list(ids)
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _facts(problem_ids) -> dict[int, tuple]:
    """id → (number, unit_id, {ids who must stand aside}) for the drawn problems only."""
    out = {}
    for chunk in _chunks(problem_ids):
        stmt = select(
            Problem.id,
            Problem.number,
            Problem.unit_id,
            Problem.inspector_id,
            Problem.approved_by_id,
            Problem.closed_by_id,
        ).where(Problem.id.in_(chunk))
        for pid, number, unit_id, *people in db.session.execute(stmt):
            out[pid] = (number, unit_id, {p for p in people if p is not None})
    return out


def _draw_plan(plan: Plan, population: list[int], k: int):
    """(drawn pairs, facts of the drawn problems). Raises ValidationFailed when 回避 leaves too few."""
    facts = {}

    def avoid(chosen):
        facts.update(_facts(chosen))
        return {pid: fact[2] for pid, fact in facts.items()}

    if plan.double_random:
        try:
            pairs = draw(population, k, plan.seed, plan.pool_ids, plan.per_problem, avoid)
        except PoolTooSmall as short:
            number = facts.get(short.problem_id, (f"#{short.problem_id}",))[0]
            _fail(
                _(
                    "检查人员不足：问题 %(p)s 回避交办、审核人员后只剩 %(e)d 人可派，每个问题需 %(n)d 人。"
                    "请增加检查人员或减少每个问题的人数。",
                    p=number,
                    e=short.eligible,
                    n=short.needed,
                ),
                "inspectors",
            )
        if not facts:
            facts.update(_facts([pid for pid, _people in pairs]))
        return pairs, facts
    pairs = draw(population, k, plan.seed, None, 0, None)
    facts.update(_facts([pid for pid, _people in pairs]))
    if plan.pool:
        # Everyone named goes to every problem, except who assigned or signed it off (回避).
        sent = []
        for pid, _people in pairs:
            people = [u for u in plan.pool_ids if u not in facts[pid][2]]
            if not people:
                _fail(
                    _("问题 %(p)s 的交办、审核人员须回避，所选检查人员中无人可派。", p=facts[pid][0]),
                    "inspectors",
                )
            sent.append((pid, people))
        pairs = sent
    return pairs, facts


def preview(data: dict) -> dict:
    """{"population": n, "sample": k} for the plan in DATA, nothing saved. Raises ValidationFailed
    like create_batch (except for a pool too small, known only once drawn)."""
    plan = make_plan(data)
    population = population_ids(plan)
    return {"population": len(population), "sample": sample_count(plan, len(population))}


def create_batch(data: dict, *, actor, is_verification=False) -> InspectionBatch:
    """A re-inspection batch drawn by the plan in DATA: method (sweep | random | targeted), filter
    {unit_code, category, tier, status, closed_from, closed_to}, sample_size | sample_percent, seed,
    problems (targeted: numbers), inspectors (the pool: usernames or ids), per_problem,
    double_random, title. The seed is chosen (secrets) when absent. Items are inserted in bulk.
    Flushes and audits on the batch only (inspection.create). Raises Forbidden, ValidationFailed."""
    policy.require(actor, "inspection.manage")
    plan = make_plan(data)
    if plan.seed is None and (plan.method == Method.RANDOM or plan.double_random):
        plan.seed = secrets.randbelow(900_000_000) + 100_000_000
    population = population_ids(plan)
    k = sample_count(plan, len(population))
    pairs, facts = _draw_plan(plan, population, k)
    return _save(plan, len(population), pairs, facts, actor=actor, is_verification=is_verification)


def _save(plan, population, pairs, facts, *, actor, is_verification=False) -> InspectionBatch:
    year = clock.today().year
    batch = InspectionBatch(
        year=year,
        seq=sequences.next_value("inspection", year),
        title=plan.title,
        method=plan.method,
        filter=plan.filter,
        population=population,
        sample_size=plan.sample_size,
        sample_percent=plan.sample_percent,
        seed=plan.seed,
        inspector_pool=plan.pool_ids,
        inspectors_per_problem=plan.per_problem,
        is_double_random=plan.double_random,
        is_verification=is_verification,
        status="open",
        item_count=len(pairs),
        done_count=0,
        created_by_id=getattr(actor, "id", None),
        version=1,
    )
    db.session.add(batch)
    db.session.flush()
    rows = [
        {
            "batch_id": batch.id,
            "problem_id": pid,
            "position": position,
            "unit_id": facts[pid][1],
            "inspector_ids": people,
            "result": Result.PENDING.value,
            "is_relapse": False,
            "version": 1,
        }
        for position, (pid, people) in enumerate(pairs, start=1)
    ]
    for start in range(0, len(rows), _CHUNK):
        db.session.execute(insert(InspectionItem), rows[start : start + _CHUNK])
    audit.record(
        actor,
        "inspection.create",
        "inspection_batch",
        batch.number,
        after={
            "title": batch.title,
            "method": batch.method,
            "filter": batch.filter or None,
            "population": population,
            "sample_size": batch.sample_size,
            "sample_percent": batch.sample_percent,
            "seed": batch.seed,
            "inspector_ids": batch.inspector_pool,
            "per_problem": batch.inspectors_per_problem if batch.inspector_pool else None,
            "double_random": batch.is_double_random,
            "verification": is_verification,
            "count": len(rows),
        },
    )
    batch.drawn = [(facts[pid][0], people) for pid, people in pairs]  # for the caller's answer
    return batch


def _plan_of(batch: InspectionBatch) -> Plan:
    stored, conditions = clean_filter(batch.filter or {})
    plan = Plan(
        method=batch.method,
        filter=stored,
        conditions=conditions,
        sample_size=batch.sample_size,
        sample_percent=batch.sample_percent,
        seed=batch.seed,
        per_problem=batch.inspectors_per_problem,
        double_random=batch.is_double_random,
        title=batch.title,
    )
    pool = batch.inspector_pool or []
    plan.pool = [SimpleUser(i) for i in pool]
    if batch.method == Method.TARGETED:
        plan.targeted_ids = sorted(
            db.session.scalars(select(InspectionItem.problem_id).where(InspectionItem.batch_id == batch.id))
        )
    return plan


@dataclass(frozen=True)
class SimpleUser:
    id: int


def redraw(batch: InspectionBatch) -> dict:
    """Draw BATCH again from its recorded plan (method, filter, size, seed, pool) over today's
    population and compare with what was drawn. {"same", "population", "expected", "drawn"}, the
    last two as [{"number", "inspectors": [usernames]}] in problem order."""
    plan = _plan_of(batch)
    population = population_ids(plan)
    try:
        k = sample_count(plan, len(population)) if population else 0
        pairs, facts = _draw_plan(plan, population, k) if population else ([], {})
    except ValidationFailed:
        pairs, facts = [], {}
    items = db.session.execute(
        select(InspectionItem.problem_id, InspectionItem.inspector_ids, Problem.number)
        .join(Problem, Problem.id == InspectionItem.problem_id)
        .where(InspectionItem.batch_id == batch.id)
        .order_by(InspectionItem.position)
    ).all()
    ids = {u for _pid, people, _n in items for u in (people or [])} | {u for _pid, people in pairs for u in people}
    names = _usernames(ids)
    expected = [{"number": n, "inspectors": [names.get(u, str(u)) for u in (people or [])]} for _p, people, n in items]
    drawn = [{"number": facts[pid][0], "inspectors": [names.get(u, str(u)) for u in people]} for pid, people in pairs]
    return {"same": expected == drawn, "population": len(population), "expected": expected, "drawn": drawn}


def _usernames(ids) -> dict[int, str]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


# ---- reading batches ------------------------------------------------------------------------------


def get_batch(batch_id, user) -> InspectionBatch:
    """The batch, for users with inspection.view; to anyone else it does not exist (the same
    NotFound as a missing id)."""
    batch_id = parse_id(batch_id)
    batch = db.session.get(InspectionBatch, batch_id) if batch_id else None
    if batch is None or not policy.can(user, "inspection.view"):
        raise NotFound(_("未找到该暗访复查批次。"))
    return batch


def batch_rows(batch: InspectionBatch) -> list[InspectionItem]:
    """The batch's items in draw order with problem, unit, photos, recorder and `inspectors` (User
    objects, in the order sent) loaded: no query per row."""
    items = list(
        db.session.scalars(
            select(InspectionItem)
            .where(InspectionItem.batch_id == batch.id)
            .order_by(InspectionItem.position)
            .options(
                selectinload(InspectionItem.problem),
                selectinload(InspectionItem.unit),
                selectinload(InspectionItem.photos),
                selectinload(InspectionItem.recorded_by),
            )
        )
    )
    wanted = sorted({u for item in items for u in (item.inspector_ids or [])})
    users = {}
    for chunk in _chunks(wanted):
        users.update({u.id: u for u in db.session.scalars(select(User).where(User.id.in_(chunk)))})
    for item in items:
        item.inspectors = [users[u] for u in (item.inspector_ids or []) if u in users]
    return items


RECORD_TITLE = N_("暗访情况记录表")
RECORD_HEADERS = [
    N_("序号"),
    N_("问题编号"),
    N_("问题"),
    N_("责任单位"),
    N_("暗访方式"),
    N_("暗访时间"),
    N_("暗访人员"),
    N_("发现问题"),
    N_("结果"),
]
RECORD_WIDTHS = [6, 18, 30, 20, 12, 12, 16, 40, 10]


def batch_record_rows(batch: InspectionBatch) -> list[list]:
    """The rows of the 暗访情况记录表 (headers: RECORD_HEADERS), in draw order: the print page and
    the Excel file."""
    return [
        [
            position,
            item.problem.number,
            item.problem.title,
            item.unit.name if item.unit else "",
            _(item.way) if item.way else "",
            item.visited_on.isoformat() if item.visited_on else "",
            "、".join(u.name for u in item.inspectors),
            item.findings or "",
            _(item.result_label) + (_("（反弹）") if item.is_relapse else ""),
        ]
        for position, item in enumerate(batch_rows(batch), start=1)
    ]


def open_item_for(problem) -> InspectionItem | None:
    """The problem's item still to be visited in an open batch (the latest), or None."""
    return db.session.scalar(
        select(InspectionItem)
        .join(InspectionBatch, InspectionBatch.id == InspectionItem.batch_id)
        .where(
            InspectionItem.problem_id == problem.id,
            InspectionItem.result == Result.PENDING,
            InspectionBatch.status == "open",
        )
        .order_by(InspectionItem.id.desc())
        .limit(1)
    )


# ---- visits ---------------------------------------------------------------------------------------

# What a fail does, by the problem's state when the result is recorded; a pass closes a problem
# being verified and otherwise changes nothing but the record.
FAIL_ACTIONS = {Status.VERIFYING: "verify_fail", Status.SUBMITTED: "reject", Status.CLOSED: "reopen"}
PASS_ACTIONS = {Status.VERIFYING: "verify_pass"}


def _visit_fields(batch, item, problem, data) -> dict:
    errors = {}
    result = data.get("result")
    if result not in (Result.PASS, Result.FAIL):
        errors["result"] = _("请选择复查结果：通过或未通过。")
    way = data.get("way")
    if not isinstance(way, str) or way.strip() not in VISIT_WAYS:
        errors["way"] = _("请选择复查方式：%(w)s。", w="、".join(_(w) for w in VISIT_WAYS))
    visited_on = None
    try:
        visited_on = _parse_day(data.get("visited_on"), "visited_on")
    except ValidationFailed as failure:
        errors.update(failure.fields)
    if visited_on is None and "visited_on" not in errors:
        errors["visited_on"] = _("请填写复查日期。")
    elif visited_on is not None:
        if visited_on > clock.today():
            errors["visited_on"] = _("复查日期不能晚于今天。")
        elif visited_on < clock.to_local(batch.created_at).date():
            errors["visited_on"] = _(
                "复查日期不能早于本批次的制定日期（%(d)s）。", d=clock.to_local(batch.created_at).date().isoformat()
            )
    findings = plain_text(data.get("findings"), 5000) if isinstance(data.get("findings"), str | type(None)) else None
    if data.get("findings") is not None and not isinstance(data.get("findings"), str):
        errors["findings"] = _("复查情况应为文本。")
    elif result == Result.FAIL and not findings:
        errors["findings"] = _("未通过须写明发现的问题。")
    people = []
    try:
        people = _users(data.get("inspectors"), "inspectors") if data.get("inspectors") not in (None, "", []) else []
    except ValidationFailed as failure:
        errors.update(failure.fields)
    ids = [u.id for u in people] if people else list(item.inspector_ids or [])
    barred = {problem.inspector_id, problem.approved_by_id, problem.closed_by_id} - {None}
    if "inspectors" not in errors:
        if not ids:
            errors["inspectors"] = _("请填写复查人员。")
        elif set(ids) & barred:
            names = "、".join(
                u.name for u in db.session.scalars(select(User).where(User.id.in_(sorted(set(ids) & barred))))
            )
            errors["inspectors"] = _("%(n)s 交办或审核过该问题，须回避。", n=names)
    if errors:
        raise ValidationFailed(_("复查记录不完整或有误。"), errors)
    return {
        "result": result,
        "way": way.strip(),
        "visited_on": visited_on,
        "findings": findings or "",
        "inspector_ids": ids,
    }


def record_visit(batch: InspectionBatch, data: dict, *, actor) -> InspectionItem:
    """Record the visit of one problem of BATCH: data {problem (number), visited_on, way (VISIT_WAYS),
    inspectors? (default: those sent), findings, result: pass | fail, version? (the item's), photos?
    [(stream, filename)]}. Effects on the problem, through workflow.apply: verifying → verify_pass /
    verify_fail; submitted + fail → reject; closed + fail → reopen as a relapse (反弹); otherwise
    the result and findings are put on the problem's timeline. The batch is done when every item
    is recorded. All in the caller's transaction; files of a failed call are removed.
    Raises Forbidden, ValidationFailed (problem not in the batch, bad fields), Conflict (recorded
    already, or changed meanwhile)."""
    policy.require(actor, "inspection.manage")
    if not isinstance(data, dict):
        raise ValidationFailed(_("复查记录格式有误。"))
    number = data.get("problem")
    item = None
    if isinstance(number, str) and number.strip():
        item = db.session.scalar(
            select(InspectionItem)
            .join(Problem, Problem.id == InspectionItem.problem_id)
            .where(InspectionItem.batch_id == batch.id, Problem.number == number.strip().upper())
        )
    if item is None:
        _fail(_("该问题不在本批次中。"), "problem")
    if item.is_recorded:
        raise Conflict(_("该问题的复查结果已登记，不能重复登记。"))
    version = data.get("version")
    if version not in (None, "") and str(version) != str(item.version):
        raise Conflict(_("该复查记录刚被他人修改，请刷新后重试。"))
    problem = item.problem
    fields = _visit_fields(batch, item, problem, data)
    stored = []
    try:
        for stream, filename in data.get("photos") or []:
            stored.append(add_photo(item, stream, filename, actor=actor, _audit=False))
        item.status_before = problem.status
        item.is_relapse = fields["result"] == Result.FAIL and problem.status == Status.CLOSED
        action = (FAIL_ACTIONS if fields["result"] == Result.FAIL else PASS_ACTIONS).get(problem.status)
        visit = VisitContext(item_id=item.id, result=fields["result"], relapse=item.is_relapse)
        if action:
            workflow.apply(
                problem, action, actor=actor, expected_version=problem.version, reason=fields["findings"], visit=visit
            )
        else:
            # Nothing moves, yet the unit hears the result and the findings (not who visited).
            audit.record(
                actor,
                "inspection.visit",
                "problem",
                problem.number,
                after={"via": "inspection", "result": fields["result"]},
                note=fields["findings"] or None,
            )
        item.result, item.way, item.visited_on = fields["result"], fields["way"], fields["visited_on"]
        item.findings, item.inspector_ids = fields["findings"], fields["inspector_ids"]
        item.recorded_by_id, item.recorded_at = getattr(actor, "id", None), clock.now()
        db.session.flush()
        _count_done(batch, actor)
        audit.record(
            actor,
            "inspection.visit",
            "inspection_batch",
            batch.number,
            after={
                "problem": problem.number,
                "result": item.result,
                "way": item.way,
                "visited_on": item.visited_on.isoformat(),
                "inspector_ids": item.inspector_ids,
                "status": problem.status,
                "relapse": item.is_relapse,
                "photos": len(stored) or None,
            },
            note=item.findings or None,
        )
    except StaleDataError:
        _unlink(stored)
        raise Conflict(_("该复查记录刚被他人修改，请刷新后重试。")) from None
    except BaseException:
        _unlink(stored)
        raise
    return item


def _unlink(photos):
    files = storage.get()
    for photo in photos:
        files.delete(photo_key(photo))


def _count_done(batch, actor):
    """One more item recorded; the batch is done with its last. An UPDATE in the database, so that
    visits recorded at the same time count right (the row lock orders them)."""
    db.session.execute(
        update(InspectionBatch)
        .where(InspectionBatch.id == batch.id)
        .values(done_count=InspectionBatch.done_count + 1, version=InspectionBatch.version + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(batch)
    if batch.status == "open" and batch.done_count >= batch.item_count:
        batch.status, batch.finished_at = "done", clock.now()
        db.session.flush()
        audit.record(
            actor,
            "inspection.finish",
            "inspection_batch",
            batch.number,
            after={"count": batch.item_count, "fail": _fail_count(batch)},
        )


def _fail_count(batch) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(InspectionItem)
        .where(InspectionItem.batch_id == batch.id, InspectionItem.result == Result.FAIL)
    )


# ---- photos ---------------------------------------------------------------------------------------


def add_photo(item: InspectionItem, stream, filename, *, actor, _audit=True) -> InspectionPhoto:
    """A photo (or document) of ITEM's visit, with the evidence uploads' checks: read in chunks,
    refused when empty, over the size limit or not an allowed type judged by content; SHA-256
    kept; stored in the file storage's folder inspections/ with a random name. Raises Forbidden, ValidationFailed."""
    policy.require(actor, "inspection.manage")
    saved = ledger_services.save_upload(stream, PHOTO_FOLDER)
    photo = InspectionPhoto(
        item_id=item.id,
        uploaded_by_id=getattr(actor, "id", None),
        filename=ledger_services.evidence_filename(filename, saved.content_type),
        stored_name=saved.stored_name,
        content_type=saved.content_type,
        size=saved.size,
        sha256=saved.sha256,
        created_at=clock.now(),
    )
    db.session.add(photo)
    db.session.flush()
    db.session.expire(item, ["photos"])
    if _audit:
        audit.record(
            actor,
            "inspection.photo",
            "inspection_batch",
            item.batch.number,
            after={"problem": item.problem.number, "file": photo.filename, "sha256": photo.sha256, "size": photo.size},
        )
    return photo


PHOTO_FOLDER = "inspections"  # in the file storage (tracker.core.storage)


def photo_key(photo: InspectionPhoto) -> str:
    """PHOTO's key in the file storage (its stored_name is the random name within the folder)."""
    return storage.key(PHOTO_FOLDER, photo.stored_name)


def photo_folder() -> Path:
    """The photos' folder under STORAGE_DIR, for the directory backend only (tests, maintenance)."""
    return Path(current_app.config["STORAGE_DIR"]) / PHOTO_FOLDER


def photo_path(photo: InspectionPhoto) -> Path:
    """PHOTO's file under STORAGE_DIR, for the directory backend only."""
    return photo_folder() / photo.stored_name


# ---- verification of approved problems (销号核查) -------------------------------------------------


def create_verification_batch(problem, *, actor) -> InspectionBatch:
    """A targeted batch of PROBLEM alone, its inspectors drawn with 回避 from every active
    inspector when there are any eligible (two when there are two), else none."""
    barred = {problem.inspector_id, problem.approved_by_id, problem.closed_by_id} - {None}
    pool = active_inspectors()
    eligible = [u for u in pool if u.id not in barred]
    per_problem = min(DEFAULT_PER_PROBLEM, len(eligible))
    plan = Plan(
        method=Method.TARGETED,
        filter={},
        seed=secrets.randbelow(900_000_000) + 100_000_000 if per_problem else None,
        pool=pool if per_problem else [],
        per_problem=per_problem or DEFAULT_PER_PROBLEM,
        double_random=bool(per_problem),
        title=_("销号核查：%(n)s", n=problem.number),
        targeted_ids=[problem.id],
    )
    pairs, facts = _draw_plan(plan, [problem.id], 1)
    return _save(plan, 1, pairs, facts, actor=actor, is_verification=True)


@transitioned.connect
def _verify_on_approval(problem, **kw):
    """An approval that sends a problem to verification puts it in a verification batch, unless a
    batch already waits to visit it. Never makes the approval fail."""
    if kw.get("action") != "approve" or problem.status != Status.VERIFYING:
        return
    try:
        with db.session.begin_nested():
            if open_item_for(problem) is None:
                create_verification_batch(problem, actor=kw.get("actor"))
    except Exception:  # noqa: BLE001 - the approval stands; the inspectors can make the batch by hand
        log.exception("no verification batch for %s", problem.number)

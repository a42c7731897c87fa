"""Tier suggestions with their reasons, rule upkeep, and deadlines from templates.

Rules run in order. The first rule that names a tier sets it; every `escalate` rule that matches
raises the tier one step (blue → yellow → red). Every matching rule adds its reason, so the
inspector sees why ("关键词“安全隐患” → 红；30 天内同类 4 件 → 升级").
"""

import re
from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select, tuple_

from tracker.audit import services as audit
from tracker.core import calendar, clock, memo
from tracker.core.errors import ValidationFailed
from tracker.extensions import db
from tracker.ledger.models import TIER_LABELS, Tier
from tracker.triage.models import RESULTS, RULE_KINDS, DeadlineTemplate, TriageRule

DEFAULT_TIER = Tier.YELLOW
ESCALATION = {Tier.BLUE: Tier.YELLOW, Tier.YELLOW: Tier.RED, Tier.RED: Tier.RED}
QUICK_FIX = "quick_fix"
ANY_KIND = "*"

DEFAULT_RULES = [
    (
        "安全、健康、欠薪、群体性、媒体关注 → 红",
        "keyword",
        {
            "pattern": "安全隐患|火灾|燃气|触电|坍塌|溺水|中毒|食品安全|疫情|传染|欠薪|拖欠工资|讨薪|工资未发|群体|集体|多人受|媒体|曝光|舆情|热搜"
        },
        "red",
    ),
    ("紧迫度为 3（急） → 红", "matrix", {"urgency_min": 3}, "red"),
    (
        "需协调或政策决定 → 黄",
        "keyword",
        {"pattern": "协调|政策|多部门|跨部门|职责不清|推诿|扯皮|历史遗留|审批"},
        "yellow",
    ),
    (
        "结构性、需资金投入 → 蓝",
        "keyword",
        {"pattern": "改造|规划|资金|经费|投入|新建|扩建|搬迁|老旧小区|管网|修路|学位不足|设施不足"},
        "blue",
    ),
    ("难易度为 3（难） → 蓝", "matrix", {"difficulty_min": 3}, "blue"),
    ("30 天内同一单位同类问题 ≥ 3 件 → 升级", "repeat", {"count": 3, "days": 30}, "escalate"),
]

DEFAULT_TEMPLATES = [
    (Tier.RED, 3, "红色（急事急办）：交办后 3 个工作日"),
    (Tier.YELLOW, 10, "黄色（特事特办）：交办后 10 个工作日"),
    (Tier.BLUE, 30, "蓝色（难事稳办）：交办后 30 个工作日，倒排工期"),
    (QUICK_FIX, 2, "立行立改：交办后 2 个工作日"),
]


@dataclass
class Suggestion:
    tier: str
    reasons: list[str]


@dataclass
class Facts:
    """What the rules look at, gathered once per problem."""

    text: str
    category: str | None
    channel: str | None
    kind: str | None
    worst_rating: int | None
    unit_id: int | None
    urgency: int | None
    difficulty: int | None


def ensure_defaults(*, categories=False) -> bool:
    """Install the default rules and templates (and CATEGORIES too) into empty tables, asking which
    are empty in one statement (idempotent); True when something was installed."""
    from tracker.ledger.models import Category

    def filled(model):
        return select(model).exists()

    tables = [TriageRule, DeadlineTemplate] + ([Category] if categories else [])
    have = dict(zip(tables, db.session.execute(select(*(filled(t) for t in tables))).one(), strict=True))
    if not have[TriageRule]:
        for position, (name, kind, params, result) in enumerate(DEFAULT_RULES):
            db.session.add(TriageRule(position=position, name=name, kind=kind, params=params, result=result))
    if not have[DeadlineTemplate]:
        for tier, days, text in DEFAULT_TEMPLATES:
            db.session.add(DeadlineTemplate(tier=tier, source_kind=ANY_KIND, days=days, rule_text=text))
    if categories and not have[Category]:
        _add_default_categories()
    if all(have.values()):
        return False
    db.session.flush()
    return True


def active_rules() -> list[TriageRule]:
    """The active rules in order, read once per request (a list suggests a tier for every new row);
    the defaults are installed first when there are none."""

    def load():
        stmt = select(TriageRule).where(TriageRule.is_active.is_(True)).order_by(TriageRule.position, TriageRule.id)
        rules = list(db.session.scalars(stmt))
        if not rules:
            ensure_defaults()
            rules = list(db.session.scalars(stmt))
        return rules

    return memo.remember("triage_rules", load, table=TriageRule)


def facts_for(problem, urgency=None, difficulty=None) -> Facts:
    ratings = [r.rating for r in problem.intake_records if r.rating]
    return Facts(
        text=f"{problem.title}\n{problem.description or ''}",
        category=problem.category,
        channel=problem.channel,
        kind=problem.source_kind,
        worst_rating=min(ratings) if ratings else None,
        unit_id=problem.unit_id,
        urgency=urgency if urgency is not None else problem.urgency,
        difficulty=difficulty if difficulty is not None else problem.difficulty,
    )


def _repeat_count(facts: Facts, days: int) -> int:
    if facts.unit_id is None or not facts.category:
        return 0
    pair = (facts.unit_id, facts.category)
    counts = _repeat_counts(days)
    if pair not in counts:
        counts.update(_count_repeats({pair}, days))
    return counts[pair]


def _repeat_counts(days: int) -> dict:
    """The repeat rule's counts found so far in this request, per (unit id, category)."""
    from tracker.intake.models import IntakeRecord

    return memo.remember(f"triage.repeats.{days}", dict, table=IntakeRecord)


def _count_repeats(pairs: set, days: int) -> dict:
    """Records of each (unit id, category) of PAIRS received in the last DAYS days: one grouped query."""
    from tracker.intake.models import IntakeRecord

    since = clock.now() - timedelta(days=days)
    rows = db.session.execute(
        select(IntakeRecord.unit_id, IntakeRecord.category, func.count())
        .where(
            tuple_(IntakeRecord.unit_id, IntakeRecord.category).in_(sorted(pairs)),
            IntakeRecord.received_at >= since,
            IntakeRecord.is_excluded.is_(False),
        )
        .group_by(IntakeRecord.unit_id, IntakeRecord.category)
    )
    found = {(unit_id, category): count for unit_id, category, count in rows}
    return {pair: found.get(pair, 0) for pair in pairs}


def prime_repeat_counts(problems) -> None:
    """Before suggesting tiers for a list of new problems: the repeat rules' counts for all their
    (unit, category) pairs in one query per rule window, instead of one query per problem."""
    pairs = {(p.unit_id, p.category) for p in problems if p.status == "new" and p.unit_id and p.category}
    if not pairs:
        return
    for days in sorted({int((rule.params or {}).get("days", 30)) for rule in active_rules() if rule.kind == "repeat"}):
        counts = _repeat_counts(days)
        missing = pairs - counts.keys()
        if missing:
            counts.update(_count_repeats(missing, days))


def _match(rule: TriageRule, facts: Facts) -> str | None:
    """The reason text when RULE matches FACTS, else None."""
    arrow = _("升级") if rule.result == "escalate" else TIER_LABELS.get(rule.result, rule.result)
    p = rule.params or {}
    if rule.kind == "keyword":
        found = re.search(p.get("pattern", "(?!)"), facts.text)
        return _("关键词“%(k)s” → %(t)s", k=found.group(0), t=arrow) if found else None
    if rule.kind == "category":
        return _("分类“%(c)s” → %(t)s", c=facts.category, t=arrow) if facts.category in p.get("values", []) else None
    if rule.kind == "channel":
        return _("渠道“%(c)s” → %(t)s", c=facts.channel, t=arrow) if facts.channel in p.get("values", []) else None
    if rule.kind == "kind":
        return _("类型“%(c)s” → %(t)s", c=facts.kind, t=arrow) if facts.kind in p.get("values", []) else None
    if rule.kind == "rating":
        limit = int(p.get("max", 1))
        if facts.worst_rating is not None and facts.worst_rating <= limit:
            return _("评价等级 %(r)d → %(t)s", r=facts.worst_rating, t=arrow)
        return None
    if rule.kind == "repeat":
        days, count = int(p.get("days", 30)), int(p.get("count", 3))
        found = _repeat_count(facts, days)
        return _("%(d)d 天内同类 %(n)d 件 → %(t)s", d=days, n=found, t=arrow) if found >= count else None
    if rule.kind == "matrix":
        if p.get("urgency_min") and (facts.urgency or 0) >= int(p["urgency_min"]):
            return _("紧迫度 %(u)d → %(t)s", u=facts.urgency, t=arrow)
        if p.get("difficulty_min") and (facts.difficulty or 0) >= int(p["difficulty_min"]):
            return _("难易度 %(d)d → %(t)s", d=facts.difficulty, t=arrow)
        return None
    return None


def suggest(problem, urgency=None, difficulty=None) -> Suggestion:
    """The suggested tier for PROBLEM and the reasons for it."""
    facts = facts_for(problem, urgency, difficulty)
    tier, reasons, escalations = None, [], 0
    for rule in active_rules():
        reason = _match(rule, facts)
        if reason is None:
            continue
        if rule.result == "escalate":
            escalations += 1
            reasons.append(reason)
        elif tier is None:
            tier = Tier(rule.result)
            reasons.append(reason)
    if tier is None:
        tier = DEFAULT_TIER
        reasons.insert(0, _("未命中分级规则，默认 → %(t)s", t=TIER_LABELS[DEFAULT_TIER]))
    for _step in range(escalations):
        tier = ESCALATION[tier]
    return Suggestion(tier=str(tier), reasons=reasons)


def validate_rule(data: dict) -> dict:
    """Clean rule fields; raises ValidationFailed (e.g. for a keyword pattern that is not a valid
    regular expression)."""
    errors = {}
    name = (data.get("name") or "").strip()[:100]
    if not name:
        errors["name"] = _("请填写规则名称。")
    kind = data.get("kind")
    if kind not in RULE_KINDS:
        errors["kind"] = _("条件类型无效。")
    result = data.get("result")
    if result not in RESULTS:
        errors["result"] = _("结果必须是红、黄、蓝或升级。")
    params = dict(data.get("params") or {})
    if kind == "keyword":
        pattern = (params.get("pattern") or "").strip()
        if not pattern or len(pattern) > 500:
            errors["params"] = _("请填写关键词（多个用 | 分隔，最长 500 字）。")
        else:
            try:
                re.compile(pattern)
            except re.error as error:
                errors["params"] = _("关键词表达式无效：%(e)s", e=str(error))
        params = {"pattern": pattern}
    if errors:
        raise ValidationFailed(_("规则有误。"), errors)
    return {"name": name, "kind": kind, "result": result, "params": params}


def save_rule(data: dict, *, actor, rule: TriageRule | None = None) -> TriageRule:
    clean = validate_rule(data)
    before = None
    if rule is None:
        position = (db.session.scalar(select(func.max(TriageRule.position))) or 0) + 1
        rule = TriageRule(position=position, is_active=True)
        db.session.add(rule)
    else:
        before = {"name": rule.name, "kind": rule.kind, "params": rule.params, "result": rule.result}
    rule.name, rule.kind, rule.params, rule.result = clean["name"], clean["kind"], clean["params"], clean["result"]
    if "is_active" in data:
        rule.is_active = bool(data["is_active"])
    db.session.flush()
    audit.record(actor, "triage.rule_save", "triage_rule", rule.id, before=before, after=clean)
    return rule


# ---- deadlines -----------------------------------------------------------------------------------


@dataclass
class ProposedDeadline:
    deadline: date
    days: int
    rule_text: str


def template_for(tier: str, quick_fix: bool, kind: str | None) -> DeadlineTemplate:
    ensure_defaults()
    key = QUICK_FIX if quick_fix else tier
    rows = db.session.scalars(
        select(DeadlineTemplate).where(
            DeadlineTemplate.tier == key, DeadlineTemplate.source_kind.in_([kind or ANY_KIND, ANY_KIND])
        )
    ).all()
    specific = [t for t in rows if t.source_kind == kind]
    if specific:
        return specific[0]
    if rows:
        return rows[0]
    raise ValidationFailed(_("没有适用的时限模板（%(t)s），请管理员补充。", t=key))


def propose_deadline(tier: str, quick_fix: bool, kind: str | None, assigned_on: date) -> ProposedDeadline:
    """Day of assignment is day 0; the deadline is the end of the Nth working day."""
    template = template_for(tier, quick_fix, kind)
    return ProposedDeadline(calendar.add_workdays(assigned_on, template.days), template.days, template.rule_text)


def propose_milestones(assigned_on: date, deadline: date, count: int = 3) -> list[tuple[str, date]]:
    """Back-scheduled milestones (倒排工期), spread evenly in working days, the last on the deadline."""
    total = max(1, calendar.workdays_between(assigned_on, deadline))
    titles = [_("制定整改方案"), _("组织实施整改"), _("完成整改并自查验收")]
    if count != 3:
        titles = [_("节点 %(n)d", n=i + 1) for i in range(count)]
    steps = []
    for i in range(1, count + 1):
        offset = max(1, round(total * i / count))
        steps.append((titles[i - 1], calendar.add_workdays(assigned_on, offset)))
    steps[-1] = (steps[-1][0], deadline)
    return steps


def move_rule(rule: TriageRule, step: int, *, actor) -> None:
    """Swap RULE with its neighbour above (step -1) or below (+1)."""
    rules = list(db.session.scalars(select(TriageRule).order_by(TriageRule.position, TriageRule.id)))
    index = rules.index(rule)
    other = index + step
    if not 0 <= other < len(rules):
        return
    rules[index], rules[other] = rules[other], rules[index]
    for position, item in enumerate(rules):
        item.position = position
    audit.record(actor, "triage.rule_move", "triage_rule", rule.id, after={"position": rule.position})


def save_template(tier: str, source_kind: str, days, rule_text: str, *, actor) -> DeadlineTemplate:
    """Create or change the template for (TIER, SOURCE_KIND). Raises ValidationFailed."""
    errors = {}
    if tier not in (*[t.value for t in Tier], QUICK_FIX):
        errors["tier"] = _("分级无效。")
    try:
        days = int(days)
        if not 1 <= days <= 365:
            raise ValueError
    except (TypeError, ValueError):
        errors["days"] = _("工作日数应为 1–365 的整数。")
    rule_text = (rule_text or "").strip()[:200]
    if not rule_text:
        errors["rule_text"] = _("请填写时限依据。")
    if errors:
        raise ValidationFailed(_("时限模板有误。"), errors)
    source_kind = (source_kind or ANY_KIND).strip() or ANY_KIND
    template = db.session.scalar(
        select(DeadlineTemplate).where(DeadlineTemplate.tier == tier, DeadlineTemplate.source_kind == source_kind)
    )
    before = None
    if template is None:
        template = DeadlineTemplate(tier=tier, source_kind=source_kind)
        db.session.add(template)
    else:
        before = {"days": template.days, "rule_text": template.rule_text}
    template.days, template.rule_text = days, rule_text
    db.session.flush()
    audit.record(
        actor,
        "triage.template_save",
        "deadline_template",
        template.id,
        before=before,
        after={"tier": tier, "source_kind": source_kind, "days": days, "rule_text": rule_text},
    )
    return template


def _add_default_categories() -> None:
    from tracker.ledger.models import DEFAULT_CATEGORIES, Category

    for position, name in enumerate(DEFAULT_CATEGORIES):
        db.session.add(Category(name=name, position=position, is_active=True))


def ensure_categories() -> None:
    from tracker.ledger.models import Category

    if db.session.scalar(select(func.count()).select_from(Category)):
        return
    _add_default_categories()
    db.session.flush()


def add_category(name: str, *, actor):
    from tracker.ledger.models import Category

    ensure_categories()
    name = (name or "").strip()[:50]
    if not name:
        raise ValidationFailed(_("请填写分类名称。"))
    if db.session.scalar(select(Category.id).where(Category.name == name)):
        raise ValidationFailed(_("分类“%(n)s”已存在。", n=name))
    position = (db.session.scalar(select(func.max(Category.position))) or 0) + 1
    category = Category(name=name, position=position, is_active=True)
    db.session.add(category)
    db.session.flush()
    audit.record(actor, "category.create", "category", category.id, after={"name": name})
    return category

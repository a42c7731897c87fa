"""The problem state machine as data, and `apply()`: the only place that assigns `problem.status`.

apply() checks the actor's permission (per unit), the current state and the version the actor saw,
runs the action's effect, moves the state and writes the audit event, all in the caller's
transaction. A concurrent change makes the UPDATE match no row (the version column) and becomes a
Conflict, never a lost update.
"""

from dataclasses import dataclass
from datetime import date

from blinker import Namespace
from flask_babel import gettext as _
from sqlalchemy.orm.exc import StaleDataError

from tracker.access import policy
from tracker.access.policy import Role
from tracker.alerts import scan as alert_scan
from tracker.audit import services as audit
from tracker.auth.services import check_version
from tracker.core import calendar, clock
from tracker.core.errors import Conflict, ValidationFailed
from tracker.core.inputs import parse_id
from tracker.core.sanitize import plain_text
from tracker.extensions import db
from tracker.ledger import timeliness
from tracker.ledger.models import Milestone, Problem, Status, Tier
from tracker.org.models import Unit
from tracker.triage import services as triage


class InvalidTransition(Conflict):
    code = "invalid_transition"


@dataclass(frozen=True)
class Transition:
    to: str
    permission: str
    required: tuple = ()
    label: str = ""
    # Taken only by recording a re-inspection visit (oversight.record_visit), never from a button.
    by_visit: bool = False


@dataclass(frozen=True)
class VisitContext:
    """Given by oversight.record_visit to apply(): the transition is a visit's result. The timeline
    then names the inspection group, not the visitors; a reopen counts a relapse (反弹)."""

    item_id: int
    result: str
    relapse: bool = False


# (state, action) → where it goes, who may do it, what must be given. `approve` goes to `verifying`
# or `closed`: see _approve.
TRANSITIONS: dict[tuple[str, str], Transition] = {
    (Status.NEW, "assign"): Transition(
        Status.ASSIGNED, "problem.assign", ("tier", "unit", "owner", "measures"), "交办"
    ),
    (Status.NEW, "withdraw"): Transition(Status.WITHDRAWN, "problem.withdraw", ("reason",), "撤销"),
    (Status.ASSIGNED, "accept"): Transition(Status.IN_PROGRESS, "problem.accept", (), "签收"),
    (Status.ASSIGNED, "return"): Transition(Status.NEW, "problem.accept", ("reason",), "退回"),
    (Status.IN_PROGRESS, "submit"): Transition(Status.SUBMITTED, "problem.submit", ("report",), "申请销号"),
    (Status.SUBMITTED, "approve"): Transition(Status.CLOSED, "problem.sign_off", ("opinion",), "审核通过"),
    (Status.SUBMITTED, "reject"): Transition(Status.IN_PROGRESS, "problem.sign_off", ("reason",), "退回重改"),
    (Status.VERIFYING, "verify_pass"): Transition(Status.CLOSED, "problem.verify", (), "核查通过", by_visit=True),
    (Status.VERIFYING, "verify_fail"): Transition(
        Status.IN_PROGRESS, "problem.verify", ("reason",), "核查未通过", by_visit=True
    ),
    (Status.CLOSED, "reopen"): Transition(Status.IN_PROGRESS, "problem.reopen", ("reason",), "重新办理"),
}
ACTION_LABELS = {action: t.label for (_state, action), t in TRANSITIONS.items()}
VISIT_ACTIONS = frozenset(action for (_state, action), t in TRANSITIONS.items() if t.by_visit)

# Sent by apply() after every transition, in the same transaction (sender: the problem; keywords
# action, actor, before: the state it left). Rooms that follow the workflow (oversight: verification
# visits, follow-up calls) connect here, so that the workflow never imports them.
signals = Namespace()
transitioned = signals.signal("problem-transitioned")
WITHDRAW_REASONS = ("不属实", "重复", "不予受理")
# Timelines and the audit log name every event through tracker.audit.labels.


def allowed_actions(problem: Problem, user) -> list[str]:
    """The actions USER may take on PROBLEM now (for showing buttons; apply() checks again).
    A verification's result is recorded as a visit, never by a button."""
    return [
        action
        for (state, action), t in TRANSITIONS.items()
        if state == problem.status and not t.by_visit and policy.can(user, t.permission, problem)
    ]


def apply(problem: Problem, action: str, *, actor, expected_version=None, visit=None, **details) -> Problem:
    """Take ACTION on PROBLEM. VISIT (a VisitContext) says that a re-inspection visit's result
    causes it: the only way to take a by_visit action. Raises InvalidTransition (wrong state),
    NotFound (another unit's problem), Forbidden (wrong role), Conflict (stale version),
    ValidationFailed (bad details, or a by_visit action without a visit)."""
    visit = visit if isinstance(visit, VisitContext) else None  # never from a form or a JSON body
    transition = TRANSITIONS.get((problem.status, action))
    if transition is None:
        known = {a for (_s, a) in TRANSITIONS}
        if action not in known:
            raise ValidationFailed(_("未知的操作“%(a)s”。", a=str(action)[:30]), {"action": _("未知的操作。")})
        policy.require(actor, "problem.view", problem)
        raise InvalidTransition(
            _("问题当前状态为“%(s)s”，不能执行“%(a)s”。", s=_(problem.status_label), a=_(ACTION_LABELS[action]))
        )
    policy.require(actor, transition.permission, problem)
    if transition.by_visit and visit is None:
        raise ValidationFailed(
            _("核查结果须在暗访复查中登记：请到该问题所在的复查批次登记复查情况。"), {"action": _("请登记复查情况。")}
        )
    if expected_version is None:
        raise ValidationFailed(_("缺少版本号（version）。"), {"version": _("缺少版本号。")})
    check_version(problem, expected_version)
    reason = plain_text(details.get("reason"), 2000)
    if "reason" in transition.required and not reason:
        raise ValidationFailed(_("请填写理由。"), {"reason": _("请填写理由。")})
    details["reason"] = reason
    details["visit"] = visit
    before = {"status": problem.status, **EFFECT_STATE.get(action, lambda p: {})(problem)}
    after = EFFECTS[action](problem, actor, details) if action in EFFECTS else {}
    problem.status = after.pop("status", None) or transition.to
    problem.last_action = action
    try:
        db.session.flush()
    except StaleDataError:
        db.session.rollback()
        raise Conflict(_("该问题刚被他人修改，请刷新后重试；您填写的内容保留在下方。")) from None
    # The transition that ends an alert's condition ends the alert, in the same transaction.
    alert_scan.resolve_ended([problem.id])
    if visit is not None:
        after["via"] = "inspection"  # the timeline names the inspection group, not the visitors
    audit.record(
        actor,
        f"problem.{action}",
        "problem",
        problem.number,
        before=before,
        after={"status": problem.status, **after},
        note=details.get("reason") or None,
    )
    transitioned.send(problem, action=action, actor=actor, before=before["status"], details=details)
    return problem


# ---- assign ---------------------------------------------------------------------------------------


def parse_date(value, name) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationFailed(_("日期格式应为 YYYY-MM-DD。"), {name: _("日期格式应为 YYYY-MM-DD。")}) from None


def check_deadline(deadline: date, today: date, field_name="deadline"):
    """Refuse a deadline in the past or on a day off, naming the next working day."""
    if deadline < today:
        raise ValidationFailed(
            _("完成时限不能早于今天。"), {field_name: _("完成时限不能早于今天（%(d)s）。", d=today.isoformat())}
        )
    if not calendar.is_workday(deadline):
        nxt = calendar.add_workdays(deadline, 0)
        message = _("%(d)s 是休息日，最近的工作日是 %(n)s。", d=deadline.isoformat(), n=nxt.isoformat())
        raise ValidationFailed(message, {field_name: message})


def assignment_plan(problem: Problem, details: dict) -> dict:
    """Validate the details of an assignment and fill in what the templates propose.
    Raises ValidationFailed with per-field messages."""
    from tracker.auth.models import User

    errors = {}
    tier = details.get("tier")
    if tier not in {t.value for t in Tier}:
        errors["tier"] = _("请选择分级（红、黄、蓝）。")
    quick_fix = bool(details.get("quick_fix", problem.is_quick_fix))
    unit = None
    unit_key = details.get("unit_id") or details.get("unit_code")
    if unit_key:
        unit_id = parse_id(details.get("unit_id"))
        unit = db.session.get(Unit, unit_id) if unit_id else None
        if unit is None and details.get("unit_code"):
            unit = db.session.scalar(db.select(Unit).where(Unit.code == details["unit_code"]))
    if unit is None:
        errors["unit_id"] = _("请选择责任单位。")
    elif not unit.is_active:
        errors["unit_id"] = _("单位“%(n)s”已停用，不能交办。", n=unit.name)
    owner = None
    owner_key = details.get("owner_id") or details.get("owner")
    if owner_key:
        if details.get("owner_id"):
            owner = db.session.get(User, parse_id(owner_key)) if parse_id(owner_key) else None
        else:
            owner = db.session.scalar(db.select(User).where(User.username == str(owner_key).strip().lower()))
    if owner is None:
        errors["owner_id"] = _("请选择责任人。")
    elif unit is not None and (owner.unit_id != unit.id or owner.role != Role.UNIT or not owner.is_active):
        errors["owner_id"] = _("“%(p)s”不是“%(u)s”的在用人员。", p=owner.name, u=unit.name)
    leader = None
    leader_key = details.get("leader_id") or details.get("leader")
    if leader_key:
        if details.get("leader_id"):
            leader = db.session.get(User, parse_id(leader_key)) if parse_id(leader_key) else None
        else:
            leader = db.session.scalar(db.select(User).where(User.username == str(leader_key).strip().lower()))
        if leader is None or leader.role != Role.LEADER or not leader.is_active:
            errors["leader_id"] = _("分管领导须为在用的领导账户。")
    measures = plain_text(details.get("measures"), 5000)
    if not measures:
        errors["measures"] = _("请填写整改措施。")
    urgency, difficulty = details.get("urgency"), details.get("difficulty")
    for name, value in (("urgency", urgency), ("difficulty", difficulty)):
        if value not in (None, "") and str(value) not in ("1", "2", "3"):
            errors[name] = _("取值应为 1、2 或 3。")
    if errors:
        raise ValidationFailed(_("交办信息不完整或有误。"), errors)
    urgency = int(urgency) if urgency not in (None, "") else None
    difficulty = int(difficulty) if difficulty not in (None, "") else None

    today = clock.today()
    suggestion = triage.suggest(problem, urgency, difficulty)
    override_reason = plain_text(details.get("tier_override_reason"), 1000)
    if tier != suggestion.tier and not override_reason:
        raise ValidationFailed(
            _("所选分级与建议分级不同，请说明理由。"), {"tier_override_reason": _("请说明调整分级的理由。")}
        )
    proposal = triage.propose_deadline(tier, quick_fix, problem.source_kind, today)
    deadline = parse_date(details.get("deadline"), "deadline") or proposal.deadline
    deadline_note = plain_text(details.get("deadline_note"), 1000)
    if deadline != proposal.deadline:
        check_deadline(deadline, today)
        if not deadline_note:
            raise ValidationFailed(
                _("完成时限与模板不同（模板为 %(d)s），请说明理由。", d=proposal.deadline.isoformat()),
                {"deadline_note": _("请说明调整时限的理由。")},
            )
    milestones = []
    if tier == Tier.BLUE:
        given = details.get("milestones")
        if given and (not isinstance(given, list) or not all(isinstance(i, dict) for i in given)):
            raise ValidationFailed(_("节点格式有误。"), {"milestones": _("应为 [{title, due_date}] 列表。")})
        if given:
            for index, item in enumerate(given):
                title = plain_text((item or {}).get("title"), 200)
                due = parse_date((item or {}).get("due_date"), f"milestones.{index}")
                if not title or due is None:
                    raise ValidationFailed(
                        _("第 %(n)d 个节点缺少名称或日期。", n=index + 1),
                        {f"milestones.{index}": _("请填写节点名称和日期。")},
                    )
                if due < today or due > deadline:
                    raise ValidationFailed(
                        _("第 %(n)d 个节点的日期应在今天与完成时限之间。", n=index + 1),
                        {f"milestones.{index}": _("日期应在今天与完成时限之间。")},
                    )
                milestones.append((title, due))
            if [d for _t, d in milestones] != sorted(d for _t, d in milestones):
                raise ValidationFailed(_("节点日期应按先后顺序排列。"), {"milestones": _("节点日期应按先后顺序排列。")})
        else:
            milestones = triage.propose_milestones(today, deadline)
    return {
        "tier": tier,
        "quick_fix": quick_fix,
        "unit": unit,
        "owner": owner,
        "leader": leader,
        "measures": measures,
        "urgency": urgency,
        "difficulty": difficulty,
        "suggestion": suggestion,
        "override_reason": override_reason or None,
        "deadline": deadline,
        "rule_text": proposal.rule_text,
        "deadline_note": deadline_note or None,
        "milestones": milestones,
    }


def _assign(problem: Problem, actor, details: dict) -> dict:
    plan = assignment_plan(problem, details)
    problem.tier = plan["tier"]
    problem.is_quick_fix = plan["quick_fix"]
    problem.urgency, problem.difficulty = plan["urgency"], plan["difficulty"]
    problem.suggested_tier = plan["suggestion"].tier
    problem.tier_reasons = plan["suggestion"].reasons
    problem.tier_override_reason = plan["override_reason"]
    problem.unit_id = plan["unit"].id
    problem.owner_id = plan["owner"].id
    problem.leader_id = plan["leader"].id if plan["leader"] else None
    problem.inspector_id = getattr(actor, "id", None)
    problem.measures = plan["measures"]
    problem.assigned_at = clock.now()
    problem.deadline = problem.original_deadline = plan["deadline"]
    problem.deadline_rule = plan["rule_text"]
    problem.deadline_note = plan["deadline_note"]
    problem.milestones = [Milestone(position=i, title=t, due_date=d) for i, (t, d) in enumerate(plan["milestones"])]
    return {
        "tier": problem.tier,
        "suggested_tier": problem.suggested_tier,
        "tier_override_reason": problem.tier_override_reason,
        "unit_id": problem.unit_id,
        "owner_id": problem.owner_id,
        "leader_id": problem.leader_id,
        "deadline": problem.deadline.isoformat(),
        "deadline_note": problem.deadline_note,
        "milestones": [[t, d.isoformat()] for t, d in plan["milestones"]],
    }


def _withdraw(problem, actor, details):
    kind = details.get("withdraw_reason") or details.get("kind")
    if kind not in WITHDRAW_REASONS:
        raise ValidationFailed(
            _("请选择撤销原因：不属实、重复或不予受理。"), {"withdraw_reason": _("请选择撤销原因。")}
        )
    details["reason"] = f"{kind}：{details['reason']}"
    return {"withdraw_reason": kind}


def _submit(problem, actor, details):
    from tracker.core.sanitize import rich_html
    from tracker.ledger.models import NoteKind, ProgressNote

    report = rich_html(details.get("report"))
    if not plain_text(report):
        raise ValidationFailed(_("请填写整改报告。"), {"report": _("请填写整改报告：做了什么、效果如何。")})
    if not problem.evidence and not problem.evidence_waived:
        raise ValidationFailed(
            _("申请销号须附佐证材料（照片、文件等）；确无材料的，请纪检监察员同意免附。"),
            {"evidence": _("请先上传佐证材料。")},
        )
    settled = _settle_milestones(problem, details.get("milestones"), actor)
    problem.notes.append(
        ProgressNote(
            author_id=getattr(actor, "id", None), kind=NoteKind.REPORT, body_html=report, created_at=clock.now()
        )
    )
    pending = [r for r in problem.extension_requests if r.status == "pending"]
    return {"evidence": len(problem.evidence), "withdrawn_extension_requests": len(pending), **settled}


def _settle_milestones(problem, given, actor) -> dict:
    """At 申请销号 every milestone still open is marked done or explained. GIVEN is a list of
    {id, done?, explanation?}. Raises ValidationFailed naming each milestone left unanswered
    (field `milestone_<id>`); nothing is changed then."""
    still_open = [m for m in problem.milestones if m.done_at is None]
    if not still_open:
        return {}
    if given in (None, ""):
        given = []
    if not isinstance(given, list) or not all(isinstance(item, dict) for item in given):
        raise ValidationFailed(_("节点格式有误。"), {"milestones": _("应为 [{id, done, explanation}] 列表。")})
    answers = {str(item.get("id")): item for item in given}
    plan, errors = [], {}
    for milestone in still_open:
        answer = answers.get(str(milestone.id), {})
        done = answer.get("done") in (True, 1, "1", "true", "on")
        explanation = plain_text(answer.get("explanation"), 2000)
        if not done and not explanation:
            errors[f"milestone_{milestone.id}"] = _("请标记完成，或说明未完成的原因。")
        plan.append((milestone, done, explanation))
    if errors:
        raise ValidationFailed(
            _("还有 %(n)d 个整改节点未完成：请逐项标记完成，或说明未完成的原因。", n=len(errors)), errors
        )
    done_titles, explained = [], {}
    for milestone, done, explanation in plan:
        if done:
            milestone.done_at, milestone.done_by_id = clock.now(), getattr(actor, "id", None)
            done_titles.append(milestone.title)
        else:
            milestone.explanation = explanation
            explained[milestone.title] = explanation
    return {"milestones_done": done_titles, "milestones_explained": explained}


def _approve(problem, actor, details):
    opinion = plain_text(details.get("opinion"), 2000)
    if not opinion:
        raise ValidationFailed(_("请填写审核意见。"), {"opinion": _("请填写审核意见（审核通过的理由）。")})
    problem.review_opinion = opinion
    problem.approved_by_id = getattr(actor, "id", None)
    details["reason"] = opinion  # the timeline and the audit log show it as the event's note
    verify = problem.tier == Tier.RED or problem.needs_verification
    if not verify:
        timeliness.set_closed(problem, clock.now(), getattr(actor, "id", None))
    return {"status": Status.VERIFYING if verify else Status.CLOSED, "verification": verify, "review_opinion": opinion}


def _reject(problem, actor, details):
    problem.rework_count += 1
    return {"rework_count": problem.rework_count}


def _verify_pass(problem, actor, details):
    # Signed off by whoever approved it; the covert visit only confirmed the result (the unit sees
    # who signed off, never who visited).
    timeliness.set_closed(problem, clock.now(), problem.approved_by_id or problem.inspector_id)
    return {}


def _verify_fail(problem, actor, details):
    problem.rework_count += 1
    problem.needs_verification = True
    return {"rework_count": problem.rework_count}


def _reopen(problem, actor, details):
    timeliness.set_closed(problem, None, None)
    problem.needs_verification = True
    visit = details.get("visit")
    if visit is not None and visit.relapse:  # a re-inspection found a closed problem back (反弹)
        problem.relapse_count += 1
        return {"relapse_count": problem.relapse_count}
    problem.reopen_count += 1
    return {"reopen_count": problem.reopen_count}


def _return(problem, actor, details):
    # Back to the inspector for reassignment; the unit's deadline no longer runs.
    problem.deadline = None
    problem.owner_id = None
    return {}


EFFECTS = {
    "assign": _assign,
    "withdraw": _withdraw,
    "return": _return,
    "submit": _submit,
    "approve": _approve,
    "reject": _reject,
    "verify_pass": _verify_pass,
    "verify_fail": _verify_fail,
    "reopen": _reopen,
}
EFFECT_STATE = {
    "assign": lambda p: {"unit_id": p.unit_id, "tier": p.tier},
    "return": lambda p: {
        "unit_id": p.unit_id,
        "owner_id": p.owner_id,
        "deadline": p.deadline.isoformat() if p.deadline else None,
    },
}

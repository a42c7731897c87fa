"""A believable county organisation with one user per role."""

import random
from datetime import timedelta

from sqlalchemy import func, select

from tracker.access.policy import Role
from tracker.alerts.models import Webhook
from tracker.auth import services as user_services
from tracker.auth.models import User
from tracker.extensions import db
from tracker.org import services as org_services

# (code, name, parent code)
UNITS = [
    ("JY", "教育系统", None),
    ("JY-JYJ", "县教育局", "JY"),
    ("JY-YX", "城关第一小学", "JY-JYJ"),
    ("JY-EZ", "县第二中学", "JY-JYJ"),
    ("JY-YEY", "城关幼儿园", "JY-JYJ"),
    ("WS", "卫生健康系统", None),
    ("WS-WJJ", "县卫生健康局", "WS"),
    ("WS-RMYY", "县人民医院", "WS-WJJ"),
    ("WS-ZYY", "县中医医院", "WS-WJJ"),
    ("WS-CGWSY", "城关镇卫生院", "WS-WJJ"),
    ("ZJ", "住房城乡建设系统", None),
    ("ZJ-ZJJ", "县住房和城乡建设局", "ZJ"),
    ("ZJ-ZLS", "县自来水公司", "ZJ-ZJJ"),
    ("ZJ-CGJ", "县城市管理局", "ZJ"),
    ("XZ", "乡镇", None),
    ("XZ-CGZ", "城关镇人民政府", "XZ"),
    ("XZ-QSZ", "青山镇人民政府", "XZ"),
    ("XZ-HKX", "河口乡人民政府", "XZ"),
    ("ZW", "县政务服务中心", None),
]

# (username, name, role, unit code or leader unit codes)
USERS = [
    ("admin", "系统管理员", Role.ADMIN, None),
    ("jijian", "王纪检", Role.INSPECTOR, None),
    ("lingdao", "李副县长", Role.LEADER, ["JY", "WS"]),
    ("jiaoyu", "张教育", Role.UNIT, "JY-JYJ"),
    ("yiyuan", "陈医院", Role.UNIT, "WS-RMYY"),
]


def is_empty() -> bool:
    return not db.session.scalar(select(func.count()).select_from(User))


def seed(seed_value=None) -> list[tuple[User, str]]:
    """Create the demo organisation and users; returns [(user, password)] for printing once.
    Raises ValueError when the database already has users (seeding twice would clash)."""
    if not is_empty():
        raise ValueError("the database already has users; demo data is only seeded into an empty database")
    from tracker.intake.services import ensure_default_channels
    from tracker.triage.services import ensure_categories, ensure_defaults

    ensure_default_channels()
    ensure_categories()
    ensure_defaults()
    rng = random.Random(seed_value)
    units = {}
    for code, name, parent in UNITS:
        units[code] = org_services.create_unit(
            {"code": code, "name": name, "parent_id": units[parent].id if parent else None}, actor=None
        )
    logins = []
    for username, name, role, where in USERS:
        password = "".join(rng.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(10)) + "9a"
        data = {"username": username, "name": name, "role": role, "password": password}
        if role == Role.UNIT:
            data["unit_id"] = units[where].id
        if role == Role.LEADER:
            data["leader_unit_ids"] = [units[c].id for c in where]
        data["email"] = f"{username}@demo.gov.cn"
        user, _generated = user_services.create_user(data, actor=None)
        user.must_change_password = False
        logins.append((user, password))
    seed_showcase({u.username: u for u, _p in logins})
    seed_history(seed_value)
    return logins


SHOWCASE = [
    # (external id, unit, owner, title, body, assigned this many working days ago (None: not yet), tier)
    (
        "12345-DEMO-001",
        "JY-JYJ",
        "jiaoyu",
        "学校门口上下学时段交通拥堵",
        "城关第一小学门口接送车辆乱停，学生过马路很危险。",
        14,
        "yellow",
    ),
    ("12345-DEMO-002", "WS-RMYY", "yiyuan", "医院挂号排队时间过长", "县人民医院专家号一号难求，排队三小时。", 2, "red"),
    ("12345-DEMO-003", "JY-YX", None, "幼儿园收费不透明", "城关幼儿园收取兴趣班费用未公示。", None, None),
    (
        "12345-DEMO-004",
        "WS-RMYY",
        "yiyuan",
        "医院停车场需要扩建",
        "停车位不足，周边道路拥堵，需要资金扩建。",
        3,
        "blue",
    ),
]


def seed_showcase(users) -> None:
    """A few intake records and problems in different states, one of them overdue, so that the alerts,
    notices and digests have something to say as soon as the scheduler runs."""
    from tracker.core import calendar, clock
    from tracker.intake import services as intake
    from tracker.ledger import services as ledger
    from tracker.org import queries as org_queries
    from tracker.triage import services as triage
    from tracker.workflow import services as workflow

    db.session.add(
        Webhook(
            name="演示：本机接收器（flask alerts sink）", kind="json", url="http://127.0.0.1:8026/hook", is_active=True
        )
    )
    pinned = clock.now() if clock.is_pinned() else None
    today = clock.today()
    inspector = users["jijian"]
    try:
        for external_id, unit_code, owner_name, title, body, days_ago, tier in SHOWCASE:
            unit = org_queries.unit_by_code(unit_code)
            if days_ago is not None:
                clock.pin(f"{calendar.add_workdays(today, -days_ago).isoformat()}T09:30:00")
            record, _created = intake.register(
                {
                    "channel": "12345 热线",
                    "kind": "投诉",
                    "external_id": external_id,
                    "received_at": clock.local_now() - timedelta(hours=2),
                    "title": title,
                    "body": body,
                    "unit_code": unit_code,
                    "rating": "1",
                    "complainant_name": "王某",
                    "complainant_phone": "13900000000",
                },
                actor=inspector,
            )
            problem = ledger.create_problem([record.id], title=title, actor=inspector)
            if days_ago is not None:
                owner = users[owner_name]
                suggested = triage.suggest(problem).tier
                workflow.apply(
                    problem,
                    "assign",
                    actor=inspector,
                    expected_version=problem.version,
                    tier=tier,
                    unit_id=unit.id,
                    owner_id=owner.id,
                    leader="lingdao",
                    measures="限期整改，按时反馈。",
                    tier_override_reason=None if tier == suggested else "演示数据",
                )
                db.session.flush()
                if days_ago > 2:  # the red one (2 days ago) is left unaccepted: an alert
                    workflow.apply(problem, "accept", actor=owner, expected_version=problem.version)
                    db.session.flush()
            clock.pin(pinned)
    finally:
        clock.pin(pinned)


CAMPAIGNS = [
    # (name, description, starts this many days ago, lasts this many days)
    ("主题教育检视问题整改", "主题教育中检视出的群众急难愁盼问题，逐项建立台账、限期整改。", 150, 270),
    ("营商环境专项整治", "聚焦审批效率、涉企服务和窗口作风的专项整治。", 90, 180),
]


def ensure_campaigns() -> list[int]:
    """The demo campaigns (专项), created when the database has none; returns the ids of the active ones."""
    from tracker.core import clock
    from tracker.ledger.models import Campaign

    have = db.session.scalars(select(Campaign.id).where(Campaign.is_active.is_(True)).order_by(Campaign.id)).all()
    if have:
        return list(have)
    today = clock.today()
    made = []
    for name, description, ago, days in CAMPAIGNS:
        campaign = Campaign(
            name=name,
            description=description,
            starts_on=today - timedelta(days=ago),
            ends_on=today - timedelta(days=ago) + timedelta(days=days),
            is_active=True,
        )
        db.session.add(campaign)
        made.append(campaign)
    db.session.flush()
    return [c.id for c in made]


TITLES = [
    ("窗口工作人员服务态度生硬", "干部作风"),
    ("办事材料反复要求补交", "审批效率"),
    ("小区燃气管道存在安全隐患", "城乡建设"),
    ("企业拖欠农民工工资", "劳动和社会保障"),
    ("学校周边交通拥堵", "交通运输"),
    ("医院挂号排队时间过长", "卫生计生"),
    ("老旧小区排水管网需要改造", "城乡建设"),
    ("低保申请迟迟没有答复", "困难救助"),
    ("夜间施工噪音扰民", "环境保护"),
    ("公交线路调整后出行不便", "交通运输"),
    ("社区文化活动室长期关闭", "文化生活"),
    ("幼儿园收费不透明", "学校教育"),
]
UNIT_STATUSES = [
    "new",
    "assigned",
    "in_progress",
    "in_progress",
    "in_progress",
    "submitted",
    "verifying",
    "closed",
    "closed",
    "closed",
    "withdrawn",
]
# The small demo's history (`flask demo seed`): the shares of a ledger that has run for a year.
HISTORY_STATUSES = ["closed"] * 80 + ["withdrawn"] * 2 + ["new"] * 2 + ["assigned"] * 2
HISTORY_STATUSES += ["in_progress"] * 9 + ["submitted"] * 3 + ["verifying"] * 2
HISTORY_PROBLEMS = 360
HISTORY_DAYS = 120  # closures over the last 120 days: about as many records a week as the open problems brought
LIMIT_DAYS = {"red": 5, "yellow": 14, "blue": 42}
FOLLOWUP_NOTES = {
    "satisfied": "反映人表示问题已解决，对处理结果满意。",
    "basically_satisfied": "反映人表示基本解决，希望继续跟进。",
    "unsatisfied": "反映人表示问题未解决，对处理结果不满意。",
}
EXTENSION_REASON = "涉及资金和施工周期，原定时限内难以整改到位，申请延期。"


def seed_history(seed_value=None) -> dict:
    """A year of ledger behind the showcase (for `flask demo seed`): HISTORY_PROBLEMS problems, most of
    them closed over the last year, some open ones overdue and some due this week, so that a leader's
    dashboard, overdue list and ranking have something to show. Does not commit."""
    return seed_problems(HISTORY_PROBLEMS, seed_value, statuses=HISTORY_STATUSES, commit=False, days=HISTORY_DAYS)


def seed_problems(
    count: int,
    seed_value=None,
    records_per_problem: int = 3,
    batch: int = 5000,
    statuses: list[str] = UNIT_STATUSES,
    commit: bool = True,
    days: int = 365,
) -> dict:
    """Generate COUNT problems (and RECORDS_PER_PROBLEM intake records each) across the existing units,
    for the small demo's history (seed_history); at scale (`demo seed --problems N`, the benchmarks)
    tracker.demo.generator.fill is used instead. Inserted in batches with Core statements.
    Generated records share one encrypted query PIN (demo data, not for real complainants).

    Shapes: closed problems were signed off over the last DAYS days, after a rectification of one day to
    1.3 times their time limit, by an inspector, with the figures a sign-off stores (close_timeliness
    and close_workdays, as tracker.ledger.timeliness.closing_figures computes them); open ones were
    assigned recently (about a fifth of them overdue); 15 % of the assigned problems had an extension
    approved (an ExtensionRequest and a later deadline); 8 % were sent back once or twice (rework),
    2 % came back after closing (relapse); 20 % belong to one of the demo campaigns. COMMIT=False:
    flush only (the caller commits)."""
    from datetime import datetime, time, timedelta

    from sqlalchemy import insert, select, update

    from tracker.core import clock, crypto, sequences
    from tracker.core.calendar import WorkdayIndex
    from tracker.intake.models import IntakeRecord
    from tracker.intake.services import new_tracking_code
    from tracker.ledger.models import ExtensionRequest, Problem
    from tracker.ledger.timeliness import judge
    from tracker.org.models import Unit
    from tracker.oversight.models import FollowUp

    rng = random.Random(seed_value)
    units = db.session.execute(select(Unit.id).where(Unit.parent_id.is_not(None)).order_by(Unit.id)).scalars().all()
    owners = dict(db.session.execute(select(User.unit_id, User.id).where(User.role == Role.UNIT)).all())
    leaders = db.session.scalars(select(User.id).where(User.role == Role.LEADER).order_by(User.id)).all() or [None]
    inspectors = db.session.scalars(select(User.id).where(User.role == Role.INSPECTOR).order_by(User.id)).all()
    inspectors = inspectors or [None]
    if not units:
        raise ValueError("create units first (flask demo seed)")
    campaigns = ensure_campaigns()
    year = clock.today().year
    start = sequences.next_value("problem", year)
    pin = crypto.encrypt("000000")
    now = clock.now()
    today = clock.today()
    zone = clock.timezone()
    workdays = WorkdayIndex(today - timedelta(days=800), today)
    quarter_days = (today - today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)).days + 1
    first_problem_id = (db.session.scalar(select(func.max(Problem.id))) or 0) + 1
    record_id = db.session.scalar(select(func.max(IntakeRecord.id))) or 0
    # the first record of a closed problem has someone to call back (a few people, encrypted once)
    callers = []
    for _n in range(12):
        name, phone = (
            rng.choice("王李张刘陈杨黄赵吴周") + rng.choice("伟芳娜敏静强磊军洋"),
            f"139{rng.randrange(10**8):08d}",
        )
        callers.append((crypto.encrypt(name), crypto.encrypt(phone), crypto.mask_name(name), crypto.mask_phone(phone)))
    connection = db.session.connection()
    made_problems = made_records = made_extensions = made_followups = 0

    def local(day, seconds):
        return datetime.combine(day, time(), zone) + timedelta(seconds=seconds)

    for offset in range(0, count, batch):
        problems, records, extensions, followups = [], [], [], []
        for i in range(offset, min(count, offset + batch)):
            pid = first_problem_id + i
            title, category = TITLES[rng.randrange(len(TITLES))]
            status = statuses[rng.randrange(len(statuses))]
            tier = rng.choice(("red", "yellow", "yellow", "blue"))
            unit_id = rng.choice(units)
            assigned = status != "new"
            limit = LIMIT_DAYS[tier]
            extra = limit // 2 + 3 + rng.randrange(8) if assigned and rng.random() < 0.15 else 0
            closed_at = closed_by = timeliness = close_workdays = None
            if status == "closed":
                # some in the current month and quarter, so that their figures have closures even on day one
                chance = rng.random()
                span = today.day if chance < 0.03 else quarter_days if chance < 0.12 else days
                closed_on = today - timedelta(days=rng.randrange(span))
                assigned_on = closed_on - timedelta(days=1 + rng.randrange(limit * 13 // 10 + 1 + extra))
                closed_at = min(local(closed_on, 32400 + rng.randrange(32400)), now - timedelta(minutes=5))
                closed_by = rng.choice(inspectors)
            elif status == "withdrawn":
                assigned_on = today - timedelta(days=30 + rng.randrange(days))
            elif assigned:
                assigned_on = today - timedelta(days=rng.randrange(int((limit + extra) * 1.25) + 1))
            else:
                assigned_on = None
            if assigned:
                assigned_at = min(local(assigned_on, 30600 + rng.randrange(25200)), now - timedelta(hours=1))
                created = assigned_at - timedelta(minutes=30 + rng.randrange(2880))
                original = assigned_on + timedelta(days=limit)
                deadline = original + timedelta(days=extra)
            else:
                assigned_at = original = deadline = None
                created = now - timedelta(minutes=30 + rng.randrange(14400))
            if closed_at is not None:
                closed_on = closed_at.astimezone(zone).date()
                timeliness = judge(closed_on, original, deadline)
                close_workdays = max(0, workdays.between(assigned_on, closed_on))
            chance = rng.random()
            rework = (1 if chance < 0.06 else 2 if chance < 0.08 else 0) if assigned else 0
            relapse = 1 if status in ("closed", "in_progress") and rng.random() < 0.02 else 0
            chance = rng.random()
            campaign = campaigns[0] if chance < 0.12 else campaigns[-1] if chance < 0.2 else None
            number = f"ZG-{year}-{start + i:06d}"
            problems.append(
                {
                    "id": pid,
                    "number": number,
                    "title": f"{title}（{i}）",
                    "description": title,
                    "category": category,
                    "channel": "12345 热线",
                    "source_kind": "投诉",
                    "status": status,
                    "tier": tier if assigned else None,
                    "is_quick_fix": False,
                    "unit_id": unit_id,
                    "owner_id": owners.get(unit_id) if assigned else None,
                    "leader_id": rng.choice(leaders) if assigned else None,
                    "inspector_id": rng.choice(inspectors),
                    "measures": "限期整改" if assigned else None,
                    "assigned_at": assigned_at,
                    "deadline": deadline,
                    "original_deadline": original,
                    "closed_at": closed_at,
                    "closed_by_id": closed_by,
                    "approved_by_id": closed_by,
                    "close_timeliness": timeliness,
                    "close_workdays": close_workdays,
                    "campaign_id": campaign,
                    "rework_count": rework,
                    "reopen_count": 0,
                    "relapse_count": relapse,
                    "created_at": created,
                    "updated_at": closed_at or now,
                    "version": 1,
                }
            )
            if extra:
                asked = min(assigned_at + timedelta(hours=2 + rng.randrange(limit * 20)), now - timedelta(minutes=30))
                extensions.append(
                    {
                        "problem_id": pid,
                        "requested_by_id": owners.get(unit_id),
                        "reason": EXTENSION_REASON,
                        "current_deadline": original,
                        "requested_deadline": deadline,
                        "status": "approved",
                        "decided_by_id": rng.choice(inspectors),
                        "decided_at": min(asked + timedelta(hours=3 + rng.randrange(40)), now),
                        "decision_note": "同意延期，请按新时限整改到位。",
                        "created_at": asked,
                    }
                )
            for k in range(records_per_problem):
                received = created - timedelta(days=k, minutes=rng.randrange(0, 1440))
                record_id += 1
                caller = callers[rng.randrange(len(callers))] if closed_at is not None and k == 0 else None
                state = due_on = None
                if closed_at is not None:
                    state, due_on = "anonymous", None
                    if caller is not None:
                        due_on = closed_at.astimezone(zone).date() + timedelta(days=1)
                        called = closed_at + timedelta(hours=20 + rng.randrange(30))
                        state = "done" if called < now else "due"
                    if state == "done":
                        chance = rng.random()
                        outcome = (
                            "satisfied" if chance < 0.62 else "basically_satisfied" if chance < 0.88 else "unsatisfied"
                        )
                        followups.append(
                            {
                                "intake_id": record_id,
                                "problem_id": pid,
                                "unit_id": unit_id,
                                "attempt": 1,
                                "outcome": outcome,
                                "note": FOLLOWUP_NOTES[outcome],
                                "called_at": called,
                                "caller_id": closed_by,
                            }
                        )
                records.append(
                    {
                        "id": record_id,
                        "channel": "12345 热线",
                        "external_id": f"DEMO-{number}-{k}",
                        "kind": "投诉",
                        "received_at": received,
                        "title": title,
                        "body": f"{title}，请尽快处理。",
                        "category": category,
                        "rating": rng.choice((1, 2, None)),
                        "unit_id": unit_id,
                        "is_anonymous": caller is None,
                        "complainant_name_enc": caller and caller[0],
                        "complainant_phone_enc": caller and caller[1],
                        "complainant_name_mask": caller and caller[2],
                        "complainant_phone_mask": caller and caller[3],
                        "followup_state": state,
                        "followup_due_on": due_on,
                        "tracking_code": new_tracking_code(),
                        "query_pin_enc": pin,
                        "handling": "rectify",
                        "is_excluded": False,
                        "problem_id": pid,
                        "followup_tries": 0,
                        "is_public": False,
                        "created_at": received,
                        "updated_at": closed_at or now,
                        "version": 1,
                    }
                )
        # Core statements (one executemany each): the ORM's bulk path runs row by row here.
        connection.execute(insert(Problem.__table__), problems)
        if records:
            connection.execute(insert(IntakeRecord.__table__), records)
        if extensions:
            connection.execute(insert(ExtensionRequest.__table__), extensions)
        if followups:
            connection.execute(insert(FollowUp.__table__), followups)
        made_problems += len(problems)
        made_records += len(records)
        made_extensions += len(extensions)
        made_followups += len(followups)
        if commit:
            db.session.commit()
            connection = db.session.connection()
    db.session.execute(
        update(sequences.Sequence)
        .where(sequences.Sequence.name == "problem", sequences.Sequence.year == year)
        .values(value=start + count - 1)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import text

        for table in ("problems", "intake_records"):
            db.session.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            )
    if commit:
        db.session.commit()
    else:
        db.session.flush()
    return {
        "problems": made_problems,
        "intake_records": made_records,
        "extensions": made_extensions,
        "followups": made_followups,
    }

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


def seed_problems(count: int, seed_value=None, records_per_problem: int = 3, batch: int = 5000) -> dict:
    """Generate COUNT problems (and RECORDS_PER_PROBLEM intake records each) across the existing units,
    for trying the ledger at scale and for the benchmarks. Inserted in batches with Core statements.
    Generated records share one encrypted query PIN (demo data, not for real complainants)."""
    from datetime import datetime, timedelta

    from sqlalchemy import insert, select, update

    from tracker.core import clock, crypto, sequences
    from tracker.intake.models import IntakeRecord
    from tracker.intake.services import new_tracking_code
    from tracker.ledger.models import Problem
    from tracker.org.models import Unit

    rng = random.Random(seed_value)
    units = db.session.execute(select(Unit.id).where(Unit.parent_id.is_not(None))).scalars().all()
    owners = dict(db.session.execute(select(User.unit_id, User.id).where(User.role == Role.UNIT)).all())
    leaders = db.session.scalars(select(User.id).where(User.role == Role.LEADER)).all() or [None]
    if not units:
        raise ValueError("create units first (flask demo seed)")
    year = clock.today().year
    start = sequences.next_value("problem", year)
    pin = crypto.encrypt("000000")
    now = clock.now()
    today = clock.today()
    first_problem_id = (db.session.scalar(select(func.max(Problem.id))) or 0) + 1
    made_problems = made_records = 0
    for offset in range(0, count, batch):
        problems, records = [], []
        for i in range(offset, min(count, offset + batch)):
            title, category = TITLES[rng.randrange(len(TITLES))]
            status = UNIT_STATUSES[rng.randrange(len(UNIT_STATUSES))]
            tier = rng.choice(("red", "yellow", "yellow", "blue"))
            unit_id = rng.choice(units)
            assigned = status != "new"
            assigned_on = today - timedelta(days=rng.randrange(0, 400))
            deadline = assigned_on + timedelta(days={"red": 5, "yellow": 14, "blue": 42}[tier]) if assigned else None
            number = f"ZG-{year}-{start + i:06d}"
            problems.append(
                {
                    "id": first_problem_id + i,
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
                    "measures": "限期整改" if assigned else None,
                    "assigned_at": datetime.combine(assigned_on, datetime.min.time(), clock.timezone())
                    if assigned
                    else None,
                    "deadline": deadline,
                    "original_deadline": deadline,
                    "rework_count": 0,
                    "reopen_count": 0,
                    "relapse_count": 0,
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                }
            )
            for k in range(records_per_problem):
                received = now - timedelta(days=rng.randrange(0, 420), minutes=rng.randrange(0, 1440))
                records.append(
                    {
                        "channel": "12345 热线",
                        "external_id": f"DEMO-{number}-{k}",
                        "kind": "投诉",
                        "received_at": received,
                        "title": title,
                        "body": f"{title}，请尽快处理。",
                        "category": category,
                        "rating": rng.choice((1, 2, None)),
                        "unit_id": unit_id,
                        "is_anonymous": True,
                        "tracking_code": new_tracking_code(),
                        "query_pin_enc": pin,
                        "handling": "rectify",
                        "is_excluded": False,
                        "problem_id": first_problem_id + i,
                        "created_at": now,
                        "updated_at": now,
                        "version": 1,
                    }
                )
        db.session.execute(insert(Problem), problems)
        if records:
            db.session.execute(insert(IntakeRecord), records)
        made_problems += len(problems)
        made_records += len(records)
        db.session.commit()
    db.session.execute(
        update(sequences.Sequence)
        .where(sequences.Sequence.name == "problem", sequences.Sequence.year == year)
        .values(value=start + count - 1)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import text

        db.session.execute(
            text("SELECT setval(pg_get_serial_sequence('problems', 'id'), (SELECT max(id) FROM problems))")
        )
    db.session.commit()
    return {"problems": made_problems, "intake_records": made_records}

"""A believable county organisation with one user per role."""

import random

from sqlalchemy import func, select

from tracker.access.policy import Role
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
        user, _generated = user_services.create_user(data, actor=None)
        user.must_change_password = False
        logins.append((user, password))
    return logins

"""User accounts: passwords, login with lockout, creating and changing users. Services flush; callers commit."""

import hashlib
import math
import secrets
import string
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update

from tracker.access.policy import Role
from tracker.audit import services as audit
from tracker.auth.models import ApiToken, LoginThrottle, User
from tracker.core import clock
from tracker.core.errors import Conflict, ValidationFailed
from tracker.core.inputs import parse_id
from tracker.extensions import db
from tracker.org.models import Unit

_FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_HASHER = PasswordHasher()
# Verified against when the user does not exist, so that timing does not reveal it.
_DUMMY_HASH = _HASHER.hash("not-a-real-password")


def _hasher():
    return _FAST_HASHER if current_app.config.get("PASSWORD_HASH_FAST") else _HASHER


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def check_password(user: User | None, password: str) -> bool:
    try:
        return _hasher().verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


def generate_password(length=12) -> str:
    alphabet = string.ascii_letters + string.digits
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length))
        if any(c.isdigit() for c in pw) and any(c.isalpha() for c in pw):
            return pw


def password_problems(password: str) -> str | None:
    """A message saying why PASSWORD is too weak, or None."""
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        return _("密码至少需要 %(n)d 个字符。", n=minimum)
    if password.isdigit() or password.isalpha():
        return _("密码须同时包含字母和数字。")
    return None


class LoginRefused(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


def normalise_username(username: str) -> str:
    return (username or "").strip().lower()


def authenticate(username: str, password: str) -> User:
    """Check a login. Returns the user or raises LoginRefused with a message that never says whether
    the user name exists. Five failures lock the name for 15 minutes (configurable)."""
    name = normalise_username(username)
    now = clock.now()
    throttle = db.session.get(LoginThrottle, name) if name else None
    if throttle and throttle.locked_until and throttle.locked_until > now:
        minutes = max(1, math.ceil((throttle.locked_until - now).total_seconds() / 60))
        raise LoginRefused(_("登录失败次数过多，请 %(m)d 分钟后再试。", m=minutes))
    user = db.session.scalar(select(User).where(User.username == name)) if name else None
    if not check_password(user, password or ""):
        _note_failure(name, now)
        raise LoginRefused(_("用户名或密码错误。"))
    if not user.is_active:
        raise LoginRefused(_("该账户已停用，请联系系统管理员。"))
    if throttle:
        db.session.delete(throttle)
    user.last_login_at = now
    return user


def _note_failure(name, now):
    if not name:
        return
    throttle = db.session.get(LoginThrottle, name)
    if throttle is None:
        throttle = LoginThrottle(username=name, failures=0)
        db.session.add(throttle)
    if throttle.locked_until and throttle.locked_until <= now:
        throttle.failures = 0
        throttle.locked_until = None
    throttle.failures += 1
    throttle.last_failure_at = now
    if throttle.failures >= current_app.config["LOGIN_MAX_FAILURES"]:
        throttle.locked_until = now + timedelta(minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"])
    db.session.flush()


def check_version(obj, expected_version):
    """Raise Conflict when the object changed since the form that sent EXPECTED_VERSION was loaded,
    ValidationFailed when EXPECTED_VERSION is not a whole number."""
    if expected_version is None:
        return
    try:
        expected_version = int(expected_version)
    except (TypeError, ValueError):
        raise ValidationFailed(_("版本号无效，请刷新页面后重试。"), {"version": _("版本号无效。")}) from None
    if expected_version != obj.version:
        raise Conflict(
            _(
                "该记录已被他人修改（%(when)s），请核对后重新提交；您填写的内容保留在下方。",
                when=clock.to_local(obj.updated_at).strftime("%Y-%m-%d %H:%M"),
            )
        )


def _validate_user_fields(data, user=None):
    errors = {}
    username = normalise_username(data.get("username", user.username if user else ""))
    if not username:
        errors["username"] = _("请填写用户名。")
    elif not all(c.isalnum() or c in "._-" for c in username) or not username.isascii():
        errors["username"] = _("用户名只能包含英文字母、数字和 . _ -。")
    else:
        clash = db.session.scalar(select(User.id).where(func.lower(User.username) == username))
        if clash and (user is None or clash != user.id):
            errors["username"] = _("用户名“%(u)s”已被使用。", u=username)
    name = (data.get("name") or "").strip()
    if not name:
        errors["name"] = _("请填写姓名。")
    try:
        role = Role(data.get("role"))
    except ValueError:
        errors["role"] = _("请选择角色。")
        role = None
    unit = None
    if data.get("unit_id"):
        unit = db.session.get(Unit, parse_id(data["unit_id"])) if parse_id(data["unit_id"]) else None
        if unit is None:
            errors["unit_id"] = _("所选单位不存在。")
        elif not unit.is_active and (user is None or user.unit_id != unit.id):
            errors["unit_id"] = _("单位“%(n)s”已停用，不能再添加用户。", n=unit.name)
    if role == Role.UNIT and unit is None and "unit_id" not in errors:
        errors["unit_id"] = _("责任单位用户必须属于一个单位。")
    leader_units = []
    for unit_id in data.get("leader_unit_ids") or []:
        leader_unit = db.session.get(Unit, parse_id(unit_id)) if parse_id(unit_id) else None
        if leader_unit is None:
            errors["leader_unit_ids"] = _("所选分管单位不存在。")
        else:
            leader_units.append(leader_unit)
    if errors:
        raise ValidationFailed(_("请修正标出的错误。"), errors)
    return username, name, role, unit, leader_units


def create_user(data: dict, *, actor) -> tuple[User, str | None]:
    """Create a user from DATA (username, name, role, unit_id?, leader_unit_ids?, sees_all_units?,
    email?, password?). Returns (user, generated_password or None). Raises ValidationFailed."""
    username, name, role, unit, leader_units = _validate_user_fields(data)
    password = data.get("password") or None
    generated = None
    if password:
        problem = password_problems(password)
        if problem:
            raise ValidationFailed(problem, {"password": problem})
    else:
        password = generated = generate_password()
    user = User(
        username=username,
        name=name,
        role=role,
        unit=unit if role == Role.UNIT or unit is not None else None,
        email=(data.get("email") or "").strip() or None,
        password_hash=hash_password(password),
        is_active=True,
        sees_all_units=bool(data.get("sees_all_units")) and role == Role.LEADER,
        must_change_password=generated is not None or bool(data.get("must_change_password")),
        session_token=secrets.token_hex(8),
        version=1,
    )
    user.leader_of = leader_units if role == Role.LEADER else []
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "user.create", "user", user.id, after=user.audit_state())
    return user, generated


def update_user(user: User, data: dict, *, actor, expected_version=None) -> User:
    """Change a user's profile, role, unit and leader units. Raises Conflict, ValidationFailed."""
    check_version(user, expected_version)
    username, name, role, unit, leader_units = _validate_user_fields(data, user)
    if user.id == getattr(actor, "id", None) and role != user.role:
        raise ValidationFailed(_("不能修改自己的角色。"), {"role": _("不能修改自己的角色。")})
    before = user.audit_state()
    user.username = username
    user.name = name
    user.role = role
    user.unit = unit
    user.email = (data.get("email") or "").strip() or None
    user.sees_all_units = bool(data.get("sees_all_units")) and role == Role.LEADER
    user.leader_of = leader_units if role == Role.LEADER else []
    after = user.audit_state()
    if after != before:
        user.bump_version()
        old, new = audit.diff(before, after)
        audit.record(actor, "user.update", "user", user.id, before=old, after=new)
    return user


def set_active(user: User, active: bool, *, actor, expected_version=None) -> User:
    """Deactivate or reactivate a user. Raises ValidationFailed when an admin would lock themselves out."""
    check_version(user, expected_version)
    if not active and user.id == getattr(actor, "id", None):
        raise ValidationFailed(_("不能停用自己的账户。"))
    if active and user.unit is not None and not user.unit.is_active:
        raise ValidationFailed(_("所在单位“%(n)s”已停用，请先启用单位或调整用户的单位。", n=user.unit.name))
    if user.is_active == active:
        return user
    user.is_active = active
    user.session_token = secrets.token_hex(8)  # log out everywhere
    user.bump_version()
    audit.record(
        actor,
        "user.activate" if active else "user.deactivate",
        "user",
        user.id,
        before={"is_active": not active},
        after={"is_active": active},
    )
    return user


def reset_password(user: User, *, actor, password: str | None = None) -> str:
    """Set a new password (generated when none is given); the user must change it at next login."""
    if password:
        problem = password_problems(password)
        if problem:
            raise ValidationFailed(problem, {"password": problem})
    new_password = password or generate_password()
    user.password_hash = hash_password(new_password)
    user.must_change_password = True
    user.session_token = secrets.token_hex(8)
    user.bump_version()
    db.session.execute(LoginThrottle.__table__.delete().where(LoginThrottle.username == user.username))
    audit.record(actor, "user.reset_password", "user", user.id)
    return new_password


def end_sessions(user: User) -> None:
    """Log USER out everywhere: every session cookie issued so far (even a copied one) stops working."""
    user.session_token = secrets.token_hex(8)


def change_own_password(user: User, current: str, new: str, confirm: str) -> None:
    """A user changes their own password. Raises ValidationFailed with per-field messages."""
    if not check_password(user, current or ""):
        raise ValidationFailed(_("当前密码不正确。"), {"current_password": _("当前密码不正确。")})
    if new != confirm:
        raise ValidationFailed(_("两次输入的新密码不一致。"), {"confirm_password": _("两次输入的新密码不一致。")})
    problem = password_problems(new or "")
    if problem:
        raise ValidationFailed(problem, {"new_password": problem})
    if check_password(user, new):
        message = _("新密码不能与当前密码相同。")
        raise ValidationFailed(message, {"new_password": message})
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.session_token = secrets.token_hex(8)
    user.bump_version()
    audit.record(user, "user.change_password", "user", user.id)


# ---- API tokens ----------------------------------------------------------------------------------

TOKEN_PREFIX = "trk_"  # noqa: S105 - a prefix, not a secret


def _token_hash(plain: str) -> str:
    return hashlib.sha256(plain.encode("utf-8")).hexdigest()


def create_token(user: User, name: str, *, actor) -> tuple[ApiToken, str]:
    """A new bearer token for USER; returns (row, plain token). Only the hash is stored."""
    name = (name or "").strip()[:64]
    if not name:
        raise ValidationFailed(_("请填写令牌名称。"), {"name": _("请填写令牌名称。")})
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, user_id=user.id, token_hash=_token_hash(plain), prefix=plain[:10])
    db.session.add(token)
    db.session.flush()
    audit.record(actor, "token.create", "api_token", token.id, after={"name": name, "user_id": user.id})
    return token, plain


def user_for_authorization(header: str | None) -> User | None:
    """The user behind an `Authorization: Bearer <token>` header, or None."""
    scheme, _sep, token = (header or "").partition(" ")
    return user_for_token(token.strip()) if scheme.lower() == "bearer" else None


def user_for_token(plain: str) -> User | None:
    """The active user behind a bearer token, or None. Marks the token used (at most once a minute)."""
    if not plain or not plain.startswith(TOKEN_PREFIX):
        return None
    from sqlalchemy.orm import joinedload

    stmt = select(ApiToken).where(ApiToken.token_hash == _token_hash(plain))
    # the user and the units in their charge in the same statement (the scope needs them)
    stmt = stmt.options(joinedload(ApiToken.user).joinedload(User.leader_of))
    token = db.session.execute(stmt).unique().scalar_one_or_none()
    if token is None or token.revoked_at is not None or not token.user.is_active:
        return None
    now = clock.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        # Its own short transaction: a read-only API call must not commit the request's session.
        with db.engine.begin() as conn:
            conn.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
    return token.user

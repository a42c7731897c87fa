"""The one place that decides who may do what, and to which unit's objects.

Views, the API, templates and the CLI all ask `can()` / `require()`. An object is scoped by its
`unit_id` (a unit is scoped by itself): unit users reach their unit and its sub-units, leaders the
units in their charge (and sub-units) or all, inspectors and admins everything.
"""

from enum import StrEnum

from flask import g, has_request_context

from tracker.core.errors import Forbidden, NotFound
from tracker.core.words import N_


class Role(StrEnum):
    ADMIN = "admin"
    INSPECTOR = "inspector"
    LEADER = "leader"
    UNIT = "unit"


ROLE_LABELS = {
    Role.ADMIN: N_("系统管理员"),
    Role.INSPECTOR: N_("纪检监察员"),
    Role.LEADER: N_("领导"),
    Role.UNIT: N_("责任单位"),
}

# Named permissions. Later domains add theirs here, never in their views.
ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.ADMIN: frozenset(
        {
            "admin.access",
            "unit.view",
            "unit.manage",
            "user.view",
            "user.manage",
            "calendar.manage",
            "audit.view",
            "complainant.view",
            "complainant.mask",
            "intake.view",
            "intake.import",
            "channel.manage",
            "triage.manage",
            "alerts.manage",
            "token.manage",
            "problem.view",
            "report.view",
            "inspection.view",
            "followup.settings",
            "campaign.manage",
        }
    ),
    Role.INSPECTOR: frozenset(
        {
            "unit.view",
            "user.view",
            "audit.view",
            "complainant.view",
            "complainant.mask",
            "intake.view",
            "intake.create",
            "intake.import",
            "intake.handle",
            "problem.view",
            "problem.create",
            "problem.assign",
            "problem.withdraw",
            "problem.sign_off",
            "problem.verify",
            "problem.reopen",
            "problem.extension_decide",
            "notice.issue",
            "report.view",
            "campaign.manage",
            "problem.campaign",
            "inspection.view",
            "inspection.manage",
            "followup.call",
            "followup.decide",
            "intake.publish",
        }
    ),
    Role.LEADER: frozenset(
        {
            "unit.view",
            "intake.view",
            "problem.view",
            "problem.instruct",
            "complainant.mask",
            "report.view",
        }
    ),
    Role.UNIT: frozenset(
        {
            "unit.view",
            "intake.view",
            "intake.appeal",
            "problem.view",
            "problem.accept",
            "problem.progress",
            "problem.evidence",
            "problem.extension",
            "problem.submit",
        }
    ),
}

# Roles whose reach is every unit; the others are limited to units they belong to or are in charge of.
UNSCOPED_ROLES = {Role.ADMIN, Role.INSPECTOR}


def permissions_of(user) -> frozenset[str]:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    try:
        return ROLE_PERMISSIONS[Role(user.role)]
    except ValueError:
        return frozenset()


def visible_unit_ids(user) -> set[int] | None:
    """Ids of the units USER may see, or None for 'all units'. Cached for the request."""
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    if user.role in UNSCOPED_ROLES:
        return None
    cache = g.setdefault("_visible_units", {}) if has_request_context() else {}
    key = (user.id, user.version)
    if key not in cache:
        cache[key] = _compute_visible_units(user)
    return cache[key]


def _compute_visible_units(user) -> set[int] | None:
    from flask import current_app

    from tracker.org.queries import subtree_ids

    if user.role == Role.LEADER:
        if user.sees_all_units or current_app.config.get("LEADERS_SEE_ALL"):
            return None
        roots = {u.id for u in user.leader_of}
    elif user.role == Role.UNIT:
        roots = {user.unit_id} if user.unit_id else set()
    else:
        roots = set()
    return subtree_ids(roots)


def in_scope(user, obj) -> bool:
    if obj is None:
        return True
    unit_id = getattr(obj, "unit_id", None)
    scope = visible_unit_ids(user)
    if scope is None:
        return True
    return unit_id is not None and unit_id in scope


def can(user, permission: str, obj=None) -> bool:
    """True when USER holds PERMISSION and, for a scoped OBJ, OBJ is in one of the user's units."""
    if permission not in permissions_of(user):
        return False
    return in_scope(user, obj)


def require(user, permission: str, obj=None) -> None:
    """Raise NotFound when OBJ is outside the user's units (no hint that it exists), Forbidden when
    the role lacks PERMISSION."""
    if obj is not None and not in_scope(user, obj):
        raise NotFound("未找到该对象。")
    if permission not in permissions_of(user):
        raise Forbidden("您没有执行此操作的权限。")

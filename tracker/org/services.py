"""Creating, changing and deactivating units. Services flush; callers commit."""

import re

from flask_babel import gettext as _
from sqlalchemy import select

from tracker.audit import services as audit
from tracker.auth.services import check_version
from tracker.core.errors import ValidationFailed
from tracker.core.inputs import parse_id
from tracker.extensions import db
from tracker.org import queries
from tracker.org.models import Unit

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")


def _validate(data, unit=None):
    errors = {}
    code = (data.get("code") or "").strip()
    name = (data.get("name") or "").strip()
    if not code:
        errors["code"] = _("请填写单位编码。")
    elif not CODE_PATTERN.match(code):
        errors["code"] = _("单位编码只能由字母、数字和 . _ - 组成，最长 32 位。")
    else:
        clash = db.session.scalar(select(Unit.id).where(Unit.code == code))
        if clash and (unit is None or clash != unit.id):
            errors["code"] = _("单位编码“%(c)s”已存在。", c=code)
    if not name:
        errors["name"] = _("请填写单位名称。")
    elif len(name) > 100:
        errors["name"] = _("单位名称最长 100 个字。")
    parent = None
    parent_id = data.get("parent_id")
    if parent_id:
        parent = db.session.get(Unit, parse_id(parent_id)) if parse_id(parent_id) else None
        if parent is None:
            errors["parent_id"] = _("上级单位不存在。")
        elif unit is not None and parent.id in queries.subtree_ids({unit.id}):
            errors["parent_id"] = _("上级单位不能是本单位或其下级单位。")
        elif not parent.is_active and (unit is None or unit.parent_id != parent.id):
            errors["parent_id"] = _("上级单位“%(n)s”已停用。", n=parent.name)
    if errors:
        raise ValidationFailed(_("请修正标出的错误。"), errors)
    return code, name, parent


def create_unit(data: dict, *, actor) -> Unit:
    """Create a unit from DATA (code, name, parent_id?, contact?). Raises ValidationFailed."""
    code, name, parent = _validate(data)
    unit = Unit(
        code=code,
        name=name,
        parent=parent,
        contact=(data.get("contact") or "").strip() or None,
        is_active=True,
        version=1,
    )
    db.session.add(unit)
    db.session.flush()
    audit.record(actor, "unit.create", "unit", unit.id, after=unit.audit_state())
    return unit


def update_unit(unit: Unit, data: dict, *, actor, expected_version=None) -> Unit:
    """Change a unit's code, name, parent or contact. Raises Conflict, ValidationFailed (a cycle too)."""
    check_version(unit, expected_version)
    code, name, parent = _validate(data, unit)
    before = unit.audit_state()
    unit.code, unit.name, unit.parent = code, name, parent
    unit.contact = (data.get("contact") or "").strip() or None
    after = unit.audit_state()
    if after != before:
        unit.bump_version()
        old, new = audit.diff(before, after)
        audit.record(actor, "unit.update", "unit", unit.id, before=old, after=new)
    return unit


def set_active(unit: Unit, active: bool, *, actor, expected_version=None) -> Unit:
    """Deactivate or reactivate a unit. A unit that still has active users or active sub-units cannot
    be deactivated (move or deactivate them first). Raises Conflict, ValidationFailed."""
    check_version(unit, expected_version)
    if unit.is_active == active:
        return unit
    if not active:
        members = queries.active_member_count(unit.id)
        if members:
            raise ValidationFailed(
                _("单位“%(n)s”仍有 %(k)d 名在用用户，请先停用或调走这些用户。", n=unit.name, k=members)
            )
        children = queries.active_children_count(unit.id)
        if children:
            raise ValidationFailed(
                _("单位“%(n)s”仍有 %(k)d 个在用下级单位，请先处理下级单位。", n=unit.name, k=children)
            )
    elif unit.parent is not None and not unit.parent.is_active:
        raise ValidationFailed(_("上级单位“%(n)s”已停用，请先启用上级单位。", n=unit.parent.name))
    unit.is_active = active
    unit.bump_version()
    audit.record(
        actor,
        "unit.activate" if active else "unit.deactivate",
        "unit",
        unit.id,
        before={"is_active": not active},
        after={"is_active": active},
    )
    return unit

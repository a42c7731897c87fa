"""Read-only queries about units."""

from sqlalchemy import func, or_, select

from tracker.core import memo
from tracker.extensions import db
from tracker.org.models import Unit


def _units() -> list[Unit]:
    """Every unit, by code, read once per request (tracker.core.memo): the scope, the filters and the
    rows' unit names all ask for the tree."""
    return memo.remember("units", lambda: list(db.session.scalars(select(Unit).order_by(Unit.code))), table=Unit)


def units_by_id() -> dict[int, Unit]:
    return {unit.id: unit for unit in _units()}


def subtree_ids(root_ids) -> set[int]:
    """ROOT_IDS and every unit below them, from the request's unit tree."""
    root_ids = {i for i in root_ids if i is not None}
    if not root_ids:
        return set()
    units = _units()
    children = {}
    for unit in units:
        children.setdefault(unit.parent_id, []).append(unit.id)
    known = {u.id for u in units}
    found, todo = set(), [i for i in root_ids if i in known]
    while todo:
        unit_id = todo.pop()
        if unit_id not in found:
            found.add(unit_id)
            todo += children.get(unit_id, [])
    return found


def unit_by_code(code):
    return db.session.scalar(select(Unit).where(Unit.code == code))


def all_units(active_only=False):
    units = _units()
    return [u for u in units if u.is_active] if active_only else list(units)


def tree_order(units):
    """UNITS ordered depth-first under their parents, each with its depth: [(unit, depth), …]."""
    by_parent = {}
    ids = {u.id for u in units}
    for unit in units:
        parent = unit.parent_id if unit.parent_id in ids else None
        by_parent.setdefault(parent, []).append(unit)
    ordered = []

    def walk(parent, depth):
        for unit in sorted(by_parent.get(parent, []), key=lambda u: u.code):
            ordered.append((unit, depth))
            walk(unit.id, depth + 1)

    walk(None, 0)
    return ordered


def search_units(q=None, status=None):
    stmt = select(Unit)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(Unit.code.ilike(like), Unit.name.ilike(like)))
    if status == "active":
        stmt = stmt.where(Unit.is_active.is_(True))
    elif status == "inactive":
        stmt = stmt.where(Unit.is_active.is_(False))
    return list(db.session.scalars(stmt.order_by(Unit.code)))


def active_member_count(unit_id) -> int:
    from tracker.auth.models import User

    return db.session.scalar(
        select(func.count()).select_from(User).where(User.unit_id == unit_id, User.is_active.is_(True))
    )


def active_children_count(unit_id) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Unit).where(Unit.parent_id == unit_id, Unit.is_active.is_(True))
    )

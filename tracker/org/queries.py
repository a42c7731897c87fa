"""Read-only queries about units."""

from sqlalchemy import func, or_, select

from tracker.extensions import db
from tracker.org.models import Unit


def subtree_ids(root_ids) -> set[int]:
    """ROOT_IDS and every unit below them (recursive CTE; works on SQLite and PostgreSQL)."""
    root_ids = {i for i in root_ids if i is not None}
    if not root_ids:
        return set()
    tree = select(Unit.id).where(Unit.id.in_(root_ids)).cte("tree", recursive=True)
    tree = tree.union(select(Unit.id).where(Unit.parent_id == tree.c.id))
    return set(db.session.scalars(select(tree.c.id)))


def unit_by_code(code):
    return db.session.scalar(select(Unit).where(Unit.code == code))


def all_units(active_only=False):
    stmt = select(Unit).order_by(Unit.code)
    if active_only:
        stmt = stmt.where(Unit.is_active.is_(True))
    return list(db.session.scalars(stmt))


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

"""Notifications: who hears about what. Messages never carry the complainant's identity."""

from sqlalchemy import func, select, update

from tracker.access.policy import Role
from tracker.alerts.models import Notification
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db


def notify(users, kind: str, title: str, *, body=None, problem=None) -> list[Notification]:
    """Put a notification in each active user's inbox (once per user)."""
    made, seen = [], set()
    now = clock.now()
    for user in users:
        if user is None or not user.is_active or user.id in seen:
            continue
        seen.add(user.id)
        note = Notification(
            user_id=user.id,
            kind=kind,
            title=title[:200],
            body=body,
            problem_id=getattr(problem, "id", None),
            created_at=now,
        )
        db.session.add(note)
        made.append(note)
    return made


def unit_people(unit_id) -> list[User]:
    if unit_id is None:
        return []
    return list(
        db.session.scalars(
            select(User).where(User.unit_id == unit_id, User.role == Role.UNIT, User.is_active.is_(True))
        )
    )


def problem_unit_side(problem) -> list[User]:
    """The responsible person, or everyone of the unit when nobody is named."""
    return [problem.owner] if problem.owner else unit_people(problem.unit_id)


def problem_inspector_side(problem) -> list[User]:
    if problem.inspector:
        return [problem.inspector]
    return list(db.session.scalars(select(User).where(User.role == Role.INSPECTOR, User.is_active.is_(True))))


def unread_count(user) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
    )


def mark_read(user, notification_id=None) -> None:
    stmt = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notification_id is not None:
        stmt = stmt.where(Notification.id == notification_id)
    db.session.execute(stmt.values(read_at=clock.now()))

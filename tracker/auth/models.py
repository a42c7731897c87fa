"""Users and login throttling."""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.core.db import TimestampMixin, UTCDateTime, VersionedMixin
from tracker.extensions import db
from tracker.org.models import Unit, leader_units


class User(UserMixin, TimestampMixin, VersionedMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    sees_all_units: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    must_change_password: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Changes on every password reset/change, so that other sessions of this user are logged out.
    session_token: Mapped[str] = mapped_column(String(32), nullable=False)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locale: Mapped[str | None] = mapped_column(String(8))

    unit: Mapped[Unit | None] = relationship()
    leader_of: Mapped[list[Unit]] = relationship(secondary=leader_units, order_by=Unit.code)

    def __repr__(self):
        return f"<User {self.username} {self.role}>"

    def get_id(self):
        return f"{self.id}:{self.session_token}"

    @property
    def display_name(self):
        return f"{self.name}（{self.username}）"

    def audit_state(self):
        return {
            "username": self.username,
            "name": self.name,
            "role": self.role,
            "unit_id": self.unit_id,
            "email": self.email,
            "is_active": self.is_active,
            "sees_all_units": self.sees_all_units,
            "leader_of": sorted(u.id for u in self.leader_of),
        }


class LoginThrottle(db.Model):
    """Failed logins per user name, whether or not the user exists (so lockout reveals nothing)."""

    __tablename__ = "login_throttles"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiToken(TimestampMixin, db.Model):
    """A bearer token that acts as its user. Only the SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True, nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    prefix: Mapped[str] = mapped_column(String(12), nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

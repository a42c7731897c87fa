"""Admin-edited settings tables."""

from datetime import date

from sqlalchemy import JSON, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.core.db import TimestampMixin
from tracker.extensions import db


class CalendarOverride(TimestampMixin, db.Model):
    """One day whose status an admin has fixed: `holiday` (no work) or `workday` (make-up day, 调休)."""

    __tablename__ = "calendar_overrides"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    note: Mapped[str | None] = mapped_column(String(100))


class Setting(TimestampMixin, db.Model):
    """An admin-edited setting (JSON value) that overrides the default in code."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON, nullable=False)

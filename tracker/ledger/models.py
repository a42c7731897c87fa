"""Problems: the ledger's entries. The workflow owns `status`; the ledger owns the rest."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.core.db import TimestampMixin, UTCDateTime, VersionedMixin
from tracker.extensions import db


class Tier(StrEnum):
    RED = "red"
    YELLOW = "yellow"
    BLUE = "blue"


TIER_LABELS = {Tier.RED: "红", Tier.YELLOW: "黄", Tier.BLUE: "蓝"}


class Status(StrEnum):
    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    SUBMITTED = "submitted"
    VERIFYING = "verifying"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


STATUS_LABELS = {
    Status.NEW: "待交办",
    Status.ASSIGNED: "待签收",
    Status.IN_PROGRESS: "整改中",
    Status.SUBMITTED: "待审核",
    Status.VERIFYING: "待核查",
    Status.CLOSED: "已销号",
    Status.WITHDRAWN: "已撤销",
}
OPEN_STATUSES = (Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS, Status.SUBMITTED, Status.VERIFYING)


class Problem(TimestampMixin, VersionedMixin, db.Model):
    __tablename__ = "problems"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    category: Mapped[str | None] = mapped_column(String(50), index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=Status.NEW, index=True)
    tier: Mapped[str | None] = mapped_column(String(8), index=True)
    is_quick_fix: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    urgency: Mapped[int | None] = mapped_column(Integer)
    difficulty: Mapped[int | None] = mapped_column(Integer)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    inspector_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    measures: Mapped[str | None] = mapped_column(Text)
    root_cause: Mapped[str | None] = mapped_column(Text)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline: Mapped[date | None] = mapped_column(Date, index=True)
    original_deadline: Mapped[date | None] = mapped_column(Date)
    deadline_rule: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rework_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reopen_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    unit = relationship("Unit")
    owner = relationship("User", foreign_keys=[owner_id])
    leader = relationship("User", foreign_keys=[leader_id])
    inspector = relationship("User", foreign_keys=[inspector_id])
    intake_records = relationship("IntakeRecord", back_populates="problem", order_by="IntakeRecord.received_at")

    def __repr__(self):
        return f"<Problem {self.number} {self.status}>"

    @property
    def is_open(self):
        return self.status in OPEN_STATUSES

    @property
    def status_label(self):
        return STATUS_LABELS.get(self.status, self.status)

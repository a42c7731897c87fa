"""Supervision notices (督办单), numbered per year: 督〔2026〕17号."""

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.core.db import UTCDateTime
from tracker.extensions import db

LEVEL_LABELS = {"reminder": "催办", "supervise": "督办", "listed": "挂牌督办"}


class SupervisionNotice(db.Model):
    __tablename__ = "supervision_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(10), nullable=False)  # supervise | listed (or reminder on demand)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    deadline: Mapped[date | None] = mapped_column(Date)
    days_overdue: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reply_by: Mapped[date] = mapped_column(Date, nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Scan-made notices carry the alert's key, so that re-running a scan issues no second notice.
    source_key: Mapped[str | None] = mapped_column(String(64), unique=True)

    problem = relationship("Problem")
    unit = relationship("Unit")
    leader = relationship("User", foreign_keys=[leader_id])
    issued_by = relationship("User", foreign_keys=[issued_by_id])

    __table_args__ = (UniqueConstraint("year", "seq", name="uq_supervision_notices_year_seq"),)

    @property
    def number(self):
        return f"督〔{self.year}〕{self.seq}号"

    @property
    def level_label(self):
        return LEVEL_LABELS.get(self.level, self.level)

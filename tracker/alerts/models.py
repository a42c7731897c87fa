"""Notifications: what a user should know about, shown in the inbox (and sent on by the scheduler)."""

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.core.db import UTCDateTime
from tracker.extensions import db


class Notification(db.Model):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str | None] = mapped_column(Text)
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User")
    problem = relationship("Problem")

    __table_args__ = (db.Index("ix_notifications_user_unread", "user_id", "read_at", "id"),)


class Alert(db.Model):
    """One finding of the deadline scan. (problem, kind, step) is unique: re-running a scan, or two
    scans at once, never makes a second copy. `resolved_at` is set when the problem moves on."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # not_accepted, due_soon, behind, overdue, escalation
    step: Mapped[str] = mapped_column(String(32), nullable=False)
    days: Mapped[int | None] = mapped_column(Integer)  # working days overdue / left, where it applies
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    problem = relationship("Problem")

    __table_args__ = (
        UniqueConstraint("problem_id", "kind", "step", name="uq_alerts_problem_kind_step"),
        db.Index("ix_alerts_open", "resolved_at", "kind"),
    )


class Delivery(db.Model):
    """An e-mail or webhook post waiting to go out, retried with back-off until it does."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(10), nullable=False)  # email | webhook
    target: Mapped[str] = mapped_column(String(500), nullable=False)  # address, or webhook id
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    attachments = relationship(
        "DeliveryAttachment", order_by="DeliveryAttachment.id", cascade="all, delete-orphan", lazy="selectin"
    )


class DeliveryAttachment(db.Model):
    """A file sent with an e-mail (the weekly summary's ranking and overdue list as Excel)."""

    __tablename__ = "delivery_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(200), nullable=False)
    content_type: Mapped[str] = mapped_column(String(100), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class Webhook(db.Model):
    """A group-robot webhook (钉钉, 企业微信 or plain JSON), for one unit (and its sub-units) or global."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)  # dingtalk | wecom | json
    url: Mapped[str] = mapped_column(String(500), nullable=False)
    secret_enc: Mapped[str | None] = mapped_column(Text)  # DingTalk signing secret, encrypted
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)

    unit = relationship("Unit")


class DigestLog(db.Model):
    """Marks a digest as sent to a user for a day, so that a second run sends nothing."""

    __tablename__ = "digest_log"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # daily | weekly


class JobLease(db.Model):
    """Which scheduler process runs a job now: one elected runner even with two schedulers (works on
    SQLite and PostgreSQL alike; a lease that is not renewed expires)."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The job's last run (for /healthz: the scheduler's heartbeat and the last deadline scan).
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_ok: Mapped[bool | None] = mapped_column(Boolean)


# ---- supervision notices (督办单): the escalation ladder's documents, numbered per year: 督〔2026〕17号

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

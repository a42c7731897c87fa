"""Intake records (反映件), channels, import batches and their row errors, import mapping profiles."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint, event, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.core import crypto
from tracker.core.db import TimestampMixin, UTCDateTime, VersionedMixin
from tracker.core.words import N_
from tracker.extensions import db

DEFAULT_CHANNELS = [
    "12345 热线",
    "政务服务网 PC 端",
    "政务服务 APP",
    "短信",
    "电话回访",
    "评价器",
    "现场/窗口",
    "来信来访",
    "民主评议",
    "暗访发现",
    "满意度测评",
    "网络问政",
]

KINDS = ["差评", "投诉", "意见建议", "评议意见", "暗访问题"]
DEFAULT_KIND = "投诉"

RATING_LABELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
NEGATIVE_RATINGS = (1, 2)
# Literal SQL so that the results page's WHERE matches the partial index's predicate exactly.
PUBLIC_CLAUSE = text("is_public")


class Handling(StrEnum):
    """Where an intake record stands. `new` waits for an inspector."""

    NEW = "new"
    RECTIFY = "rectify"
    QUICK_FIX = "quick_fix"
    EXPLAINED = "explained"
    APPEAL_PENDING = "appeal_pending"
    APPEAL_UPHELD = "appeal_upheld"
    DUPLICATE = "duplicate"


HANDLING_LABELS = {
    Handling.NEW: N_("待处理"),
    Handling.RECTIFY: N_("已转台账"),
    Handling.QUICK_FIX: N_("立行立改"),
    Handling.EXPLAINED: N_("已解释说明"),
    Handling.APPEAL_PENDING: N_("申诉待复核"),
    Handling.APPEAL_UPHELD: N_("申诉成立"),
    Handling.DUPLICATE: N_("重复件"),
}


class Channel(TimestampMixin, db.Model):
    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Other spellings that real exports use for this channel (e.g. "12345热线"); matched after
    # normalising spaces and full/half width.
    aliases: Mapped[list | None] = mapped_column(JSON)


class IntakeDailyCount(db.Model):
    """Intake records per local day and unit (unit 0: none), kept current by database triggers on
    intake_records (tracker/intake/counts.py); the reports read it instead of counting records."""

    __tablename__ = "intake_daily_counts"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    records: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    counted: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # not excluded by an upheld appeal


@event.listens_for(db.metadata, "after_create")
def _install_count_triggers(target, connection, **kw):
    """create_all (the tests, a fresh development database) gets the same triggers as the migration."""
    if "intake_records" in target.tables and connection.dialect.name in ("postgresql", "sqlite"):
        from tracker.intake import counts

        counts.install(connection)


class IntakeRecord(TimestampMixin, VersionedMixin, db.Model):
    __tablename__ = "intake_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(50), nullable=False)
    external_id: Mapped[str] = mapped_column(String(100), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default=DEFAULT_KIND)
    # Indexed by ix_intake_records_received_cover (received_at first), which also serves the inbox's sort.
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    category: Mapped[str | None] = mapped_column(String(50))
    rating: Mapped[int | None] = mapped_column(Integer)
    service_item: Mapped[str | None] = mapped_column(String(200))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    is_anonymous: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Complainant identity: encrypted at rest; only the masks are stored in clear.
    complainant_name_enc: Mapped[str | None] = mapped_column(Text)
    complainant_phone_enc: Mapped[str | None] = mapped_column(Text)
    complainant_name_mask: Mapped[str | None] = mapped_column(String(20))
    complainant_phone_mask: Mapped[str | None] = mapped_column(String(24))
    source_row: Mapped[dict | None] = mapped_column(JSON)
    tracking_code: Mapped[str] = mapped_column(String(16), unique=True, nullable=False)
    query_pin_enc: Mapped[str] = mapped_column(Text, nullable=False)
    handling: Mapped[str] = mapped_column(String(16), nullable=False, default=Handling.NEW)
    explanation: Mapped[str | None] = mapped_column(Text)
    # The answer the source system already gave (答复 / 处理结果), carried over by an import.
    reply: Mapped[str | None] = mapped_column(Text)
    appeal_reason: Mapped[str | None] = mapped_column(Text)
    appeal_decision: Mapped[str | None] = mapped_column(Text)
    is_excluded: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id"), index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("intake_records.id"))
    import_batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Follow-up calls (回访): the state (tracker.oversight.models.FollowupState), the working day from
    # which the record is to be called (set when its problem closes or it is explained; moved on
    # after an unanswered call) and the tries so far.
    followup_state: Mapped[str | None] = mapped_column(String(12))
    followup_due_on: Mapped[date | None] = mapped_column(Date)
    followup_tries: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Opted in by the inspector for the public results page (处理结果向群众公开).
    is_public: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    unit = relationship("Unit")
    problem = relationship("Problem", back_populates="intake_records")
    duplicate_of = relationship("IntakeRecord", remote_side=[id])
    handled_by = relationship("User", foreign_keys=[handled_by_id])

    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_intake_records_channel_external_id"),
        # Intake counted per unit and period (ranking 受理, the dashboard's weeks) from the index alone,
        # for a scope of units (unit first) or for all.
        db.Index("ix_intake_records_unit_received_cover", "unit_id", "received_at", "is_excluded"),
        db.Index("ix_intake_records_received_cover", "received_at", "unit_id", "is_excluded"),
        # The triage rule 同类重复: a unit's records of one category over the last days, from the index.
        db.Index("ix_intake_records_unit_category_received", "unit_id", "category", "received_at", "is_excluded"),
        # The inbox: a handling state, newest first (SQLite otherwise walks every record by date).
        db.Index("ix_intake_records_handling_received", "handling", "received_at", "id"),
        # The follow-up workbench: records due for a call, oldest first.
        db.Index("ix_intake_records_followup", "followup_state", "followup_due_on", "id"),
        # The public results page reads only the records opted in (处理结果向群众公开).
        db.Index(
            "ix_intake_records_public",
            "problem_id",
            "received_at",
            postgresql_where=PUBLIC_CLAUSE,
            sqlite_where=PUBLIC_CLAUSE,
        ),
    )

    def __repr__(self):
        return f"<IntakeRecord {self.channel}:{self.external_id}>"

    @property
    def is_negative(self):
        return self.rating in NEGATIVE_RATINGS

    @property
    def rating_label(self):
        return RATING_LABELS.get(self.rating, "")

    @property
    def handling_label(self):
        return HANDLING_LABELS.get(self.handling, self.handling)

    @property
    def has_complainant(self):
        return bool(self.complainant_name_enc or self.complainant_phone_enc)

    def complainant(self) -> dict:
        """The clear identity; callers must have checked `complainant.view` and audit the reveal."""
        return {
            "name": crypto.decrypt(self.complainant_name_enc),
            "phone": crypto.decrypt(self.complainant_phone_enc),
        }


class ImportProfile(TimestampMixin, db.Model):
    """A saved column mapping for one source layout: {canonical field: source header}, plus defaults."""

    __tablename__ = "import_profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True, nullable=False)
    mapping: Mapped[dict] = mapped_column(JSON, nullable=False)
    defaults: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ImportBatch(TimestampMixin, db.Model):
    """One uploaded file and its progress; survives a page reload and a worker restart."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    stored_path: Mapped[str | None] = mapped_column(String(500))
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    profile_name: Mapped[str | None] = mapped_column(String(50))
    mapping: Mapped[dict | None] = mapped_column(JSON)
    defaults: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="queued", index=True)
    total_rows: Mapped[int | None] = mapped_column(Integer)
    done_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    duplicate_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    created_by = relationship("User")
    errors = relationship("ImportRowError", order_by="ImportRowError.row_number", lazy="dynamic")

    @property
    def is_finished(self):
        return self.status in ("done", "failed")

    @property
    def percent(self):
        if not self.total_rows:
            return 100 if self.is_finished else 0
        return min(100, int(self.done_rows * 100 / self.total_rows))


class ImportRowError(db.Model):
    __tablename__ = "import_row_errors"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batches.id", ondelete="CASCADE"), index=True)
    row_number: Mapped[int] = mapped_column(Integer, nullable=False)
    column: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(500), nullable=False)

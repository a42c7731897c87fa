"""Problems: the ledger's entries. The workflow owns `status`; the ledger owns the rest."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, event, text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from tracker.core.db import StoredFileMixin, TimestampMixin, UTCDateTime, VersionedMixin
from tracker.core.words import N_
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
    Status.NEW: N_("待交办"),
    Status.ASSIGNED: N_("待签收"),
    Status.IN_PROGRESS: N_("整改中"),
    Status.SUBMITTED: N_("待审核"),
    Status.VERIFYING: N_("待核查"),
    Status.CLOSED: N_("已销号"),
    Status.WITHDRAWN: N_("已撤销"),
}
OPEN_STATUSES = (Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS, Status.SUBMITTED, Status.VERIFYING)


# Written as literal SQL so that the scan's WHERE matches the partial indexes' predicates exactly.
WORKING_CLAUSE = text("status IN ('assigned', 'in_progress', 'submitted', 'verifying')")
UNACCEPTED_CLAUSE = text("status = 'assigned'")


class ProblemCount(db.Model):
    """Problems per unit (0: none), tier ('' : not yet), status and quick-fix flag, kept current by
    database triggers on problems (tracker/ledger/counts.py); the counts bar reads it."""

    __tablename__ = "problem_counts"

    unit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tier: Mapped[str] = mapped_column(String(8), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    quick_fix: Mapped[int] = mapped_column(Integer, primary_key=True)
    problems: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


@event.listens_for(db.metadata, "after_create")
def _install_count_triggers(target, connection, **kw):
    """create_all (the tests, a fresh development database) gets the same triggers as the migration."""
    if "problems" in target.tables and connection.dialect.name in ("postgresql", "sqlite"):
        from tracker.ledger import counts

        counts.SUMMARY.install(connection)


class Problem(TimestampMixin, VersionedMixin, db.Model):
    __tablename__ = "problems"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True, nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    category: Mapped[str | None] = mapped_column(String(50), index=True)
    # Where the (first) record behind the problem came from, kept here so that the ledger filters fast.
    channel: Mapped[str | None] = mapped_column(String(50), index=True)
    source_kind: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=Status.NEW, index=True)
    tier: Mapped[str | None] = mapped_column(String(8), index=True)
    is_quick_fix: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    suggested_tier: Mapped[str | None] = mapped_column(String(8))
    tier_reasons: Mapped[list | None] = mapped_column(JSON)
    tier_override_reason: Mapped[str | None] = mapped_column(Text)
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
    deadline_note: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Who approved the last submission (审核通过), known before the verification closes the problem:
    # with the assigning inspector they may not re-inspect it (回避).
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The reply published to the complainant (答复意见): shown by the public lookup and results page.
    public_reply: Mapped[str | None] = mapped_column(Text)
    # 审核意见: the inspector's opinion on the last approval (shown on the page and exported).
    review_opinion: Mapped[str | None] = mapped_column(Text)
    # Set when the problem was drawn in a sampling batch or failed a verification: approval then
    # goes to `verifying` even for yellow and blue problems.
    needs_verification: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    evidence_waived: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    last_action: Mapped[str | None] = mapped_column(String(16))
    rework_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reopen_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Failed re-inspections of a problem already closed (反弹), counted apart from rework.
    relapse_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Kept by ledger.services.mark_closed at sign-off (cleared on reopen) so that the ranking groups and
    # the ledger filters on stored values: closed by the original deadline / only by an approved
    # extension / late (Timeliness), and working days from assignment to sign-off.
    close_timeliness: Mapped[str | None] = mapped_column(String(10))
    close_workdays: Mapped[int | None] = mapped_column(Integer)
    # 专项: the rectification campaign the problem belongs to (e.g. 主题教育 整改), if any.
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)

    unit = relationship("Unit")
    owner = relationship("User", foreign_keys=[owner_id])
    leader = relationship("User", foreign_keys=[leader_id])
    inspector = relationship("User", foreign_keys=[inspector_id])
    closed_by = relationship("User", foreign_keys=[closed_by_id])
    approved_by = relationship("User", foreign_keys=[approved_by_id])
    campaign = relationship("Campaign")
    intake_records = relationship("IntakeRecord", back_populates="problem", order_by="IntakeRecord.received_at")
    milestones = relationship(
        "Milestone", back_populates="problem", order_by="Milestone.position", cascade="all, delete-orphan"
    )
    notes = relationship("ProgressNote", back_populates="problem", order_by="ProgressNote.id")
    evidence = relationship("Evidence", back_populates="problem", order_by="Evidence.id")
    extension_requests = relationship("ExtensionRequest", back_populates="problem", order_by="ExtensionRequest.id")

    # SQLAlchemy adds "AND version = :seen" to every UPDATE and raises StaleDataError when another
    # transaction got there first: no lost updates even between two requests that both passed a check.
    @declared_attr.directive
    def __mapper_args__(cls):
        return {"version_id_col": cls.__table__.c.version}

    __table_args__ = (
        # unit_id last: the overdue counts per unit (ranking, dashboard) read the index alone.
        db.Index("ix_problems_status_deadline_unit", "status", "deadline", "id", "unit_id"),
        db.Index("ix_problems_unit_status_deadline", "unit_id", "status", "deadline", "id"),
        db.Index("ix_problems_deadline_id", "deadline", "id"),
        # The home page's queues of a status and its last action (返工: in progress after a rejection;
        # 退回: new after a return) for a unit's subtree, without reading every row of the status.
        db.Index("ix_problems_unit_status_action", "unit_id", "status", "last_action", "deadline", "id"),
        # The counts bar groups by tier and status, for everything or for a unit subtree.
        db.Index("ix_problems_tier_status", "tier", "status"),
        db.Index("ix_problems_unit_tier_status", "unit_id", "tier", "status"),
        # The dashboard's open problems by tier and status and by category: one range on the open
        # statuses, read from the index alone (unit_id for a leader's scope).
        db.Index("ix_problems_status_tier_category", "status", "tier", "category", "unit_id"),
        # Re-inspection batches and the ranking filter on the closing period (销号日期); the ranking's
        # and the dashboard's sign-off figures read the covering columns from the index alone.
        db.Index("ix_problems_closed_cover", "closed_at", "unit_id", "close_timeliness", "close_workdays"),
        db.Index("ix_problems_unit_closed_cover", "unit_id", "closed_at", "close_timeliness", "close_workdays"),
        db.Index("ix_problems_assigned_cover", "assigned_at", "unit_id", "rework_count", "relapse_count"),
        # The deadline scan reads only problems being worked on: partial indexes keep its cost with
        # the due items, however many closed problems the ledger holds.
        db.Index(
            "ix_problems_working_deadline", "deadline", postgresql_where=WORKING_CLAUSE, sqlite_where=WORKING_CLAUSE
        ),
        db.Index(
            "ix_problems_unaccepted", "assigned_at", postgresql_where=UNACCEPTED_CLAUSE, sqlite_where=UNACCEPTED_CLAUSE
        ),
    )

    def __repr__(self):
        return f"<Problem {self.number} {self.status}>"

    @property
    def is_open(self):
        return self.status in OPEN_STATUSES

    @property
    def status_label(self):
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def tier_label(self):
        return TIER_LABELS.get(self.tier, "")

    def is_overdue(self, today: date) -> bool:
        """Derived, never stored: open and past the end of its deadline day."""
        return self.is_open and self.deadline is not None and today > self.deadline

    def audit_state(self):
        return {
            "title": self.title,
            "category": self.category,
            "tier": self.tier,
            "is_quick_fix": self.is_quick_fix,
            "unit_id": self.unit_id,
            "owner_id": self.owner_id,
            "leader_id": self.leader_id,
            "measures": self.measures,
            "deadline": self.deadline.isoformat() if self.deadline else None,
            "status": self.status,
        }


class Timeliness(StrEnum):
    """How a closed problem met its deadline (DESIGN.md §3: reports say honestly whether work was on time)."""

    ORIGINAL = "original"  # signed off by the original deadline
    EXTENDED = "extended"  # after the original deadline, by the one an approved extension set
    LATE = "late"  # after its deadline


TIMELINESS_LABELS = {
    Timeliness.ORIGINAL: N_("按原定时限办结"),
    Timeliness.EXTENDED: N_("延期后按期办结"),
    Timeliness.LATE: N_("逾期办结"),
}


class Campaign(TimestampMixin, db.Model):
    """专项: a named rectification round (e.g. 主题教育 检视整改) that problems can be tagged with."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    def __repr__(self):
        return f"<Campaign {self.name}>"


class Milestone(db.Model):
    """A back-scheduled step of a blue problem (倒排工期)."""

    __tablename__ = "milestones"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    due_date: Mapped[date] = mapped_column(Date, nullable=False)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Why a milestone still open at 申请销号 need not hold up sign-off; shown to the inspector.
    explanation: Mapped[str | None] = mapped_column(Text)

    problem = relationship("Problem", back_populates="milestones")


class NoteKind(StrEnum):
    PROGRESS = "progress"  # 整改进展
    REPORT = "report"  # 整改报告 (with a submission)
    INSTRUCTION = "instruction"  # 领导批示


NOTE_LABELS = {NoteKind.PROGRESS: "整改进展", NoteKind.REPORT: "整改报告", NoteKind.INSTRUCTION: "领导批示"}


class ProgressNote(db.Model):
    """Rich text on a problem's timeline: progress, the rectification report, a leader's instruction.
    `body_html` is cleaned by tracker.core.sanitize on the way in and is the only field rendered |safe."""

    __tablename__ = "progress_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    body_html: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    problem = relationship("Problem", back_populates="notes")
    author = relationship("User")

    @property
    def kind_label(self):
        return NOTE_LABELS.get(self.kind, self.kind)


class Evidence(StoredFileMixin, db.Model):
    """An uploaded file (佐证材料), stored outside the web root under a random name."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"), index=True)

    problem = relationship("Problem", back_populates="evidence")
    uploaded_by = relationship("User")

    @property
    def unit_id(self):
        return self.problem.unit_id

    @property
    def is_image(self):
        return self.content_type.startswith("image/")


class ExtensionRequest(db.Model):
    """延期申请: a unit asks for a later deadline; an inspector decides."""

    __tablename__ = "extension_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    current_deadline: Mapped[date] = mapped_column(Date, nullable=False)
    requested_deadline: Mapped[date] = mapped_column(Date, nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="pending", index=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    problem = relationship("Problem", back_populates="extension_requests")
    requested_by = relationship("User", foreign_keys=[requested_by_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])


class Category(db.Model):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


DEFAULT_CATEGORIES = [
    "困难救助",
    "环境保护",
    "干部作风",
    "学校教育",
    "文化生活",
    "审批效率",
    "城乡建设",
    "劳动和社会保障",
    "卫生计生",
    "交通运输",
    "商贸旅游",
    "教育文体",
]

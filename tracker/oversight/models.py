"""Oversight: covert re-inspection batches (暗访复查) and their visits, and follow-up calls (回访)."""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Boolean, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from tracker.core.db import StoredFileMixin, TimestampMixin, UTCDateTime, VersionedMixin
from tracker.core.words import N_
from tracker.extensions import db


class Method(StrEnum):
    SWEEP = "sweep"
    RANDOM = "random"
    TARGETED = "targeted"


METHOD_LABELS = {Method.SWEEP: N_("拉网式"), Method.RANDOM: N_("随机式"), Method.TARGETED: N_("点穴式")}

# The ways of a visit are stored as the words inspectors use; the API takes the same words.
VISIT_WAYS = (N_("模拟办事"), N_("走访群众"), N_("现场查看"), N_("隐秘拍摄"))


class Result(StrEnum):
    PENDING = "pending"
    PASS = "pass"  # noqa: S105 - a result, not a password
    FAIL = "fail"


RESULT_LABELS = {Result.PENDING: N_("待复查"), Result.PASS: N_("通过"), Result.FAIL: N_("未通过")}


class InspectionBatch(TimestampMixin, VersionedMixin, db.Model):
    """One covert re-inspection round: its plan (method, filter, population, seed, inspector pool)
    and, through its items, the problems drawn and the inspectors sent to each."""

    __tablename__ = "inspection_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer, nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    method: Mapped[str] = mapped_column(String(10), nullable=False)
    # The plan, enough for anyone to re-draw: the filter as given, the size of the population it
    # matched, the sample asked for, the seed, and the inspector pool (user ids, in draw order).
    filter: Mapped[dict | None] = mapped_column(JSON)
    population: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    sample_size: Mapped[int | None] = mapped_column(Integer)
    sample_percent: Mapped[float | None] = mapped_column(Float)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    inspector_pool: Mapped[list | None] = mapped_column(JSON)
    inspectors_per_problem: Mapped[int] = mapped_column(Integer, nullable=False, default=2)
    # 双随机: inspectors drawn from the pool as well as the problems.
    is_double_random: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Made by the workflow when a problem that must be verified is approved (销号核查).
    is_verification: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="open", index=True)  # open | done
    item_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    done_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by = relationship("User")
    items = relationship("InspectionItem", back_populates="batch", order_by="InspectionItem.position", lazy="dynamic")

    @declared_attr.directive
    def __mapper_args__(cls):
        return {"version_id_col": cls.__table__.c.version}

    __table_args__ = (UniqueConstraint("year", "seq", name="uq_inspection_batches_year_seq"),)

    @property
    def number(self):
        return f"暗访〔{self.year}〕{self.seq}号"

    @property
    def method_label(self):
        return METHOD_LABELS.get(self.method, self.method)


class InspectionItem(VersionedMixin, db.Model):
    """One problem in a batch: the inspectors sent, and once visited the visit's record and result."""

    __tablename__ = "inspection_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("inspection_batches.id", ondelete="CASCADE"), nullable=False)
    problem_id: Mapped[int] = mapped_column(ForeignKey("problems.id", ondelete="CASCADE"), nullable=False, index=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Kept here for reports and for the unit's view after the result: the unit the problem was with.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    inspector_ids: Mapped[list | None] = mapped_column(JSON)
    result: Mapped[str] = mapped_column(String(10), nullable=False, default=Result.PENDING)
    visited_on: Mapped[date | None] = mapped_column(Date)
    way: Mapped[str | None] = mapped_column(String(20))
    findings: Mapped[str | None] = mapped_column(Text)
    # The problem's state when the result was recorded; a fail on a closed problem is a relapse (反弹).
    status_before: Mapped[str | None] = mapped_column(String(16))
    is_relapse: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    batch = relationship("InspectionBatch", back_populates="items")
    problem = relationship("Problem")
    unit = relationship("Unit")
    recorded_by = relationship("User")
    photos = relationship("InspectionPhoto", back_populates="item", order_by="InspectionPhoto.id")

    @declared_attr.directive
    def __mapper_args__(cls):
        return {"version_id_col": cls.__table__.c.version}

    __table_args__ = (
        UniqueConstraint("batch_id", "problem_id", name="uq_inspection_items_batch_problem"),
        db.Index("ix_inspection_items_batch_position", "batch_id", "position"),
    )

    @property
    def result_label(self):
        return RESULT_LABELS.get(self.result, self.result)

    @property
    def is_recorded(self):
        return self.result != Result.PENDING


class InspectionPhoto(StoredFileMixin, db.Model):
    """A photo (or other file) taken on a visit; stored like evidence, shown to inspectors only."""

    __tablename__ = "inspection_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("inspection_items.id", ondelete="CASCADE"), index=True)

    item = relationship("InspectionItem", back_populates="photos")


class Outcome(StrEnum):
    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically_satisfied"
    UNSATISFIED = "unsatisfied"
    UNREACHABLE = "unreachable"


OUTCOME_LABELS = {
    Outcome.SATISFIED: N_("满意"),
    Outcome.BASICALLY_SATISFIED: N_("基本满意"),
    Outcome.UNSATISFIED: N_("不满意"),
    Outcome.UNREACHABLE: N_("无法联系"),
}
REACHED_OUTCOMES = (Outcome.SATISFIED, Outcome.BASICALLY_SATISFIED, Outcome.UNSATISFIED)


class FollowupState(StrEnum):
    """intake_records.followup_state: where a record stands in the follow-up calls."""

    DUE = "due"  # to be called (from followup_due_on)
    DONE = "done"  # the complainant was reached
    UNREACHABLE = "unreachable"  # three tries, nobody answered
    ANONYMOUS = "anonymous"  # skipped: no one to call
    NO_PHONE = "no_phone"  # skipped: no number given


FOLLOWUP_STATE_LABELS = {
    FollowupState.DUE: N_("待回访"),
    FollowupState.DONE: N_("已回访"),
    FollowupState.UNREACHABLE: N_("无法联系"),
    FollowupState.ANONYMOUS: N_("匿名，不回访"),
    FollowupState.NO_PHONE: N_("无联系电话"),
}


class FollowUp(db.Model):
    """One call to a complainant (回访): its outcome and note; `unit_id` and `problem_id` are kept
    for the figures. An unsatisfied call put to the inspector carries the inspector's decision."""

    __tablename__ = "followups"

    id: Mapped[int] = mapped_column(primary_key=True)
    intake_id: Mapped[int] = mapped_column(ForeignKey("intake_records.id", ondelete="CASCADE"), index=True)
    problem_id: Mapped[int | None] = mapped_column(ForeignKey("problems.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    called_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    caller_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # For an unsatisfied call when the admin setting puts it to the inspector: pending | reopened | kept.
    decision: Mapped[str | None] = mapped_column(String(10), index=True)
    decision_note: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    record = relationship("IntakeRecord")
    problem = relationship("Problem")
    unit = relationship("Unit")
    caller = relationship("User", foreign_keys=[caller_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])

    __table_args__ = (
        db.Index("ix_followups_unit_called", "unit_id", "called_at"),
        # The reports' call figures over every unit read a period of calls from this index alone.
        db.Index("ix_followups_called_cover", "called_at", "unit_id", "outcome", "attempt", "intake_id"),
    )

    @property
    def outcome_label(self):
        return OUTCOME_LABELS.get(self.outcome, self.outcome)

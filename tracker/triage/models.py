"""Admin-editable triage rules and deadline templates."""

from sqlalchemy import JSON, Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tracker.core.db import TimestampMixin
from tracker.extensions import db

RULE_KINDS = ("keyword", "category", "channel", "kind", "rating", "repeat", "matrix")
RESULTS = ("red", "yellow", "blue", "escalate")


class TriageRule(TimestampMixin, db.Model):
    """One rule: a condition (KIND with PARAMS) and a result tier, applied in POSITION order."""

    __tablename__ = "triage_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    params: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    result: Mapped[str] = mapped_column(String(8), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class DeadlineTemplate(TimestampMixin, db.Model):
    """(tier, source kind) → N working days, with the rule text that sets it (依据)."""

    __tablename__ = "deadline_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    tier: Mapped[str] = mapped_column(String(10), nullable=False)  # red / yellow / blue / quick_fix
    source_kind: Mapped[str] = mapped_column(String(16), nullable=False, default="*")  # * = any kind
    days: Mapped[int] = mapped_column(Integer, nullable=False)
    rule_text: Mapped[str] = mapped_column(String(200), nullable=False)

    __table_args__ = (UniqueConstraint("tier", "source_kind", name="uq_deadline_templates_tier_kind"),)

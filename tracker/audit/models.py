"""Audit events: append-only rows, each chained to the previous one by SHA-256 and sealed by a keyed
HMAC of its hash (AUDIT_HMAC_KEY), so that an edited row cannot be re-hashed without the key."""

from datetime import datetime

from sqlalchemy import DDL, JSON, ForeignKey, String, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.core.db import UTCDateTime
from tracker.extensions import db

GENESIS_HASH = "0" * 64


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    actor_name: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    object_type: Mapped[str] = mapped_column(String(32), nullable=False)
    object_id: Mapped[str] = mapped_column(String(64), nullable=False)
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(String(500))
    # Unique: two events can never claim the same predecessor, so the chain cannot fork.
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    # HMAC-SHA256(AUDIT_HMAC_KEY, hash); verify refuses a row without one.
    mac: Mapped[str | None] = mapped_column(String(64))

    actor = relationship("User")

    __table_args__ = (db.Index("ix_audit_events_object", "object_type", "object_id"),)


# On PostgreSQL the table refuses UPDATE and DELETE outright; the hash chain catches the rest.
APPEND_ONLY_FUNCTION = DDL(
    """
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END;
$$ LANGUAGE plpgsql
"""
)
APPEND_ONLY_TRIGGER = DDL(
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
)
event.listen(AuditEvent.__table__, "after_create", APPEND_ONLY_FUNCTION.execute_if(dialect="postgresql"))
event.listen(AuditEvent.__table__, "after_create", APPEND_ONLY_TRIGGER.execute_if(dialect="postgresql"))

# SQLite: no UPDATE at all; DELETE only of the oldest row, so the log can only be emptied from the
# front (a test database's wipe), which verify reports (the first row no longer links to genesis).
SQLITE_NO_UPDATE = DDL(
    "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
)
SQLITE_NO_DELETE = DDL(
    "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
    "WHEN OLD.id <> (SELECT min(id) FROM audit_events) "
    "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
)
event.listen(AuditEvent.__table__, "after_create", SQLITE_NO_UPDATE.execute_if(dialect="sqlite"))
event.listen(AuditEvent.__table__, "after_create", SQLITE_NO_DELETE.execute_if(dialect="sqlite"))

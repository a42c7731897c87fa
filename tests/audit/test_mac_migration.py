"""Upgrading a database that already has audit rows: they get their MACs and the triggers."""

from datetime import UTC, datetime

import pytest
from flask_migrate import upgrade
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.test_migrations import app_at, empty_database_url, table  # noqa: F401 - a fixture
from tracker.audit import services
from tracker.audit.models import GENESIS_HASH, AuditEvent
from tracker.extensions import db

BEFORE_MAC = "9e4b2c6d8a15"


def test_upgrade_seals_the_rows_already_there(empty_database_url):  # noqa: F811
    with app_at(empty_database_url, BEFORE_MAC):
        prev = GENESIS_HASH
        events = table("audit_events")
        assert "mac" not in events.c
        with db.engine.begin() as conn:
            for i in range(7):
                event = AuditEvent(
                    created_at=datetime(2026, 11, 1, 9, i, tzinfo=UTC),
                    actor_id=None,
                    actor_name="system",
                    action="unit.create",
                    object_type="unit",
                    object_id=str(i),
                    before=None,
                    after={"code": f"U{i}"},
                    note=None,
                    prev_hash=prev,
                )
                event.hash = services.compute_hash(event)
                conn.execute(
                    events.insert(),
                    {
                        "created_at": event.created_at,
                        "actor_name": "system",
                        "action": event.action,
                        "object_type": "unit",
                        "object_id": event.object_id,
                        "after": event.after,
                        "prev_hash": prev,
                        "hash": event.hash,
                    },
                )
                prev = event.hash
        upgrade()
        macs = db.session.execute(text("SELECT hash, mac FROM audit_events ORDER BY id")).all()
        assert len(macs) == 7 and all(mac == services.compute_mac(digest) for digest, mac in macs)
        report = services.verify()
        assert report.ok and report.checked == 7
        db.session.rollback()
        for sql in ("UPDATE audit_events SET note = 'x'", "DELETE FROM audit_events WHERE id = 3"):
            with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
                conn.execute(text(sql))

"""The audit log: written with every change, hash-chained, verified, append-only on PostgreSQL."""

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from tracker.audit import services
from tracker.audit.models import GENESIS_HASH, AuditEvent
from tracker.extensions import db


def _events():
    return db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()


def test_user_and_unit_changes_are_audited_and_chained(app_ctx, make):
    make.org()
    events = _events()
    assert [e.action for e in events[:2]] == ["unit.create", "unit.create"]
    assert {"user.create", "unit.create"} <= {e.action for e in events}
    assert events[0].prev_hash == GENESIS_HASH
    for earlier, later in zip(events, events[1:], strict=False):
        assert later.prev_hash == earlier.hash
    assert services.verify().ok


def _tamper(sql, **params):
    """Change a row behind the app's back, as someone with direct database access could."""
    is_pg = db.engine.dialect.name == "postgresql"
    with db.engine.begin() as conn:
        if is_pg:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        conn.execute(text(sql), params)
        if is_pg:
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))


def test_verify_finds_an_edited_event(app_ctx, make):
    make.org()
    victim = _events()[3]
    _tamper("UPDATE audit_events SET actor_name = 'someone' WHERE id = :id", id=victim.id)
    db.session.expire_all()
    report = services.verify()
    assert not report.ok and report.bad_event_id == victim.id and report.checked == 3


def test_verify_finds_a_deleted_event(app_ctx, make):
    make.org()
    events = _events()
    _tamper("DELETE FROM audit_events WHERE id = :id", id=events[2].id)
    db.session.expire_all()
    report = services.verify()
    assert not report.ok and report.bad_event_id == events[3].id


def test_cli_verify_exit_codes(app, make):
    make.org()
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0 and "intact" in ok.output
    with app.app_context():
        first = _events()[0].id
        _tamper("UPDATE audit_events SET note = 'x' WHERE id = :id", id=first)
    broken = runner.invoke(args=["audit", "verify", "--json"])
    assert broken.exit_code == 1 and f'"bad_event_id": {first}' in broken.output


def test_postgresql_refuses_update_and_delete_of_audit_rows(app_ctx, make):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL only; SQLite relies on the hash chain")
    make.org()
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET note = 'x'"))
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))


def test_a_failed_change_leaves_no_audit_event(app_ctx, make):
    from tracker.core.errors import ValidationFailed
    from tracker.org import services as org_services

    make.org()
    count = len(_events())
    with pytest.raises(ValidationFailed):
        org_services.create_unit({"code": "UA", "name": "重复"}, actor=None)
    db.session.rollback()
    assert len(_events()) == count

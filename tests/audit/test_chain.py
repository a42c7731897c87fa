"""The audit log: written with every change, hash-chained, sealed by an HMAC, anchored outside the
database, verified, append-only on both backends."""

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from tests.audit.tamper import tamper
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
    tamper(sql, **params)


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


def test_the_database_refuses_update_and_delete_of_audit_rows(app_ctx, make):
    make.org()
    events = _events()
    for sql in (
        "UPDATE audit_events SET note = 'x'",
        f"UPDATE audit_events SET note = 'x' WHERE id = {events[-1].id}",
        f"DELETE FROM audit_events WHERE id = {events[2].id}",
        f"DELETE FROM audit_events WHERE id = {events[-1].id}",
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(sql))
    assert len(_events()) == len(events) and services.verify().ok


def test_a_failed_change_leaves_no_audit_event(app_ctx, make):
    from tracker.core.errors import ValidationFailed
    from tracker.org import services as org_services

    make.org()
    count = len(_events())
    with pytest.raises(ValidationFailed):
        org_services.create_unit({"code": "UA", "name": "重复"}, actor=None)
    db.session.rollback()
    assert len(_events()) == count


@pytest.fixture
def anchored(app_ctx, tmp_path, monkeypatch):
    """AUDIT_ANCHOR_FILE set for this test: every commit that writes events appends the head."""
    path = tmp_path / "audit-anchor.log"
    monkeypatch.setitem(app_ctx.config, "AUDIT_ANCHOR_FILE", str(path))
    return path


def _mixed_chain(make):
    """Single events (the org) and a bulk batch, committed in several transactions."""
    make.org()
    services.record_many(None, [{"action": "x.bulk", "object_type": "x", "object_id": i} for i in range(20)])
    db.session.commit()
    services.record(None, "x.single", "x", "1", after={"n": 1})
    db.session.commit()
    return _events()


def test_an_intact_mixed_chain_passes_and_every_row_has_a_mac(anchored, make):
    events = _mixed_chain(make)
    assert all(e.mac == services.compute_mac(e.hash) for e in events)
    heads = [line.split()[1] for line in anchored.read_text().splitlines()]
    assert heads[-1] == events[-1].hash and len(heads) >= 3
    report = services.verify()
    assert report.ok and report.checked == len(events)


def test_verify_finds_an_edit_rehashed_without_the_key(anchored, make):
    """The attacker edits a middle row and recomputes its hash and every later link: the chain is
    consistent again, but the MACs of the re-hashed rows cannot be made without AUDIT_HMAC_KEY."""
    events = _mixed_chain(make)
    victim = len(events) // 2

    def rewrite(conn):
        prev = events[victim - 1].hash
        for event in events[victim:]:
            db.session.expunge(event)
            if event is events[victim]:
                event.note = "改过"
            event.prev_hash = prev
            event.hash = services.compute_hash(event)
            conn.execute(
                text("UPDATE audit_events SET note = :note, prev_hash = :p, hash = :h WHERE id = :id"),
                {"note": event.note, "p": event.prev_hash, "h": event.hash, "id": event.id},
            )
            prev = event.hash

    tamper(rewrite)
    report = services.verify()
    assert not report.ok and report.bad_event_id == events[victim].id
    assert report.reason == "hash does not match its MAC"


def test_verify_finds_macs_made_with_another_key(app_ctx, make, monkeypatch):
    events = _mixed_chain(make)
    monkeypatch.setitem(app_ctx.config, "AUDIT_HMAC_KEY", "not-the-key-the-rows-were-sealed-with")
    report = services.verify()
    assert not report.ok and report.bad_event_id == events[0].id


def test_verify_finds_a_row_without_a_mac(app_ctx, make):
    events = _mixed_chain(make)
    tamper("UPDATE audit_events SET mac = NULL WHERE id = :id", id=events[5].id)
    assert services.verify().bad_event_id == events[5].id


def test_verify_finds_a_deleted_middle_row_of_a_bulk_batch(anchored, make):
    events = _mixed_chain(make)
    bulk = [e for e in events if e.action == "x.bulk"]
    tamper("DELETE FROM audit_events WHERE id = :id", id=bulk[7].id)
    report = services.verify()
    assert not report.ok and report.bad_event_id == bulk[8].id


@pytest.mark.parametrize("cut", [1, 3, 21])
def test_the_anchor_file_finds_a_cut_tail(anchored, make, cut):
    events = _mixed_chain(make)
    tamper("DELETE FROM audit_events WHERE id > :id", id=events[-cut - 1].id)
    report = services.verify()
    assert not report.ok and report.bad_event_id == events[-cut - 1].id
    assert report.reason == "events after this one were deleted" and report.checked == len(events) - cut - 1


def test_the_anchor_file_finds_a_log_emptied(anchored, make):
    _mixed_chain(make)
    tamper("DELETE FROM audit_events")
    assert not services.verify().ok


def test_without_the_anchor_file_a_cut_tail_goes_unseen(app_ctx, make):
    """The limit of a chain kept in the database alone: why production sets AUDIT_ANCHOR_FILE."""
    events = _mixed_chain(make)
    tamper("DELETE FROM audit_events WHERE id = :id", id=events[-1].id)
    assert services.verify().ok


def test_verify_finds_two_rows_swapped(anchored, make):
    events = _mixed_chain(make)
    a, b = events[4].id, events[9].id
    tamper(
        "UPDATE audit_events SET id = -1 WHERE id = :a",
        "UPDATE audit_events SET id = :a WHERE id = :b",
        "UPDATE audit_events SET id = :b WHERE id = -1",
        a=a,
        b=b,
    )
    report = services.verify()
    assert not report.ok and report.bad_event_id == a
    assert report.reason == "prev_hash does not match the previous event"


def test_the_verify_page_names_a_cut_tail_in_words(app, client, make, tmp_path, monkeypatch):
    from tests.conftest import csrf_from, login

    monkeypatch.setitem(app.config, "AUDIT_ANCHOR_FILE", str(tmp_path / "anchor.log"))
    make.org()
    with app.app_context():
        ids = [e.id for e in _events()]
        tamper("DELETE FROM audit_events WHERE id = :id", id=ids[-1])
    login(client, "inspector")
    html = client.post("/audit/verify", data={"csrf_token": csrf_from(client, "/audit/")}).get_data(as_text=True)
    assert f"第 {ids[-2]} 条记录之后的记录被删除（日志比链外锚定文件所记的短）；此前的 {len(ids) - 2} 条完好" in html

"""The bulk path of the audit chain (record_many: one COPY or executemany for thousands of events)
chains exactly as the single path (record) does: every hash is what `canonical` makes of the stored
row, the links follow the id order, and `flask audit verify` finds the chain intact, also after a
deadline scan that writes its notices' entries in bulk."""

from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update

from tracker.audit import services
from tracker.audit.models import AuditEvent
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db

AWKWARD = [  # content whose JSON needs escaping, sorting or `default=str`
    {"action": "x.one", "object_type": "problem", "object_id": 7, "after": {"b": 1, "a": '引号"与\\斜杠\n'}},
    {"action": "x.two", "object_type": "problem", "object_id": "P-2", "before": {"z": [1, 2]}, "note": "备注"},
    {
        "action": "x.three",
        "object_type": "record",
        "object_id": "r/3",
        "before": {"when": date(2026, 1, 2)},
        "after": {"when": datetime(2026, 1, 2, 3, 4, 5), "n": None, "t": (1, "二")},
        "note": None,
    },
    {"action": "x.four", "object_type": "problem", "object_id": ""},
]


def _events(since=0):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.id > since).order_by(AuditEvent.id)).all()


def test_record_many_chains_exactly_as_record(app_ctx, make):
    make.org()
    last = db.session.scalar(select(func.max(AuditEvent.id)))
    actor = db.session.scalar(select(User).where(User.username == "admin"))
    services.record(actor, "x.single", "problem", "P-1", after={"k": "v"})
    assert services.record_many(actor, iter(AWKWARD)) == len(AWKWARD)
    services.record(None, "x.after", "problem", "P-9")
    assert services.record_many(None, AWKWARD[:2]) == 2
    assert services.record_many(None, []) == 0
    db.session.commit()
    db.session.expire_all()

    events = _events(last)
    assert {e.actor_name for e in events[: 1 + len(AWKWARD)]} == {"admin"} and events[-1].actor_name == "system"
    assert [e.action for e in events] == ["x.single", *(i["action"] for i in AWKWARD), "x.after", "x.one", "x.two"]
    for earlier, later in zip(events, events[1:], strict=False):
        assert later.prev_hash == earlier.hash
    for event in events:
        assert services.compute_hash(event) == event.hash, event.action
    stored = {e.action: e for e in events[1 : 1 + len(AWKWARD)]}
    assert stored["x.one"].object_id == "7" and stored["x.one"].after == {"a": '引号"与\\斜杠\n', "b": 1}
    assert stored["x.three"].before == {"when": "2026-01-02"}
    assert stored["x.three"].after == {"when": "2026-01-02 03:04:05", "n": None, "t": [1, "二"]}
    assert stored["x.two"].note == "备注" and stored["x.four"].before is None and stored["x.four"].after is None
    assert services.verify().ok


def test_the_chain_verifies_after_a_bulk_deadline_scan(app, make):
    from tracker.alerts.scan import scan
    from tracker.demo.services import seed_problems
    from tracker.ledger.models import Problem

    make.org()
    clock.pin("2026-11-20T09:00:00")  # a Friday
    with app.app_context():
        seed_problems(60, 3, records_per_problem=1, statuses=["in_progress"], commit=False)
        ids = db.session.scalars(select(Problem.id).where(Problem.status == "in_progress")).all()
        for days in range(13):
            db.session.execute(
                update(Problem)
                .where(Problem.id.in_(ids[days::13]))
                .values(deadline=clock.today() - timedelta(days=days))
            )
        db.session.commit()
        before = db.session.scalar(select(func.count()).select_from(AuditEvent))
        report = scan()
        db.session.commit()
        written = db.session.scalar(select(func.count()).select_from(AuditEvent)) - before
        assert written == len(report.notices) > 10  # one notice.issue entry per notice, in bulk
        chain = services.verify()
        assert chain.ok and chain.checked == before + written, chain
        scan()  # a repeat scan adds nothing and keeps the chain intact
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before + written
        assert services.verify().ok
    runner = app.test_cli_runner()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "intact" in result.output

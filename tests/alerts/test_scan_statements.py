"""A first scan of many due problems writes its alerts, notices, inbox messages, e-mails, webhook posts
and audit entries set-based: the number of statements does not grow with the number of problems
(beyond the chunking of very large batches), and a second scan adds nothing."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, update

from tracker.alerts.models import Alert, Delivery, Notification, SupervisionNotice, Webhook
from tracker.alerts.scan import scan
from tracker.audit.models import AuditEvent
from tracker.auth.models import User
from tracker.core import clock
from tracker.extensions import db
from tracker.ledger.models import Problem

TABLES = (Alert, SupervisionNotice, Notification, Delivery, AuditEvent)


@contextmanager
def statements():
    """The SQL statements sent to the database inside the block (one per execute / executemany)."""
    seen = []

    def count(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def _rows():
    return {m.__tablename__: db.session.scalar(select(func.count()).select_from(m)) for m in TABLES}


@pytest.fixture
def ledger(app, make):
    """The small organisation, with e-mail addresses and two webhooks (a global one and SYS-A's)."""
    make.org()
    clock.pin("2026-11-20T09:00:00")  # a Friday
    with app.app_context():
        for name in ("unita", "unitb", "inspector", "leader"):
            db.session.scalar(select(User).where(User.username == name)).email = f"{name}@example.gov.cn"
        sys_a = db.session.scalar(select(User.unit_id).where(User.username == "unita"))
        db.session.add(Webhook(name="全局", kind="json", url="http://127.0.0.1:9/all", is_active=True))
        db.session.add(Webhook(name="甲单位", kind="json", url="http://127.0.0.1:9/a", unit_id=sys_a, is_active=True))
        db.session.commit()


def _add_due_problems(app, count, seed):
    """COUNT problems in progress, their deadlines 0 to 12 days past, so every ladder step occurs."""
    from tracker.demo.services import seed_problems

    with app.app_context():
        last = db.session.scalar(select(func.max(Problem.id))) or 0
        seed_problems(count, seed, records_per_problem=1, statuses=["in_progress"], commit=False)
        ids = db.session.scalars(select(Problem.id).where(Problem.id > last).order_by(Problem.id)).all()
        assert len(ids) == count
        today = clock.today()
        for days in range(13):
            db.session.execute(
                update(Problem).where(Problem.id.in_(ids[days::13])).values(deadline=today - timedelta(days=days))
            )
        db.session.commit()
        return ids


def _first_scan(app, count, seed):
    ids = _add_due_problems(app, count, seed)
    with app.app_context():
        before = _rows()
        with statements() as seen:
            report = scan()
            db.session.commit()
        written = {table: n - before[table] for table, n in _rows().items()}
        alerted = set(db.session.scalars(select(Alert.problem_id).where(Alert.problem_id.in_(ids))))
        assert alerted == set(ids)  # every one of them is due or overdue
        return seen, written, report


def _inserts(seen, table):
    return [s for s in seen if s.startswith((f"INSERT INTO {table} ", f"COPY {table} "))]


def test_statements_do_not_grow_with_the_number_of_due_problems(app, ledger):
    small, small_rows, small_report = _first_scan(app, 40, seed=1)
    large, large_rows, large_report = _first_scan(app, 200, seed=2)

    for table in ("alerts", "supervision_notices", "notifications", "deliveries", "audit_events"):
        assert large_rows[table] >= 4 * small_rows[table] > 0, table
        assert len(_inserts(large, table)) <= 1, (table, _inserts(large, table))
    # The small scan also created the year's notice counter (a savepoint, an insert and a release).
    assert len(large) <= len(small) <= 45, large

    with app.app_context():
        notices = db.session.scalars(select(SupervisionNotice).order_by(SupervisionNotice.id)).all()
        escalations = db.session.scalar(
            select(func.count()).where(Alert.kind == "escalation", Alert.step.not_like("reminder:%"))
        )
        assert len(notices) == escalations == small_rows["supervision_notices"] + large_rows["supervision_notices"]
        assert [n.seq for n in notices] == list(range(1, len(notices) + 1))  # one block, no gaps
        assert [n.number for n in notices[-large_rows["supervision_notices"] :]] == large_report.notices
        assert all(n.source_key == f"{n.problem_id}:{n.level}:{n.deadline.isoformat()}" for n in notices)
        audited = db.session.scalars(
            select(AuditEvent.after["notice"].as_string()).where(AuditEvent.action == "notice.issue")
        ).all()
        assert sorted(audited) == sorted(n.number for n in notices)
        messages = small_rows["notifications"] + large_rows["notifications"]
        emails = db.session.scalar(select(func.count()).where(Delivery.channel == "email"))
        assert emails == db.session.scalar(
            select(func.count()).select_from(Notification).join(User).where(User.email.is_not(None))
        )
        assert emails == messages  # everyone told has an address here
        told = set(db.session.execute(select(Notification.problem_id, Notification.kind).distinct()).all())
        alerts = db.session.execute(
            select(Alert.problem_id, Alert.kind, Problem.owner_id).join(Problem, Problem.id == Alert.problem_id)
        ).all()
        for problem_id, kind, owner_id in alerts:  # the inspectors hear of these; the others go to the owner
            if kind in ("not_accepted", "overdue", "escalation") or owner_id is not None:
                assert (problem_id, f"alert.{kind}") in told, (problem_id, kind)
        hook = db.session.scalar(select(Webhook.id).where(Webhook.unit_id.is_(None)))
        global_posts = db.session.scalar(
            select(func.count()).where(Delivery.channel == "webhook", Delivery.target == f"webhook:{hook}")
        )
        alerts_and_notices = (
            small_rows["alerts"]
            + large_rows["alerts"]
            + small_rows["supervision_notices"]
            + large_rows["supervision_notices"]
        )
        assert global_posts == alerts_and_notices  # the global robot hears of every alert and notice

        before = _rows()
        with statements() as again_seen:
            again = scan()
            db.session.commit()
        assert not again.new and again.resolved == 0 and _rows() == before
        assert not any(s.startswith(("INSERT", "UPDATE", "COPY")) for s in again_seen), again_seen
        assert len(again_seen) <= 10, again_seen

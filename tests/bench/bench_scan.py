"""Benchmark: the deadline scan at two ledger sizes with the same number of due items.

    .venv/bin/python -m tests.bench.bench_scan --sizes 100000 1000000 --due 10000 [--db postgresql|sqlite]
    .venv/bin/python -m tests.bench.bench_scan --sizes 60000 --due 10000 --reuse h_scan   # an own database

For each size: generate the problems (flask demo seed --problems), push every open problem's deadline a
year out, then bring DUE of them due or overdue; time a first scan (which records the alerts,
notices and notifications) and a repeat scan (which finds the same and adds nothing).
Target (issue 6): ≤ 1 s on PostgreSQL with 1,000,000 problems of which 10,000 are due or overdue,
and a time that grows with the due items, not with the ledger. Issue 12: the first scan (10,000 due
problems: alerts, notices, inbox messages, e-mails, webhook posts, audit entries) ≤ 2 s, in a number
of statements that does not grow with the due items beyond the chunking; both are printed.

--reuse takes an existing database per size; an empty one (no tables or no problems) is seeded with
SIZE problems first, so that later runs on it skip the generation.
"""

import argparse
import random
import statistics
import time
import uuid
from datetime import timedelta

from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url

from config import TestConfig
from tracker import create_app
from tracker.core import clock
from tracker.extensions import db

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def build(size, due, backend, reuse=None):
    name = f"bench_scan_{size}_{uuid.uuid4().hex[:6]}"
    drop = None
    if reuse:  # an existing database of `flask demo seed --problems` (e.g. the ledger benchmark's)
        url = reuse if "://" in reuse else make_url(PG).set(database=reuse).render_as_string(hide_password=False)
    elif backend == "postgresql":
        admin = create_engine(PG, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG).set(database=name).render_as_string(hide_password=False)

        def drop():
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        url = f"sqlite:////tmp/{name}.db"

        def drop():
            import os

            os.remove(f"/tmp/{name}.db")

    class Config(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        STORAGE_DIR = "/tmp/bench-storage"

    app = create_app(Config)
    with app.app_context():
        from tracker.demo import services as demo
        from tracker.ledger.models import OPEN_STATUSES, Problem

        started = time.perf_counter()
        if reuse:
            db.create_all()  # tables added since that database was made (alerts, notices, …)
            if not db.session.scalar(select(func.count()).select_from(Problem)):
                demo.seed(1)
                demo.seed_problems(size, 1)
                db.session.commit()
            for table in ("deliveries", "notifications", "supervision_notices", "alerts"):
                db.session.execute(text(f"DELETE FROM {table}"))  # a first scan that finds everything new
            size = db.session.scalar(select(func.count()).select_from(Problem))
        else:
            db.create_all()
            demo.seed(1)
            demo.seed_problems(size, 1)
        today = clock.today()
        db.session.execute(
            update(Problem)
            .where(Problem.status.in_(OPEN_STATUSES), Problem.status != "new")
            .values(deadline=today + timedelta(days=365))
        )
        ids = db.session.scalars(
            select(Problem.id)
            .where(Problem.status.in_(OPEN_STATUSES), Problem.status != "new")
            .order_by(Problem.id)
            .limit(due * 3)
        ).all()
        chosen = random.Random(1).sample(ids, min(due, len(ids)))
        for offset in range(0, len(chosen), 5000):
            part = chosen[offset : offset + 5000]
            db.session.execute(
                update(Problem)
                .where(Problem.id.in_(part))
                .values(deadline=today - timedelta(days=random.Random(offset).randrange(0, 30)))
            )
        db.session.execute(
            update(Problem).where(Problem.status == "assigned").values(assigned_at=clock.now() - timedelta(hours=1))
        )
        db.session.commit()
        if backend == "postgresql":
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        print(f"  generated {size} problems ({len(chosen)} due/overdue) in {time.perf_counter() - started:.0f} s")
    return app, drop


def _load() -> str:
    import os

    return " ".join(f"{n:.1f}" for n in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def measure(app, repeats=5):
    """(first scan s, median repeat scan s, candidates, alerts, first scan statements, repeat scan
    statements, {table: rows} written by the first scan)."""
    from sqlalchemy import event

    from tracker.alerts.models import Alert, Delivery, Notification, SupervisionNotice
    from tracker.alerts.scan import scan
    from tracker.audit.models import AuditEvent

    with app.app_context():
        statements = []

        def count(*_args):
            statements.append(1)

        models = (Alert, SupervisionNotice, Notification, Delivery, AuditEvent)
        before = {m.__tablename__: db.session.scalar(select(func.count()).select_from(m)) for m in models}
        db.session.commit()
        event.listen(db.engine, "before_cursor_execute", count)
        try:
            started, cpu = time.perf_counter(), time.process_time()
            report = scan()
            db.session.commit()
            first = time.perf_counter() - started
            print(
                f"  first scan: {first:.2f} s, of which {time.process_time() - cpu:.2f} s CPU in this process "
                f"(the rest: waiting for the database, or for a CPU on a loaded machine; load {_load()})"
            )
            first_statements = len(statements)
            times = []
            for _ in range(repeats):
                del statements[:]
                started = time.perf_counter()
                again = scan()
                db.session.commit()
                times.append(time.perf_counter() - started)
                assert not again.new
            repeat_statements = len(statements)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        written = {
            m.__tablename__: db.session.scalar(select(func.count()).select_from(m)) - before[m.__tablename__]
            for m in models
        }
        alerts = db.session.scalar(select(func.count()).select_from(Alert))
        return first, statistics.median(times), report.candidates, alerts, first_statements, repeat_statements, written


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--reuse", nargs="*", default=[], help="existing databases (names or URLs), one per size")
    args = parser.parse_args()
    rows = []
    for index, size in enumerate(args.sizes):
        print(f"{args.db}: {size} problems")
        reuse = args.reuse[index] if index < len(args.reuse) else None
        app, drop = build(size, args.due, args.db, reuse)
        try:
            first, repeat, candidates, alerts, first_n, repeat_n, written = measure(app)
            print("  written by the first scan: " + ", ".join(f"{k} {v}" for k, v in written.items()))
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            if drop:
                drop()
        rows.append((size, candidates, alerts, first, repeat, first_n, repeat_n))
    print(
        f"\n{'db':<11}{'problems':>10}{'candidates':>12}{'alerts':>9}{'first s':>9}{'stmts':>7}"
        f"{'repeat s':>10}{'stmts':>7}  target first ≤ 2 s, repeat ≤ 1 s"
    )
    for size, candidates, alerts, first, repeat, first_n, repeat_n in rows:
        verdict = {(True, True): "PASS", (False, True): "first FAIL", (True, False): "repeat FAIL"}.get(
            (first <= 2.0, repeat <= 1.0), "FAIL"
        )
        print(
            f"{args.db:<11}{size:>10}{candidates:>12}{alerts:>9}{first:>9.2f}{first_n:>7}"
            f"{repeat:>10.2f}{repeat_n:>7}  {verdict}"
        )


if __name__ == "__main__":
    main()

"""Ledger at scale benchmark (not a pytest test: pytest only collects test_*.py).

Product targets: with 1,000,000 problems and 3,000,000 intake records, the ledger list page with a
typical filter (50 rows) has a median server time <= 30 ms on PostgreSQL and <= 60 ms on SQLite, at
page 1 and at page 2,000 (with the raw SQL time of the same query reported beside it); the export of
1,000,000 rows runs in constant memory (< 300 MB RSS).

    .venv/bin/python -m tests.bench.bench_ledger [--problems N] [--db sqlite|postgresql|both]
                                                 [--reuse PATH_OR_DBNAME] ...

Databases are kept for reuse: SQLite in /tmp/bench_ledger_<N>.db, PostgreSQL in the database
tracker_bench_ledger_<N> on postgresql+psycopg://postgres@127.0.0.1:5432/. Without --reuse they are
regenerated (dropped first); with --reuse PATH (SQLite: a path ending in .db or containing '/') or
--reuse DBNAME (PostgreSQL) the given database is used as it is when it already holds problems, and
filled otherwise. --reuse may be given once per database; --reuse auto reuses the default names.
The inspector's demo password is kept in a sidecar JSON file next to the database
(/tmp/bench_ledger_pg_<DBNAME>.json for PostgreSQL).

What is measured, per database:
  * generation: tracker.demo.services.seed(7) + seed_problems(N, 7) (3 intake records per problem),
    then ANALYZE (PostgreSQL: VACUUM (ANALYZE), which is what autovacuum would do after the load);
  * the list page GET /ledger/?... through the Flask test client, logged in as the inspector via the
    real /login form: median and p90 over --reps requests after --warmup warm-ups, at page 1 and at
    page 2,000. The page-2,000 cursor is computed beforehand (untimed) with the same ordering and
    OFFSET 1999*50. When a filter has fewer than 2,000 pages its last full page is measured instead
    and the label says so. The counts bar is a separate htmx request (GET /ledger/counts) and is
    measured separately;
  * the raw SQL of the same list query: queries.ledger_page() called directly (the query builder,
    the unit-subtree CTE lookup, the SELECT and ORM loading, no template), and the compiled SELECT
    alone (literal SQL via exec_driver_sql, rows fetched, no ORM);
  * the export of the whole ledger (LedgerFilter(), all rows) to XLSX (write_xlsx) and to CSV
    (stream_csv consumed into /dev/null), each in a fresh child process: wall time, rows and peak
    memory (VmHWM from /proc/self/status, ru_maxrss, and the RSS before the export started).
    The child is started through /bin/sh so that ru_maxrss does not inherit the parent's high-water
    mark (Linux carries it over fork+exec).

The plans of the list queries (EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL, EXPLAIN QUERY PLAN on
SQLite) are printed at the end.
"""

import argparse
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/"
PAGE_TARGET_MS = {"sqlite": 60.0, "postgresql": 30.0}
EXPORT_TARGET_MB = 300.0
RESULT_PREFIX = "BENCH-RESULT "
ROW_LINK_RE = re.compile(r'<a href="/ledger/(ZG-\d{4}-\d+)">')
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


# ---- small helpers --------------------------------------------------------------------------------


def log(message=""):
    print(message, flush=True)


def proc_status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def summary(samples_ms: list[float]) -> dict:
    ordered = sorted(samples_ms)
    p90 = ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]
    return {"median": statistics.median(ordered), "p90": p90, "min": ordered[0], "n": len(ordered)}


def _config(url: str):
    from config import TestConfig

    class BenchConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        STORAGE_DIR = "/tmp/bench_ledger_storage"

    return BenchConfig


def resolve_targets(args) -> list[dict]:
    """[{kind, url, label, reuse, sidecar, pg_name}] for the databases to run."""
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    reuse = {}
    for value in args.reuse or []:
        if value == "auto":
            reuse.setdefault("sqlite", f"/tmp/bench_ledger_{args.problems}.db")
            reuse.setdefault("postgresql", f"tracker_bench_ledger_{args.problems}")
        elif value.endswith(".db") or "/" in value:
            reuse["sqlite"] = value
        else:
            reuse["postgresql"] = value
    targets = []
    for kind in dbs:
        if kind == "sqlite":
            path = Path(reuse.get("sqlite") or f"/tmp/bench_ledger_{args.problems}.db").resolve()
            targets.append(
                {
                    "kind": kind,
                    "url": f"sqlite:///{path}",
                    "label": str(path),
                    "reuse": "sqlite" in reuse,
                    "sidecar": Path(str(path) + ".json"),
                    "path": path,
                }
            )
        else:
            name = reuse.get("postgresql") or f"tracker_bench_ledger_{args.problems}"
            if not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise SystemExit(f"--reuse {name!r}: a PostgreSQL database name is letters, digits and _ only")
            targets.append(
                {
                    "kind": kind,
                    "url": PG_SERVER + name,
                    "label": name,
                    "reuse": "postgresql" in reuse,
                    "sidecar": Path(f"/tmp/bench_ledger_pg_{name}.json"),
                    "pg_name": name,
                }
            )
    return targets


def sync_schema(kind: str) -> None:
    """Bring a reused database up to the current models: create_all() makes missing tables only, so
    add missing columns (NOT NULL ones with their scalar default, else nullable) and missing indexes.
    For benchmark databases only; the product's schema changes go through migrations."""
    import sqlalchemy as sa

    from tracker.extensions import db

    inspector = sa.inspect(db.engine)
    preparer = db.engine.dialect.identifier_preparer
    with db.engine.begin() as conn:
        for table in db.metadata.sorted_tables:
            existing = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in existing:
                    continue
                type_sql = column.type.compile(dialect=db.engine.dialect)
                ddl = f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {preparer.quote(column.name)} {type_sql}"
                default = getattr(column.default, "arg", None)
                if not column.nullable and default is not None and not callable(default):
                    literal = sa.literal(default, column.type).compile(
                        dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}
                    )
                    ddl += f" NOT NULL DEFAULT {literal}"
                log(f"[{kind}] schema catch-up: {ddl}")
                conn.exec_driver_sql(ddl)
            indexes = {i["name"] for i in inspector.get_indexes(table.name)}
            for index in table.indexes:
                if index.name not in indexes:
                    log(f"[{kind}] schema catch-up: CREATE INDEX {index.name}")
                    index.create(conn, checkfirst=True)


def prepare_database(target: dict, problems: int) -> dict:
    """Create (or reuse) the database and fill it; returns the generation figures."""
    import sqlalchemy as sa

    kind = target["kind"]
    exists = False
    if kind == "sqlite":
        path = target["path"]
        if path.exists() and not target["reuse"]:
            path.unlink()
            for suffix in ("-wal", "-shm", "-journal", ".json"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        exists = path.exists()
    else:
        admin = sa.create_engine(PG_SERVER + "postgres", isolation_level="AUTOCOMMIT")
        name = target["pg_name"]
        with admin.connect() as conn:
            exists = bool(conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}))
            if exists and not target["reuse"]:
                log(f"[{kind}] dropping the existing database {name}")
                conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                target["sidecar"].unlink(missing_ok=True)
                exists = False
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()

    from tracker import create_app
    from tracker.access.policy import Role
    from tracker.auth.models import User
    from tracker.demo import services as demo
    from tracker.extensions import db
    from tracker.intake.models import IntakeRecord
    from tracker.ledger.models import Problem

    app = create_app(_config(target["url"]))
    info = {"reused": False}
    with app.app_context():
        db.create_all()
        sync_schema(kind)
        have = db.session.scalar(sa.select(sa.func.count()).select_from(Problem)) or 0
        if have and target["sidecar"].exists():
            side = json.loads(target["sidecar"].read_text())
            info.update(side)
            info["reused"] = True
            info["problems"] = have
            info["intake_records"] = db.session.scalar(sa.select(sa.func.count()).select_from(IntakeRecord))
            if have != problems:
                log(f"[{kind}] note: reusing {target['label']} with {have:,} problems (asked for {problems:,})")
            log(f"[{kind}] reusing {target['label']}: {have:,} problems, {info['intake_records']:,} intake records")
        elif have:
            # A database filled elsewhere: the demo password is unknown, so set a new one.
            from tracker.auth import services as user_services

            inspector = db.session.scalar(sa.select(User).where(User.role == Role.INSPECTOR).order_by(User.id))
            password = user_services.reset_password(inspector, actor=None, password="Bench-ledger-2026")
            inspector.must_change_password = False
            db.session.commit()
            info.update({"reused": True, "username": inspector.username, "password": password, "problems": have})
            target["sidecar"].write_text(json.dumps(info))
        else:
            log(f"[{kind}] generating {problems:,} problems x 3 intake records into {target['label']} ...")
            started = time.perf_counter()
            logins = demo.seed(7)
            db.session.commit()
            seed_seconds = time.perf_counter() - started
            inspector, password = next((u, p) for u, p in logins if u.role == Role.INSPECTOR)
            username = inspector.username
            started = time.perf_counter()
            made = demo.seed_problems(problems, 7)
            db.session.commit()
            problems_seconds = time.perf_counter() - started
            log(
                f"[{kind}] seed: {seed_seconds:.1f} s; seed_problems: {made['problems']:,} problems + "
                f"{made['intake_records']:,} intake records in {problems_seconds:.1f} s"
            )
            db.session.remove()
            started = time.perf_counter()
            if kind == "postgresql":
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM (ANALYZE)")
            else:
                with db.engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE")
            analyze_seconds = time.perf_counter() - started
            log(f"[{kind}] {'VACUUM (ANALYZE)' if kind == 'postgresql' else 'ANALYZE'}: {analyze_seconds:.1f} s")
            info.update(
                {
                    "username": username,
                    "password": password,
                    "problems": made["problems"],
                    "intake_records": made["intake_records"],
                    "seed_seconds": seed_seconds,
                    "generate_seconds": problems_seconds,
                    "analyze_seconds": analyze_seconds,
                }
            )
            target["sidecar"].write_text(json.dumps(info))
        db.session.remove()
    if kind == "sqlite":
        info["size_mb"] = target["path"].stat().st_size / 1e6
    else:
        with app.app_context():
            info["size_mb"] = db.session.scalar(sa.text("SELECT pg_database_size(current_database())")) / 1e6
            db.session.remove()
    return {"app": app, **info}


# ---- the list page --------------------------------------------------------------------------------


def login(client, username, password):
    page = client.get("/login")
    match = CSRF_RE.search(page.get_data(as_text=True))
    if not match:
        raise SystemExit(f"no csrf_token on /login ({page.status_code})")
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": match.group(1)})
    if response.status_code != 302:
        raise SystemExit(f"login as {username} failed: {response.status_code}")
    home = client.get("/ledger/")
    if home.status_code != 200:
        raise SystemExit(f"/ledger/ after login answered {home.status_code} (location {home.headers.get('Location')})")


def scenarios(unit_id: int, unit_code: str):
    """(key, label, query args, is the issue's 'typical filter')."""
    typical = {"status": "in_progress", "unit": str(unit_id)}
    return [
        ("typical", f"status=in_progress & unit={unit_code} subtree, sort -id", typical, True),
        ("unfiltered", "no filter, default sort -id", {}, False),
        ("deadline", "no filter, sort=deadline", {"sort": "deadline"}, False),
        (
            "open_unit",
            f"status=open & unit={unit_code} subtree, sort -id",
            {"status": "open", "unit": str(unit_id)},
            False,
        ),
        (
            "typical_deadline",
            f"status=in_progress & unit={unit_code}, sort=deadline",
            {**typical, "sort": "deadline"},
            False,
        ),
    ]


def plan_pages(app, inspector_id: int, args: dict, page: int, size: int) -> list[dict]:
    """Page 1 and page PAGE (or the last full page) of ARGS: the cursor and the expected first row."""
    from sqlalchemy import func, select
    from werkzeug.datastructures import MultiDict

    from tracker.auth.models import User
    from tracker.extensions import db
    from tracker.ledger import queries

    with app.test_request_context():
        user = db.session.get(User, inspector_id)
        flt = queries.LedgerFilter.from_args(MultiDict(args))
        base = queries.filtered(user, flt)
        total = db.session.scalar(select(func.count()).select_from(base.subquery()))
        ordered = base.order_by(*queries._ordering(flt.sort))
        pages = [{"page": 1, "cursor": "", "total": total, "note": ""}]
        first = db.session.scalars(ordered.limit(1)).first()
        pages[0]["expect_first"] = first.number if first else None
        deep = page
        note = ""
        if total < (page - 1) * size + 1:
            deep = max(2, total // size)  # the last full page
            note = f" (only {total:,} rows: p{page} does not exist, last full page)"
        if deep >= 2 and total > size:
            previous_last = db.session.scalars(ordered.offset((deep - 1) * size - 1).limit(1)).first()
            expected = db.session.scalars(ordered.offset((deep - 1) * size).limit(1)).first()
            cursor = queries.encode_cursor(
                [previous_last.deadline.isoformat() if previous_last.deadline else None, previous_last.id]
            )
            pages.append(
                {"page": deep, "cursor": cursor, "total": total, "note": note, "expect_first": expected.number}
            )
        db.session.remove()
    return pages


def time_get(client, url: str, reps: int, warmup: int, check=None) -> dict:
    for _ in range(warmup):
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}")
        if check:
            check(response)
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        response = client.get(url)
        body = response.get_data()
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200 or not body:
            raise SystemExit(f"GET {url} answered {response.status_code}")
    return summary(samples)


def sql_inside_requests(app, client, url: str, reps: int) -> dict:
    """Statements per request and the time spent executing them (median over REPS untimed requests),
    measured with SQLAlchemy cursor-execute events, so that page time splits into SQL and the rest."""
    from sqlalchemy import event

    from tracker.extensions import db

    with app.app_context():
        engine = db.engine
    state = {"n": 0, "ms": 0.0, "start": []}

    def before(conn, cursor, statement, parameters, context, executemany):
        state["start"].append(time.perf_counter())

    def after(conn, cursor, statement, parameters, context, executemany):
        state["n"] += 1
        state["ms"] += (time.perf_counter() - state["start"].pop()) * 1000

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    counts, times = [], []
    try:
        for _ in range(reps):
            state["n"], state["ms"] = 0, 0.0
            client.get(url).get_data()
            counts.append(state["n"])
            times.append(state["ms"])
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    return {"queries": int(statistics.median(counts)), "sql_ms": statistics.median(times)}


def profile_request(app, creds: dict, url: str, reps: int = 20) -> None:
    """cProfile of REPS requests to URL: where the page time goes besides the list query."""
    import cProfile
    import io
    import pstats

    client = app.test_client()
    login(client, creds["username"], creds["password"])
    for _ in range(3):
        client.get(url).get_data()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(reps):
        client.get(url).get_data()
    profiler.disable()
    statements = statements_of_request(app, client, url)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(45)
    stats.sort_stats("tottime").print_stats(25)
    log(f"\n---- cProfile of {reps} requests to {url} (times include the profiler's overhead)")
    log(out.getvalue())
    log(f"---- the SQL statements of one request to {url} (execute time)")
    for ms, statement in statements:
        log(f"  {ms:6.2f} ms  {' '.join(statement.split())[:150]}")


def statements_of_request(app, client, url: str) -> list:
    from sqlalchemy import event

    from tracker.extensions import db

    with app.app_context():
        engine = db.engine
    seen, starts = [], []

    def before(conn, cursor, statement, parameters, context, executemany):
        starts.append(time.perf_counter())

    def after(conn, cursor, statement, parameters, context, executemany):
        seen.append(((time.perf_counter() - starts.pop()) * 1000, statement))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        client.get(url).get_data()
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    return seen


def measure_http(app, creds: dict, plans: dict, reps: int, warmup: int, size: int) -> list[dict]:
    from urllib.parse import urlencode

    client = app.test_client()
    login(client, creds["username"], creds["password"])
    results = []
    for key, (label, args, typical, pages) in plans.items():
        for info in pages:
            query = dict(args)
            if info["cursor"]:
                query["cursor"] = info["cursor"]
            url = "/ledger/" + ("?" + urlencode(query) if query else "")

            def check(response, info=info, url=url):
                numbers = ROW_LINK_RE.findall(response.get_data(as_text=True))
                want = min(size, info["total"] - (info["page"] - 1) * size)
                if len(numbers) != want or (numbers and numbers[0] != info["expect_first"]):
                    raise SystemExit(
                        f"{url}: {len(numbers)} rows starting {numbers[:1]}, expected {want} starting "
                        f"{info['expect_first']}"
                    )

            stats = time_get(client, url, reps, warmup, check)
            inside = sql_inside_requests(app, client, url, 10)
            results.append(
                {
                    "key": key,
                    "what": f"list p{info['page']}: {label}{info['note']}",
                    "page": info["page"],
                    "typical": typical,
                    "url": url,
                    "total": info["total"],
                    "inside": inside,
                    **stats,
                }
            )
            log(
                f"    GET {url[:90]:<90} median {stats['median']:7.1f} ms  p90 {stats['p90']:7.1f} ms"
                f"  ({inside['queries']} queries, {inside['sql_ms']:.1f} ms executing SQL in the request)"
            )
    # The counts bar: its own htmx request, the same arguments as the page (no cursor).
    for key, (label, args, _typical, _pages) in plans.items():
        if key not in ("typical", "unfiltered"):
            continue
        url = "/ledger/counts" + ("?" + urlencode(args) if args else "")
        stats = time_get(client, url, max(10, reps // 3), min(warmup, 2))
        results.append(
            {
                "key": "counts_" + key,
                "what": f"counts bar (htmx GET /ledger/counts): {label}",
                "url": url,
                "counts": True,
                **stats,
            }
        )
        log(f"    GET {url[:90]:<90} median {stats['median']:7.1f} ms  p90 {stats['p90']:7.1f} ms")
    return results


# ---- raw SQL --------------------------------------------------------------------------------------


def page_statement(user, flt, size):
    from tracker.ledger import queries

    # The first phase of the keyset read (a second phase only runs when the first ends before a full page).
    phases, _has_cursor = queries._phases(queries.filtered(user, flt), flt.sort, flt.cursor)
    return phases[0].order_by(*queries._ordering(flt.sort)).limit(size + 1)


def bound_sql(stmt, dialect):
    """STMT as the driver receives it from the app: SQL with placeholders and processed parameters."""
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    processors = compiled._bind_processors
    params = {k: (processors[k](v) if k in processors else v) for k, v in compiled.params.items()}
    if compiled.positional:
        return str(compiled), tuple(params[k] for k in compiled.positiontup)
    return str(compiled), params


def literal_sql(stmt, dialect) -> str:
    return str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def measure_sql(app, kind: str, inspector_id: int, plans: dict, reps: int, warmup: int, size: int):
    """Median of ledger_page() and of the compiled SELECT alone, per measured page; plus plans."""
    from werkzeug.datastructures import MultiDict

    from tracker.auth.models import User
    from tracker.extensions import db
    from tracker.ledger import queries

    results, plans_text = {}, []
    with app.test_request_context():
        dialect = db.engine.dialect
        for key, (label, args, _typical, pages) in plans.items():
            for info in pages:
                query = dict(args, cursor=info["cursor"]) if info["cursor"] else dict(args)
                page_ms, raw_ms, literal_ms = [], [], []
                for i in range(warmup + reps):
                    db.session.rollback()
                    db.session.expunge_all()
                    user = db.session.get(User, inspector_id)
                    flt = queries.LedgerFilter.from_args(MultiDict(query))
                    started = time.perf_counter()
                    page = queries.ledger_page(user, flt, size)
                    elapsed = (time.perf_counter() - started) * 1000
                    if i >= warmup:
                        page_ms.append(elapsed)
                if page.items and page.items[0].number != info["expect_first"]:
                    raise SystemExit(
                        f"ledger_page {query}: first row {page.items[0].number}, expected {info['expect_first']}"
                    )
                db.session.rollback()
                flt = queries.LedgerFilter.from_args(MultiDict(query))
                stmt = page_statement(user, flt, size)
                sql = literal_sql(stmt, dialect)
                bound, params = bound_sql(stmt, dialect)
                conn = db.session.connection()
                for statement, arguments, samples in ((bound, params, raw_ms), (sql, None, literal_ms)):
                    for i in range(warmup + reps):
                        started = time.perf_counter()
                        rows = conn.exec_driver_sql(statement, arguments).all()
                        elapsed = (time.perf_counter() - started) * 1000
                        if i >= warmup:
                            samples.append(elapsed)
                    if len(rows) < min(size, info["total"] - (info["page"] - 1) * size):
                        raise SystemExit(f"raw SQL for {query} returned {len(rows)} rows")
                results[(key, info["page"])] = {
                    "ledger_page": summary(page_ms),
                    "raw": summary(raw_ms),
                    "literal": summary(literal_ms),
                }
                plans_text.append(
                    (f"{label}, page {info['page']}", sql, explain(conn, kind, sql, bound=(bound, params)))
                )
                db.session.rollback()
            if key in ("typical", "unfiltered"):
                user = db.session.get(User, inspector_id)
                flt = queries.LedgerFilter.from_args(MultiDict(args))
                counts_ms = []
                for i in range(warmup + max(10, reps // 3)):
                    started = time.perf_counter()
                    queries.counts(user, flt)
                    elapsed = (time.perf_counter() - started) * 1000
                    if i >= warmup:
                        counts_ms.append(elapsed)
                results[("counts_" + key, None)] = {"ledger_page": summary(counts_ms), "raw": None}
                from sqlalchemy import func

                from tracker.ledger.models import Problem

                stmt = (
                    queries.filtered(user, flt, for_counts=True)
                    .with_only_columns(Problem.tier, Problem.status, func.count())
                    .group_by(Problem.tier, Problem.status)
                )
                sql = literal_sql(stmt, dialect)
                conn = db.session.connection()
                plans_text.append((f"counts: {label}", sql, explain(conn, kind, sql)))
                db.session.rollback()
        db.session.remove()
    return results, plans_text


def explain(conn, kind: str, sql: str, bound=None) -> str:
    """The plan of the literal SQL, and of the statement with bound parameters as the app sends it
    (PostgreSQL: also the generic plan that a prepared statement may switch to)."""
    if kind == "postgresql":
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql).all()
        text = "literal values:\n" + "\n".join(r[0] for r in rows)
        if bound is not None:
            statement, params = bound
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).all()
            text += "\n-- bound parameters (custom plan):\n" + "\n".join(r[0] for r in rows)
            text += "\n-- generic plan (what a prepared statement may switch to after 5 runs):\n" + generic_plan(
                conn, statement, params
            )
        return text
    lines = ["literal values:"] + sqlite_plan(conn, sql, None)
    if bound is not None:
        lines += ["-- bound parameters:"] + sqlite_plan(conn, *bound)
    return "\n".join(lines)


def sqlite_plan(conn, sql, params) -> list[str]:
    rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
    depth = {0: -1}
    lines = []
    for node_id, parent, _unused, detail in rows:
        depth[node_id] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node_id] + detail)
    started = time.perf_counter()
    conn.exec_driver_sql(sql, params).all()
    lines.append(f"(executed in {(time.perf_counter() - started) * 1000:.1f} ms)")
    return lines


def generic_plan(conn, statement: str, params: dict) -> str:
    names = []

    def number(match):
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    numbered = re.sub(r"%\((\w+)\)s", number, statement)

    def literal(value):
        if value is None:
            return "NULL"
        if isinstance(value, bool | int | float):
            return str(value)
        return "'" + str(value).replace("'", "''") + "'"

    arguments = ", ".join(literal(params[n]) for n in names)
    conn.exec_driver_sql(f"PREPARE bench_generic AS {numbered}".replace("%%", "%"))
    conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
    rows = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_generic({arguments})").all()
    conn.exec_driver_sql("RESET plan_cache_mode")
    conn.exec_driver_sql("DEALLOCATE bench_generic")
    return "\n".join(r[0] for r in rows)


# ---- export (child process) -------------------------------------------------------------------------


class RssSampler(threading.Thread):
    def __init__(self, interval=0.05):
        super().__init__(daemon=True)
        self.interval, self.peak, self.running = interval, 0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, proc_status_kb("VmRSS"))
            time.sleep(self.interval)

    def stop(self):
        self.running = False
        self.join()
        return max(self.peak, proc_status_kb("VmRSS"))


def child_export(fmt: str, url: str, out: str) -> dict:
    import sqlalchemy as sa

    from tracker import create_app
    from tracker.access.policy import Role
    from tracker.auth.models import User
    from tracker.excel.services import stream_csv, write_xlsx
    from tracker.extensions import db
    from tracker.ledger import queries

    app = create_app(_config(url))
    with app.app_context():
        inspector = db.session.scalar(sa.select(User).where(User.role == Role.INSPECTOR).order_by(User.id))
        counter = {"rows": 0}

        def counted(rows):
            for row in rows:
                counter["rows"] += 1
                yield row

        lifetime_hwm = proc_status_kb("VmHWM")  # start-up (create_app) has a transient peak of its own
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
            hwm_reset = True
        except OSError:
            hwm_reset = False
        rss_before = proc_status_kb("VmRSS")
        sampler = RssSampler()
        sampler.start()
        started = time.perf_counter()
        rows = counted(queries.export_rows(inspector, queries.LedgerFilter()))
        if fmt == "xlsx":
            written = write_xlsx(  # as the page calls it: title rows, wrapping, print set-up
                Path(out),
                queries.EXPORT_HEADERS,
                rows,
                sheet_name=queries.EXPORT_TITLE,
                widths=queries.EXPORT_WIDTHS,
                title_rows=queries.export_title_rows(inspector, queries.LedgerFilter()),
                wrapped=queries.EXPORT_WRAPPED,
                for_print=True,
            )
            size = Path(out).stat().st_size
        else:
            size = 0
            with open(out, "w", encoding="utf-8") as fh:
                for chunk in stream_csv(queries.EXPORT_HEADERS, rows):
                    fh.write(chunk)
                    size += len(chunk.encode("utf-8"))
            written = counter["rows"]
        seconds = time.perf_counter() - started
        sampled_peak = sampler.stop()
        db.session.remove()
    return {
        "fmt": fmt,
        "rows": counter["rows"],
        "written": written,
        "seconds": seconds,
        "bytes": size,
        "rss_before_mb": rss_before / 1024,
        "vmhwm_mb": proc_status_kb("VmHWM") / 1024,
        "vmhwm_reset": hwm_reset,
        "startup_hwm_mb": lifetime_hwm / 1024,
        "sampled_peak_mb": sampled_peak / 1024,
        "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_export(url: str, fmt: str) -> dict:
    out = "/dev/null" if fmt == "csv" else f"/tmp/bench_ledger_export_{os.getpid()}.xlsx"
    command = [
        sys.executable,
        "-m",
        "tests.bench.bench_ledger",
        "--child-export",
        fmt,
        "--child-url",
        url,
        "--child-out",
        out,
    ]
    # Through /bin/sh (which forks the child rather than exec'ing it): a child forked straight from
    # this process would report this process's RSS high-water mark as its ru_maxrss.
    proc = subprocess.run(
        ["/bin/sh", "-c", '"$@"; exit $?', "sh", *command],
        cwd=str(Path(__file__).resolve().parents[2]),
        capture_output=True,
        text=True,
    )
    if fmt == "xlsx":
        Path(out).unlink(missing_ok=True)
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    raise SystemExit(f"export child ({fmt}) failed with {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")


# ---- report -----------------------------------------------------------------------------------------


def print_table(rows: list[tuple]) -> None:
    headers = ("db", "measurement", "median", "p90 / min", "target", "result")
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    log(line)
    log("-" * len(line))
    for row in rows:
        log("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def run_database(target: dict, args) -> tuple[list[tuple], list]:
    import sqlalchemy as sa

    kind = target["kind"]
    log(f"\n===== {kind}: {target['label']} =====")
    prepared = prepare_database(target, args.problems)
    app = prepared["app"]
    rows = []
    if prepared.get("generate_seconds") is not None:
        total = prepared["seed_seconds"] + prepared["generate_seconds"]
        gen = (
            f"{prepared['generate_seconds']:.1f} s (+ seed {prepared['seed_seconds']:.1f} s, "
            f"ANALYZE {prepared['analyze_seconds']:.1f} s)"
        )
        rows.append(
            (
                kind,
                f"generation {prepared['problems']:,} problems + {prepared['intake_records']:,} records",
                f"{total:.1f} s",
                "",
                "",
                "info" + (" (earlier run)" if prepared["reused"] else ""),
            )
        )
        log(f"[{kind}] generation: {gen}; database size {prepared['size_mb']:.0f} MB")
    else:
        log(f"[{kind}] database size {prepared['size_mb']:.0f} MB")

    from tracker.auth.models import User
    from tracker.extensions import db
    from tracker.org.models import Unit

    with app.app_context():
        inspector_id = db.session.scalar(sa.select(User.id).where(User.username == prepared["username"]))
        unit = db.session.scalar(sa.select(Unit).where(Unit.code == args.unit))
        if unit is None:
            raise SystemExit(f"no unit with code {args.unit}")
        unit_id = unit.id
        db.session.remove()

    plans = {}
    for key, label, query, typical in scenarios(unit_id, args.unit):
        plans[key] = (label, query, typical, plan_pages(app, inspector_id, query, args.page, 50))

    load = os.getloadavg()
    log(
        f"[{kind}] list page through the test client ({args.warmup} warm-ups, {args.reps} timed requests each;"
        f" load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}):"
    )
    http = measure_http(app, prepared, plans, args.reps, args.warmup, 50)
    after = os.getloadavg()
    rows.append(
        (
            kind,
            "load average (1 min) before / after the list measurements",
            f"{load[0]:.2f} / {after[0]:.2f}",
            "",
            "",
            f"{os.cpu_count()} CPUs",
        )
    )
    log(f"[{kind}] raw SQL of the same queries ...")
    sql, plans_text = measure_sql(app, kind, inspector_id, plans, args.reps, args.warmup, 50)
    if args.profile:
        from urllib.parse import urlencode

        typical_args, typical_pages = plans["typical"][1], plans["typical"][3]
        profile_request(app, prepared, "/ledger/?" + urlencode(typical_args))
        if len(typical_pages) > 1:
            profile_request(
                app, prepared, "/ledger/?" + urlencode({**typical_args, "cursor": typical_pages[1]["cursor"]})
            )

    target_ms = PAGE_TARGET_MS[kind]
    for result in http:
        page = result.get("page")
        timing = sql.get((result["key"], page))
        if result.get("counts"):
            extra = f" [counts() {timing['ledger_page']['median']:.1f} ms]" if timing else ""
            rows.append(
                (
                    kind,
                    result["what"] + extra,
                    f"{result['median']:.1f} ms",
                    f"{result['p90']:.1f} / {result['min']:.1f} ms",
                    "none (info)",
                    "info",
                )
            )
            continue
        ok = result["median"] <= target_ms
        target_text = f"<= {target_ms:.0f} ms" + ("" if result["typical"] else " (ref.)")
        rows.append(
            (
                kind,
                result["what"],
                f"{result['median']:.1f} ms",
                f"{result['p90']:.1f} / {result['min']:.1f} ms",
                target_text,
                "PASS" if ok else "FAIL",
            )
        )
        if timing:
            rows.append(
                (
                    kind,
                    "  raw SQL: ledger_page() / SELECT as bound by the app / SELECT with literal values",
                    f"{timing['ledger_page']['median']:.1f} / {timing['raw']['median']:.1f} / "
                    f"{timing['literal']['median']:.1f} ms",
                    f"{timing['ledger_page']['p90']:.1f} / {timing['raw']['p90']:.1f} / "
                    f"{timing['literal']['p90']:.1f} ms",
                    "",
                    "",
                )
            )
        inside = result["inside"]
        rows.append(
            (
                kind,
                f"  inside the request: {inside['queries']} SQL statements, execute time",
                f"{inside['sql_ms']:.1f} ms",
                "",
                "",
                "",
            )
        )

    if not args.skip_export:
        for fmt in ("xlsx", "csv"):
            log(f"[{kind}] export of the whole ledger to {fmt} in a child process ...")
            result = run_export(target["url"], fmt)
            export_peak = max(result["vmhwm_mb"], result["sampled_peak_mb"])
            lifetime_peak = max(export_peak, result["startup_hwm_mb"], result["ru_maxrss_mb"])
            log(
                f"    {result['rows']:,} rows in {result['seconds']:.1f} s ({result['rows'] / result['seconds']:,.0f}"
                f" rows/s), {result['bytes'] / 1e6:.0f} MB written; RSS before the export "
                f"{result['rss_before_mb']:.0f} MB, peak during the export {export_peak:.0f} MB "
                f"(VmHWM after reset {result['vmhwm_mb']:.0f}, sampled {result['sampled_peak_mb']:.0f}), "
                f"start-up peak {result['startup_hwm_mb']:.0f} MB, ru_maxrss {result['ru_maxrss_mb']:.0f} MB"
            )
            rows.append(
                (
                    kind,
                    f"export {fmt}: {result['rows']:,} rows, wall time",
                    f"{result['seconds']:.1f} s",
                    "",
                    "none (info)",
                    "info",
                )
            )
            rows.append(
                (
                    kind,
                    f"export {fmt}: peak RSS of the process (during export {export_peak:.0f} MB, "
                    f"+{export_peak - result['rss_before_mb']:.0f} MB over {result['rss_before_mb']:.0f} MB before)",
                    f"{lifetime_peak:.0f} MB",
                    "",
                    f"< {EXPORT_TARGET_MB:.0f} MB",
                    "PASS" if lifetime_peak < EXPORT_TARGET_MB else "FAIL",
                )
            )

    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if kind == "postgresql":
        if args.drop:
            admin = sa.create_engine(PG_SERVER + "postgres", isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target["pg_name"]}" WITH (FORCE)'))
            admin.dispose()
            target["sidecar"].unlink(missing_ok=True)
            log(f"[{kind}] dropped {target['pg_name']}")
        else:
            log(
                f"[{kind}] kept database {target['pg_name']}; reuse with --reuse {target['pg_name']}; drop with:\n"
                f"    psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE \"{target['pg_name']}\" WITH (FORCE)' "
                f"&& rm -f {target['sidecar']}"
            )
    else:
        if args.drop:
            for suffix in ("", "-wal", "-shm", "-journal", ".json"):
                Path(str(target["path"]) + suffix).unlink(missing_ok=True)
            log(f"[{kind}] deleted {target['path']}")
        else:
            log(
                f"[{kind}] kept {target['path']}; reuse with --reuse {target['path']}; "
                f"delete with: rm -f {target['path']} {target['sidecar']}"
            )
    return rows, plans_text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--reuse",
        action="append",
        metavar="PATH_OR_DBNAME",
        help="use this database (SQLite path or PostgreSQL name; 'auto' = the default names)",
    )
    parser.add_argument("--drop", action="store_true", help="delete the databases afterwards")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--page", type=int, default=2000, help="the deep page to measure besides page 1")
    parser.add_argument("--unit", default="WS", help="code of the top-level unit of the typical filter")
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the typical list page requests")
    parser.add_argument("--no-plans", action="store_true", help="do not print the query plans")
    parser.add_argument("--child-export", choices=["xlsx", "csv"], help=argparse.SUPPRESS)
    parser.add_argument("--child-url", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child_export:
        result = child_export(args.child_export, args.child_url, args.child_out)
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return 0

    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    rows, all_plans = [], []
    for target in resolve_targets(args):
        db_rows, plans_text = run_database(target, args)
        rows += db_rows
        all_plans.append((target["kind"], plans_text))

    if not args.no_plans:
        for kind, plans_text in all_plans:
            for title, sql, plan in plans_text:
                log(f"\n---- {kind} plan: {title}\n{sql}\n--\n{plan}")
    log("\n==== ledger benchmark results ====")
    log("Server time = perf_counter around the Flask test client's GET (routing, login session, queries,")
    log("template rendering), logged in as the inspector; 'ref.' rows are not the issue's typical filter but")
    log("are held to the same target for reference. The counts bar is a separate htmx request.\n")
    print_table(rows)
    failed = [r for r in rows if r[-1] == "FAIL"]
    log(f"\n{len(failed)} FAIL" if failed else "\nall PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

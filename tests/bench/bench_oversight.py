"""Oversight at scale benchmark (issue 10; not a pytest test: pytest only collects test_*.py).

Product targets, on 1,000,000 problems / 3,000,000 intake records: drawing a random 5 % batch
(双随机, sample_percent=5) <= 2 s; the follow-up workbench (GET /followups) <= 100 ms; the public
lookup (POST /api/v1/public/track) <= 20 ms server time.

    .venv/bin/python -m tests.bench.bench_oversight [--problems N] [--db postgresql|sqlite|both] [--reuse]
                                                    [--runs 5] [--requests 30] [--lookups 200] [--only ...]

Databases are kept for reuse: SQLite in /tmp/bench_oversight_<N>.db, PostgreSQL in the database
tracker_bench_oversight_<N> on postgresql+psycopg://postgres@127.0.0.1:5432/. Without --reuse they are
regenerated (dropped first); with --reuse an existing one that holds problems is used as it is. The
demo passwords and the generation figures are kept in a sidecar JSON file (<db>.json for SQLite,
/tmp/bench_oversight_pg_<DBNAME>.json for PostgreSQL).

Generation: schema by db.create_all() + the ledger benchmark's sync_schema (the models, which the
migrations follow), tracker.demo.services.seed(7) (units, users), 8 inspectors in all for the 双随机
pool (tests.bench.bigdata.ensure_inspectors), then tests.bench.bigdata.fill(N): set-based INSERT ...
SELECT, N problems, 3N intake records and the follow-up calls already made (see bigdata's docstring
for the shares), then VACUUM (ANALYZE) on PostgreSQL, ANALYZE on SQLite. The load rate is printed.

What is measured, per database:
  1. tracker.oversight.services.create_batch (method random, 双随机 over the 8 inspectors, 2 per
     problem, sample_percent 5, a fixed seed) over the closed problems and over everything, inside a
     request context with the demo inspector as actor, timed up to and including the flush; rolled
     back after each run so that every run does the same work. One warm-up, then --runs runs.
     Beside it: the statements run, and the population query (the slowest SELECT of a run) alone,
     re-executed raw with its parameters (exec_driver_sql, rows fetched).
  2. GET /followups (page 1, the due tab) through the Flask test client logged in as the demo
     inspector by the real /login form: --requests requests after 3 warm-ups; the number of SQL
     statements per request (before_cursor_execute), the SQL time inside a request, the service
     followups.workbench() alone, and the main query (the slowest statement) raw.
  3. POST /api/v1/public/track with real (code, PIN) pairs of records spread over the table (PINs
     decrypted from the database), --lookups requests; the rate limit is off for the bench
     (RATELIMIT_ENABLED = False). Beside it: a wrong PIN (the same 404 answer), and the main query raw.
Median and p95 (nearest rank) of each. The plans of the main queries (EXPLAIN (ANALYZE, BUFFERS) on
PostgreSQL, EXPLAIN QUERY PLAN on SQLite) are printed and written to the report.

The results of every run are kept in /tmp/bench_oversight_results.json (one entry per database and
size) and the report /work/helpers/bench_oversight.md is rewritten from all of them, with the machine.
"""

import argparse
import json
import math
import os
import platform
import re
import statistics
import subprocess
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from tests.bench import bigdata

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/"
TARGET_MS = {"batch": 2000.0, "workbench": 100.0, "lookup": 20.0}
RESULTS = Path("/tmp/bench_oversight_results.json")
REPORT = Path("/work/helpers/bench_oversight.md")
SEED = 20261202
POOL_SIZE = 8


def log(message=""):
    print(message, flush=True)


def summary(samples_ms: list[float]) -> dict:
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return {"median": statistics.median(ordered), "p95": p95, "min": ordered[0], "n": len(ordered)}


def _config(url: str):
    from config import TestConfig

    class BenchConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        STORAGE_DIR = "/tmp/bench_oversight_storage"
        RATELIMIT_ENABLED = False
        PUBLIC_LOOKUP_LIMIT = "1000000 per minute"

    return BenchConfig


# ---- databases ------------------------------------------------------------------------------------


def targets(args) -> list[dict]:
    out = []
    for kind in ["postgresql", "sqlite"] if args.db == "both" else [args.db]:
        if kind == "sqlite":
            path = Path(f"/tmp/bench_oversight_{args.problems}.db")
            out.append(
                {
                    "kind": kind,
                    "url": f"sqlite:///{path}",
                    "label": str(path),
                    "path": path,
                    "sidecar": Path(str(path) + ".json"),
                    "reuse": args.reuse,
                }
            )
        else:
            name = f"tracker_bench_oversight_{args.problems}"
            out.append(
                {
                    "kind": kind,
                    "url": PG_SERVER + name,
                    "label": name,
                    "pg_name": name,
                    "sidecar": Path(f"/tmp/bench_oversight_pg_{name}.json"),
                    "reuse": args.reuse,
                }
            )
    return out


def prepare(target: dict, problems: int):
    """Create (or reuse) and fill the database; returns (app, info)."""
    import sqlalchemy as sa

    kind = target["kind"]
    if kind == "sqlite":
        path = target["path"]
        if path.exists() and not target["reuse"]:
            for suffix in ("", "-wal", "-shm", "-journal", ".json"):
                Path(str(path) + suffix).unlink(missing_ok=True)
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

    from tests.bench.bench_ledger import sync_schema
    from tracker import create_app
    from tracker.access.policy import Role
    from tracker.demo import services as demo
    from tracker.extensions import db
    from tracker.ledger.models import Problem

    app = create_app(_config(target["url"]))
    with app.app_context():
        db.create_all()
        sync_schema(kind)
        have = db.session.scalar(sa.select(sa.func.count()).select_from(Problem)) or 0
        if have and target["sidecar"].exists():
            info = json.loads(target["sidecar"].read_text())
            info["reused"] = True
            log(f"[{kind}] reusing {target['label']}: {have:,} problems")
        elif have:
            raise SystemExit(
                f"{target['label']} holds {have:,} problems but no sidecar {target['sidecar']}: run without --reuse"
            )
        else:
            log(f"[{kind}] generating {problems:,} problems x 3 intake records into {target['label']} ...")
            started = time.perf_counter()
            logins = demo.seed(7)
            db.session.commit()
            inspector, password = next((u, p) for u, p in logins if u.role == Role.INSPECTOR)
            username = inspector.username
            bigdata.ensure_inspectors(POOL_SIZE)
            seed_seconds = time.perf_counter() - started
            figures = bigdata.fill(problems)
            analyze_seconds = bigdata.analyze()
            log(
                f"[{kind}] demo seed {seed_seconds:.1f} s; fill {figures['problems']:,} problems, "
                f"{figures['intake_records']:,} records, {figures['followups']:,} follow-up calls in "
                f"{figures['seconds']:.1f} s = {figures['rate']:,.0f} problems/s; "
                f"{'VACUUM (ANALYZE)' if kind == 'postgresql' else 'ANALYZE'} {analyze_seconds:.1f} s"
            )
            info = {
                "reused": False,
                "username": username,
                "password": password,
                "load": {**figures, "seed_seconds": seed_seconds, "analyze_seconds": analyze_seconds},
            }
            target["sidecar"].write_text(json.dumps(info))
        info["problems"] = have or info["load"]["problems"]
        info["shape"] = bigdata.describe(kind)
        if kind == "postgresql":
            info["size_mb"] = db.session.scalar(sa.text("SELECT pg_database_size(current_database())")) / 1e6
        db.session.remove()
    if kind == "sqlite":
        info["size_mb"] = target["path"].stat().st_size / 1e6
    return app, info


# ---- statements -----------------------------------------------------------------------------------


class Statements:
    """Every statement executed on ENGINE while active: (sql, parameters, ms, executemany)."""

    def __init__(self, engine):
        self.engine = engine
        self.rows = []
        self._start = []

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self._start.append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        self.rows.append((statement, parameters, (time.perf_counter() - self._start.pop()) * 1000, executemany))

    def __enter__(self):
        from sqlalchemy import event

        self.rows = []
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc):
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    @property
    def count(self):
        return len(self.rows)

    @property
    def ms(self):
        return sum(r[2] for r in self.rows)

    def slowest_select(self, contains=None):
        selects = [r for r in self.rows if r[0].lstrip().upper().startswith(("SELECT", "WITH")) and not r[3]]
        if contains:
            selects = [r for r in selects if contains in r[0]] or selects
        return max(selects, key=lambda r: r[2]) if selects else None


def raw_time(app, statement, parameters, reps: int) -> dict:
    """STATEMENT re-run with its PARAMETERS on a plain connection, rows fetched: median/p95 ms, rows."""
    from tracker.extensions import db

    samples, rows = [], 0
    with app.app_context(), db.engine.connect() as conn:
        for _ in range(reps + 1):
            started = time.perf_counter()
            rows = len(conn.exec_driver_sql(statement, parameters).fetchall())
            samples.append((time.perf_counter() - started) * 1000)
        conn.rollback()
    return {**summary(samples[1:]), "rows": rows}


def explain(app, statement, parameters) -> str:
    from tracker.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        if db.engine.dialect.name == "postgresql":
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).fetchall()
            text = "\n".join(r[0] for r in plan)
        else:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
            text = "\n".join(f"{r[0]:>3} {r[1]:>3} {r[3]}" for r in plan)
        conn.rollback()
    return text


def short_sql(statement: str, limit: int = 1500) -> str:
    one = re.sub(r"\s+", " ", statement).strip()
    return one if len(one) <= limit else one[:limit] + " …"


# ---- 1. the random batch --------------------------------------------------------------------------


def bench_batch(app, info, scope: str, runs: int) -> dict:
    import sqlalchemy as sa

    from tracker.access.policy import Role
    from tracker.auth.models import User
    from tracker.extensions import db
    from tracker.oversight import services

    row = {
        "measure": f"random 5 % batch (双随机) over {'the closed problems' if scope == 'closed' else 'everything'}",
        "key": f"batch_{scope}",
        "target": TARGET_MS["batch"],
    }
    with app.test_request_context():
        actor = db.session.scalar(sa.select(User).where(User.username == info["username"]))
        pool = db.session.scalars(
            sa.select(User.username).where(User.role == Role.INSPECTOR, User.is_active.is_(True)).order_by(User.id)
        ).all()
        data = {
            "method": "random",
            "filter": {"status": "closed"} if scope == "closed" else {},
            "sample_percent": 5,
            "seed": SEED,
            "inspectors": list(pool),
            "per_problem": 2,
            "double_random": True,
            "title": "基准测试抽查",
        }
        samples, recorder = [], Statements(db.engine)
        for run in range(runs + 1):
            db.session.rollback()
            db.session.expunge_all()
            actor = db.session.merge(actor)
            with recorder:
                started = time.perf_counter()
                batch = services.create_batch(dict(data), actor=actor)
                db.session.flush()
                elapsed = (time.perf_counter() - started) * 1000
            row.update({"population": batch.population, "items": batch.item_count, "seed": batch.seed})
            db.session.rollback()
            if run:
                samples.append(elapsed)
        row.update(summary(samples))
        row["statements"] = recorder.count
        row["sql_ms"] = recorder.ms
        row["sql_list"] = [(short_sql(s, 300), round(ms, 2)) for s, _p, ms, _m in recorder.rows]
        # the population query: the slowest SELECT on problems that is not a lookup of drawn ids
        population = [
            r for r in recorder.rows if "FROM problems" in r[0] and "problems.id IN (" not in r[0] and not r[3]
        ]
        slow = max(population, key=lambda r: r[2]) if population else recorder.slowest_select("problems")
        db.session.rollback()
    if slow:
        row["main_sql"] = short_sql(slow[0])
        row["raw"] = raw_time(app, slow[0], slow[1], 5)
        row["plan"] = explain(app, slow[0], slow[1])
    return row


# ---- 2. the follow-up workbench -------------------------------------------------------------------


def bench_workbench(app, info, reps: int) -> dict:
    from tests.bench.bench_ledger import login
    from tracker.auth.models import User
    from tracker.extensions import db
    from tracker.oversight import followups

    row = {
        "measure": "follow-up workbench GET /followups, page 1",
        "key": "workbench",
        "target": TARGET_MS["workbench"],
    }
    client = app.test_client()
    login(client, info["username"], info["password"])
    url = "/followups"
    for _ in range(3):
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
    body = response.get_data(as_text=True)
    row["rows_on_page"] = body.count("/followups/") // 2 or None
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        response = client.get(url)
        response.get_data()
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
    row.update(summary(samples))
    with app.app_context():
        engine = db.engine
    recorder = Statements(engine)
    with recorder:
        client.get(url).get_data()
    row["statements"] = recorder.count
    row["sql_ms"] = recorder.ms
    row["sql_list"] = [(short_sql(s, 300), round(ms, 2)) for s, _p, ms, _m in recorder.rows]
    slow = recorder.slowest_select()
    # the service alone (query + counts, no template)
    with app.test_request_context():
        user = db.session.scalar(db.select(User).where(User.username == info["username"]))
        times = []
        for _ in range(reps):
            started = time.perf_counter()
            items, counts = followups.workbench(user, page=1)
            times.append((time.perf_counter() - started) * 1000)
            db.session.expire_all()
        row["service"] = summary(times)
        row["counts"] = {k: v for k, v in counts.items()}
        row["due_items"] = len(items)
        db.session.remove()
    if slow:
        row["main_sql"] = short_sql(slow[0])
        row["raw"] = raw_time(app, slow[0], slow[1], 10)
        row["plan"] = explain(app, slow[0], slow[1])
    return row


# ---- 3. the public lookup -------------------------------------------------------------------------


def bench_lookup(app, info, reps: int) -> list[dict]:
    from tracker.extensions import db

    with app.app_context():
        pairs = bigdata.sample_credentials(reps, seed=3)
        db.session.remove()
    client = app.test_client()
    url = "/api/v1/public/track"
    for code, pin in pairs[:5]:
        response = client.post(url, json={"code": code, "pin": pin})
        if response.status_code != 200:
            raise RuntimeError(
                f"POST {url} {code} answered {response.status_code}: {response.get_data(as_text=True)[:300]}"
            )
    example = response.get_json()
    rows = []
    for label, key, wrong in (
        ("public lookup POST /api/v1/public/track", "lookup", False),
        ("public lookup, wrong PIN (same 404)", "lookup_wrong", True),
    ):
        samples = []
        count = reps if not wrong else max(20, reps // 4)
        for n in range(count):
            code, pin = pairs[n % len(pairs)]
            if wrong:
                pin = f"{(int(pin) + 1) % 10**6:06d}"
            started = time.perf_counter()
            response = client.post(url, json={"code": code, "pin": pin})
            response.get_data()
            samples.append((time.perf_counter() - started) * 1000)
            expected = 404 if wrong else 200
            if response.status_code != expected:
                raise RuntimeError(f"POST {url} answered {response.status_code}, expected {expected}")
        row = {"measure": label, "key": key, "target": TARGET_MS["lookup"], **summary(samples)}
        with app.app_context():
            engine = db.engine
        recorder = Statements(engine)
        code, pin = pairs[0]
        with recorder:
            client.post(url, json={"code": code, "pin": pin if not wrong else "000000"}).get_data()
        row["statements"] = recorder.count
        row["sql_ms"] = recorder.ms
        row["sql_list"] = [(short_sql(s, 300), round(ms, 2)) for s, _p, ms, _m in recorder.rows]
        slow = recorder.slowest_select()
        if slow and not wrong:
            row["main_sql"] = short_sql(slow[0])
            row["raw"] = raw_time(app, slow[0], slow[1], 50)
            row["plan"] = explain(app, slow[0], slow[1])
            row["answer_keys"] = sorted(example)
        rows.append(row)
    return rows


# ---- report ---------------------------------------------------------------------------------------


def machine() -> dict:
    mem = ""
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    try:
        pg = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "SHOW server_version"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pg = "?"
    import sqlite3

    return {
        "nproc": os.cpu_count(),
        "memory": mem,
        "postgresql": pg,
        "sqlite": sqlite3.sqlite_version,
        "python": platform.python_version(),
        "load_average": os.getloadavg()[0],
    }


def verdict(row) -> str:
    if "error" in row:
        return "failed"
    return "yes" if row["median"] <= row["target"] else f"**no** (×{row['median'] / row['target']:.1f})"


def table(entries: list[dict]) -> str:
    lines = [
        "| Measure | DB | problems | median ms | p95 ms | target ms | met | SQL statements | SQL ms in it | main query raw ms (median) |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
    ]
    for entry in entries:
        for row in entry["rows"]:
            if "error" in row:
                lines.append(
                    f"| {row['measure']} | {entry['kind']} | {entry['problems']:,} | – | – | {row['target']:.0f} | failed: {row['error'][:120]} | | | |"
                )
                continue
            raw = f"{row['raw']['median']:.1f} ({row['raw']['rows']:,} rows)" if row.get("raw") else "–"
            lines.append(
                f"| {row['measure']} | {entry['kind']} | {entry['problems']:,} | {row['median']:.1f} | {row['p95']:.1f} | "
                f"{row['target']:.0f} | {verdict(row)} | {row.get('statements', '–')} | {row.get('sql_ms', 0):.1f} | {raw} |"
            )
    return "\n".join(lines)


def write_report(all_entries: dict) -> str:
    entries = sorted(all_entries.values(), key=lambda e: (e["kind"] != "postgresql", -e["problems"]))
    m = entries[0]["machine"] if entries else machine()
    out = [
        "# Issue 10 benchmark: oversight at scale",
        "",
        f"Machine: {m['nproc']} CPUs (nproc), {m['memory']} memory, PostgreSQL {m['postgresql']}, SQLite {m['sqlite']}, "
        f"Python {m['python']}. Written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by "
        "`.venv/bin/python -m tests.bench.bench_oversight` (tests/bench/bench_oversight.py; data from tests/bench/bigdata.py).",
        "The machine was shared with other sessions running tests: load average at the start of each run is given below.",
        "",
        table(entries),
        "",
        "Times are the server time through the Flask test client (workbench, lookup) or the service call up to and",
        "including the flush (batch), median and p95 over the runs; 'SQL statements' and 'SQL ms in it' are counted with",
        "SQLAlchemy cursor events during one request/run; the main query is the slowest SELECT of that request, re-run",
        "raw with its parameters (exec_driver_sql, rows fetched).",
        "",
    ]
    for e in entries:
        load = e.get("load")
        out.append(
            f"## {e['kind']}, {e['problems']:,} problems — run {e['when']} (load average {e['machine']['load_average']:.1f})"
        )
        out.append("")
        if load:
            steps = ", ".join(f"{k} {v:.1f} s" for k, v in load["steps"].items() if k != "foreign key triggers off")
            out.append(
                f"Load: {load['problems']:,} problems + {load['intake_records']:,} intake records + {load['followups']:,} "
                f"follow-up calls in {load['seconds']:.1f} s = **{load['rate']:,.0f} problems/s** ({steps}); "
                f"then {'VACUUM (ANALYZE)' if e['kind'] == 'postgresql' else 'ANALYZE'} {load['analyze_seconds']:.1f} s. "
                f"Database size {e.get('size_mb', 0):,.0f} MB."
            )
        else:
            out.append(f"Reused database ({e.get('size_mb', 0):,.0f} MB).")
        out.append(f"Shape: status {e['shape']['status']}; follow-up states {e['shape']['followup_state']}.")
        out.append("")
        for row in e["rows"]:
            out.append(f"### {row['measure']}")
            out.append("")
            if "error" in row:
                out.append("Failed:\n\n```\n" + row["error"] + "\n```\n")
                continue
            extra = []
            if "population" in row:
                extra.append(f"population {row['population']:,}, items drawn {row['items']:,}, seed {row['seed']}")
            if "service" in row:
                extra.append(
                    f"followups.workbench() alone: median {row['service']['median']:.1f} ms, p95 {row['service']['p95']:.1f} ms; counts {row['counts']}; {row['due_items']} rows on page 1"
                )
            if "answer_keys" in row:
                extra.append(f"answer keys {row['answer_keys']}")
            for x in extra:
                out.append(f"- {x}")
            if row.get("raw"):
                out.append(
                    f"- main query raw: median {row['raw']['median']:.2f} ms, p95 {row['raw']['p95']:.2f} ms, {row['raw']['rows']:,} rows"
                )
            if row.get("sql_list"):
                out.append("- statements of one request (ms):")
                for s, ms in row["sql_list"]:
                    out.append(f"  - {ms} — `{s}`")
            if row.get("main_sql"):
                out.append("")
                out.append("Main query:\n\n```sql\n" + row["main_sql"] + "\n```\n")
                out.append("Plan:\n\n```\n" + row.get("plan", "") + "\n```")
            out.append("")
    text = "\n".join(out) + "\n"
    REPORT.write_text(text)
    return text


# ---- main -----------------------------------------------------------------------------------------


def run_one(target, args) -> dict:
    app, info = prepare(target, args.problems)
    entry = {
        "kind": target["kind"],
        "problems": info["problems"],
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load": info.get("load") if not info.get("reused") else None,
        "shape": info["shape"],
        "size_mb": info.get("size_mb"),
        "rows": [],
    }
    if info.get("reused") and info.get("load"):
        entry["load_earlier"] = info["load"]
        entry["load"] = info["load"]
    jobs = []
    if "batch" in args.only:
        jobs += [
            ("batch_closed", lambda: [bench_batch(app, info, "closed", args.runs)]),
            ("batch_all", lambda: [bench_batch(app, info, "all", args.runs)]),
        ]
    if "workbench" in args.only:
        jobs.append(("workbench", lambda: [bench_workbench(app, info, args.requests)]))
    if "lookup" in args.only:
        jobs.append(("lookup", lambda: bench_lookup(app, info, args.lookups)))
    labels = {
        "batch_closed": ("random 5 % batch (双随机) over the closed problems", TARGET_MS["batch"]),
        "batch_all": ("random 5 % batch (双随机) over everything", TARGET_MS["batch"]),
        "workbench": ("follow-up workbench GET /followups, page 1", TARGET_MS["workbench"]),
        "lookup": ("public lookup POST /api/v1/public/track", TARGET_MS["lookup"]),
    }
    for key, job in jobs:
        log(f"[{target['kind']}] measuring {key} ...")
        try:
            for row in job():
                entry["rows"].append(row)
                log(
                    f"[{target['kind']}]   {row['measure']}: median {row['median']:.1f} ms, p95 {row['p95']:.1f} ms"
                    + (f"; raw main query {row['raw']['median']:.1f} ms" if row.get("raw") else "")
                )
        except Exception as failure:  # noqa: BLE001 - a missing or failing function is reported, not fatal
            text = "".join(traceback.format_exception_only(type(failure), failure)).strip()
            log(f"[{target['kind']}]   {key} FAILED: {text}")
            log(traceback.format_exc())
            entry["rows"].append({"measure": labels[key][0], "key": key, "target": labels[key][1], "error": text})
    return entry


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["postgresql", "sqlite", "both"], default="postgresql")
    parser.add_argument("--reuse", action="store_true", help="use an existing filled database as it is")
    parser.add_argument("--runs", type=int, default=5, help="create_batch runs (after one warm-up)")
    parser.add_argument("--requests", type=int, default=30, help="workbench requests (after 3 warm-ups)")
    parser.add_argument("--lookups", type=int, default=200, help="public lookups")
    parser.add_argument(
        "--only", nargs="+", default=["batch", "workbench", "lookup"], choices=["batch", "workbench", "lookup"]
    )
    parser.add_argument("--no-report", action="store_true", help="do not write the results file and the report")
    args = parser.parse_args(argv)

    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for target in targets(args):
        entry = run_one(target, args)
        if not args.no_report:
            stored[f"{entry['kind']}:{entry['problems']}"] = entry
            RESULTS.write_text(json.dumps(stored, ensure_ascii=False, indent=1, default=str))
        log("")
        log(table([entry]))
        log("")
        for row in entry["rows"]:
            if row.get("plan"):
                log(f"--- plan of the main query: {row['measure']} ({entry['kind']})")
                log(row["main_sql"])
                log(row["plan"])
                log("")
    if not args.no_report:
        write_report(stored)
        log(f"report written to {REPORT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`make bench`: every performance target of the product measured on one realistic ledger per database,
side by side on SQLite and PostgreSQL, written to docs/performance.md (a script, not a pytest test).

    .venv/bin/python -m tests.bench.suite [--problems 1000000] [--db both|sqlite|postgresql] [--reps 20]
                                          [--fresh] [--skip jobs,load,...] [--out docs/performance.md]

Data: one database per backend with N problems, 3N intake records and their follow-ups, made by the
generator of `flask demo seed --problems N` (tracker.demo.generator, texts from
../shared/data/complaints_zh.csv when present) on the demo organisation (tracker.demo.services.seed)
with 8 inspectors, then VACUUM (ANALYZE) / ANALYZE. Kept for the next run: SQLite in
/tmp/bench_suite_<N>.db, PostgreSQL in the database tracker_bench_suite_<N>; --fresh makes them again
(the users' names and the generation figures are kept in a sidecar JSON in /tmp). The `demo seed`
rate of the table is the generator timed on an empty database of --seed-size problems.

Pages: through the Flask test client (server time, no network), logged in by the real /login form
as the demo inspector, leader or unit user. Per page: median and p95 over --reps requests after
warm-ups; the SQL statements of one request; its main query (the slowest SELECT of the request)
re-executed alone with its parameters on the driver (exec_driver_sql, rows fetched): the floor the
page is compared with.

Jobs, each on a throwaway database of its own (they change data): the first deadline scan with
10,000 due problems (tests.bench.bench_scan, ledger of --scan-size problems); the import of a
100,000-row XLSX and CSV (tests.bench.bench_import, in a child process for its memory figures); a
bulk action on 5,000 intake records and the clusters of an import (tests.bench.bench_bulk); the
双随机 batch, the follow-up workbench and the public lookup run on the suite's database
(tests.bench.bench_oversight). The load test (tests.bench.bench_load: locust, 50 users, 2 minutes,
gunicorn with 2 workers) runs against the PostgreSQL database.

Results are merged into /tmp/bench_suite_results.json (one entry per backend and size), so that a
run of one backend keeps the other's figures (of the same size) in the report, and a run with --skip
keeps the skipped steps' figures from the run before.
"""

import argparse
import json
import math
import re
import statistics
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/"
PASSWORD = "Bench-suite-2026"
RESULTS = Path("/tmp/bench_suite_results.json")
SELECT = re.compile(r"^\s*(SELECT|WITH)\b", re.I)


def log(message=""):
    print(message, flush=True)


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return {"median": statistics.median(ordered), "p95": p95, "n": len(ordered)}


def _config(url: str):
    from config import TestConfig

    class SuiteConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        STORAGE_DIR = "/tmp/bench_suite_storage"
        RATELIMIT_ENABLED = False  # the public lookup is timed hundreds of times from one address

    return SuiteConfig


# ---- the data -------------------------------------------------------------------------------------


def target_of(kind: str, problems: int, prefix: str = "bench_suite") -> dict:
    if kind == "sqlite":
        path = Path(f"/tmp/{prefix}_{problems}.db")
        return {"kind": kind, "url": f"sqlite:///{path}", "path": path, "label": str(path)}
    name = f"tracker_{prefix}_{problems}"
    return {"kind": kind, "url": PG_SERVER + name, "pg_name": name, "label": name}


def sidecar(target: dict) -> Path:
    return Path(f"/tmp/bench_suite_{target['kind']}_{Path(target['label']).stem}.json")


def _create_database(target: dict, fresh: bool) -> None:
    import sqlalchemy as sa

    if target["kind"] == "sqlite":
        if fresh:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(target["path"]) + suffix).unlink(missing_ok=True)
            sidecar(target).unlink(missing_ok=True)
        return
    admin = sa.create_engine(PG_SERVER + "postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        name = target["pg_name"]
        exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if exists and fresh:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            sidecar(target).unlink(missing_ok=True)
            exists = False
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def _bench_users() -> dict:
    """One user of each role with the known PASSWORD: the demo inspector and leader, and the unit user
    whose unit owns the most open problems."""
    import sqlalchemy as sa

    from tracker.access.policy import Role
    from tracker.auth import services as user_services
    from tracker.auth.models import User
    from tracker.extensions import db
    from tracker.ledger.models import OPEN_STATUSES, Problem

    def first(role):
        return db.session.scalar(sa.select(User).where(User.role == role, User.is_active.is_(True)).order_by(User.id))

    busiest = (
        sa.select(Problem.unit_id)
        .where(Problem.status.in_(OPEN_STATUSES))
        .group_by(Problem.unit_id)
        .order_by(sa.func.count().desc())
        .limit(20)
    )
    unit_user = db.session.scalar(
        sa.select(User)
        .where(User.role == Role.UNIT, User.is_active.is_(True), User.unit_id.in_(busiest))
        .order_by(User.id)
    )
    users = {"inspector": first(Role.INSPECTOR), "leader": first(Role.LEADER), "unit": unit_user}
    for user in users.values():
        user_services.reset_password(user, actor=None, password=PASSWORD)
        user.must_change_password = False
    db.session.commit()
    return {role: user.username for role, user in users.items()}


def prepare(target: dict, problems: int, fresh: bool):
    """Create or reuse the database of TARGET; returns (app, info)."""
    import sqlalchemy as sa

    from tests.bench.bench_ledger import sync_schema
    from tracker import create_app
    from tracker.demo import generator
    from tracker.demo import services as demo
    from tracker.extensions import db
    from tracker.ledger.models import Problem

    kind = target["kind"]
    _create_database(target, fresh)
    app = create_app(_config(target["url"]))
    with app.app_context():
        db.create_all()
        sync_schema(kind)
        have = db.session.scalar(sa.select(sa.func.count()).select_from(Problem)) or 0
        side = sidecar(target)
        if have and side.exists():
            info = json.loads(side.read_text())
            log(f"[{kind}] reusing {target['label']}: {have:,} problems")
        else:
            if have:
                raise SystemExit(f"{target['label']} holds {have:,} problems but no {side}: run with --fresh")
            log(f"[{kind}] generating {problems:,} problems x 3 intake records into {target['label']} ...")
            started = time.perf_counter()
            demo.seed(7)
            db.session.commit()
            generator.ensure_inspectors(8)
            seed_seconds = time.perf_counter() - started
            done = [0]

            def progress(made):
                done[0] += made
                log(f"[{kind}]   {done[0]:,} of {problems:,} problems")

            figures = generator.fill(problems, progress=progress)
            analyze_seconds = generator.analyze()
            log(f"[{kind}] {figures['problems']:,} problems in {figures['seconds']:.1f} s = {figures['rate']:,.0f}/s")
            info = {"load": {**figures, "seed_seconds": seed_seconds, "analyze_seconds": analyze_seconds}}
        info["users"] = _bench_users()
        info["username"], info["password"] = info["users"]["inspector"], PASSWORD  # for bench_oversight
        info["problems"] = have or info["load"]["problems"]
        side.write_text(json.dumps(info))
        if kind == "postgresql":
            info["size_mb"] = db.session.scalar(sa.text("SELECT pg_database_size(current_database())")) / 1e6
        db.session.remove()
    if kind == "sqlite":
        info["size_mb"] = target["path"].stat().st_size / 1e6
    return app, info


# ---- pages ----------------------------------------------------------------------------------------


class Recorder:
    """The statements an engine runs while active: (milliseconds, SQL, parameters)."""

    def __init__(self, engine):
        self.engine, self.seen, self._starts = engine, [], []

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self._starts.append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        self.seen.append(((time.perf_counter() - self._starts.pop()) * 1000, statement, parameters))

    def __enter__(self):
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc):
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)


def raw_time(engine, statement: str, parameters, reps: int) -> float:
    """Median milliseconds of STATEMENT executed alone on the driver, rows fetched."""
    samples = []
    with engine.connect() as conn:
        for _ in range(reps + 1):
            started = time.perf_counter()
            conn.exec_driver_sql(statement, parameters).fetchall()
            samples.append((time.perf_counter() - started) * 1000)
        conn.rollback()
    return statistics.median(samples[1:])


def measure_page(app, client, url: str, reps: int, warmup: int, headers=None) -> dict:
    from tracker.extensions import db

    for _ in range(warmup):
        response = client.get(url, headers=headers)
        response.get_data()
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}")
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        client.get(url, headers=headers).get_data()
        samples.append((time.perf_counter() - started) * 1000)
    with app.app_context():
        engine = db.engine
    with Recorder(engine) as recorder:
        client.get(url, headers=headers).get_data()
    selects = [entry for entry in recorder.seen if SELECT.match(entry[1])]
    row = {**summary(samples), "statements": len(recorder.seen), "sql_ms": sum(e[0] for e in recorder.seen)}
    if selects:
        _ms, statement, parameters = max(selects, key=lambda entry: entry[0])
        row["raw_ms"] = raw_time(engine, statement, parameters, max(5, min(reps, 15)))
        row["main_query"] = " ".join(statement.split())[:160]
    return row


def login(client, username: str) -> None:
    from tests.bench.bench_ledger import login as form_login

    form_login(client, username, PASSWORD)


def _places(app, info) -> dict:
    """The ids and numbers the page URLs need, read once."""
    import sqlalchemy as sa

    from tests.bench.bench_ledger import plan_pages
    from tracker.auth.models import User
    from tracker.extensions import db
    from tracker.ledger.models import ExtensionRequest, Problem
    from tracker.org.models import Unit

    with app.app_context():
        inspector = db.session.scalar(sa.select(User).where(User.username == info["users"]["inspector"]))
        unit = db.session.scalar(sa.select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id))
        # A closed problem with an approved extension: a full timeline (assignment, notes, sign-off).
        number = db.session.scalar(
            sa.select(Problem.number)
            .join(ExtensionRequest, ExtensionRequest.problem_id == Problem.id)
            .where(Problem.status == "closed")
            .order_by(Problem.id.desc())
            .limit(1)
        )
        inspector_id = inspector.id
        db.session.remove()
    deep = plan_pages(app, inspector_id, {}, 2000, 50)
    token = app.test_cli_runner().invoke(args=["tokens", "create", "bench", "--user", info["users"]["inspector"]])
    return {
        "typical": {"status": "in_progress", "unit": str(unit.id)},
        "deep_cursor": deep[-1]["cursor"],
        "deep_page": deep[-1]["page"],
        "number": number,
        "token": token.output.strip().splitlines()[-1],
    }


def pages(places: dict) -> list[tuple]:
    """(key, label, role, url, reps factor, targets). Targets: {"ms": {kind: ms}, "ratio": x, "statements": n}."""
    typical = urlencode(places["typical"])
    # Every list page and list API: the ledger's page time (issue 5), within 10× its main query, ≤ 6 statements.
    lists = {"ratio": 10, "statements": 6, "ms": {"postgresql": 30, "sqlite": 60}}
    return [
        ("ledger_p1", "台账 ledger list p1, typical filter (在办, one top unit's subtree)", "inspector",
         f"/ledger/?{typical}", 1, lists),
        ("ledger_all", "台账 ledger list p1, no filter", "inspector", "/ledger/", 1, lists),
        ("ledger_deep", f"台账 ledger list p{places['deep_page']:,}, no filter (cursor)", "inspector",
         "/ledger/?" + urlencode({"cursor": places["deep_cursor"]}), 1, lists),
        ("ledger_unit", "台账 ledger list p1 as a unit user", "unit", "/ledger/", 1, lists),
        ("counts_typical", "counts bar, typical filter", "inspector", f"/ledger/counts?{typical}", 1,
         {"ms": {"postgresql": 50, "sqlite": 50}}),
        ("counts_all", "counts bar, no filter", "inspector", "/ledger/counts", 1,
         {"ms": {"postgresql": 50, "sqlite": 50}}),
        ("problem", "problem page (closed, extended)", "inspector", f"/ledger/{places['number']}", 1,
         {"ms": {"postgresql": 8, "sqlite": 8}}),
        ("api_list", "list API GET /api/v1/problems", "token", "/api/v1/problems", 1, lists),
        ("home", "home page (work queues) as a unit user", "unit", "/", 1, {}),
        ("intake", "intake inbox", "inspector", "/intake/", 1, lists),
        ("dashboard", "dashboard (leader)", "leader", "/reports/dashboard", 0.25,
         {"ms": {"postgresql": 300, "sqlite": 1000}}),
        ("ranking", "ranking, this quarter (leader)", "leader", "/reports/ranking?period=quarter", 0.25,
         {"ms": {"postgresql": 500}}),
        ("overdue", "overdue list (leader)", "leader", "/reports/overdue", 0.25, {}),
        ("export_ledger", "export XLSX of the typical filter", "inspector", f"/ledger/export.xlsx?{typical}", 0.1, {}),
        ("export_overdue", "export XLSX of the overdue list", "leader", "/reports/overdue.xlsx", 0.1, {}),
    ]  # fmt: skip


def run_pages(app, info, reps: int, kind: str) -> list[dict]:
    places = _places(app, info)
    clients = {}
    for role in ("inspector", "leader", "unit"):
        clients[role] = app.test_client()
        login(clients[role], info["users"][role])
    clients["token"] = app.test_client()
    rows = []
    for key, label, role, url, factor, targets in pages(places):
        headers = {"Authorization": f"Bearer {places['token']}"} if role == "token" else None
        log(f"[{kind}] {label}: GET {url[:80]}")
        try:
            row = measure_page(app, clients[role], url, max(3, round(reps * factor)), 2, headers)
        except Exception as failure:  # noqa: BLE001 - reported in the table, the run goes on
            row = {"error": str(failure)[:200]}
        rows.append({"key": key, "measure": label, "url": url, "targets": targets, **row})
        log(f"[{kind}]   {_figures(rows[-1])}")
    return rows


def _figures(row: dict) -> str:
    if "error" in row:
        return f"failed: {row['error']}"
    text = f"median {row['median']:.1f} ms, p95 {row['p95']:.1f} ms, {row['statements']} statements"
    if "raw_ms" in row:
        text += f", main query raw {row['raw_ms']:.2f} ms"
    return text


# ---- jobs -----------------------------------------------------------------------------------------


def run_oversight(app, info, reps: int, kind: str) -> list[dict]:
    from tests.bench import bench_oversight

    rows = []
    jobs = [
        ("batch", lambda: [bench_oversight.bench_batch(app, info, "closed", 3)], {"ms": 2000}),
        ("workbench", lambda: [bench_oversight.bench_workbench(app, info, reps)], {"ms": 100}),
        ("lookup", lambda: bench_oversight.bench_lookup(app, info, reps * 5)[:1], {"ms": 20}),
    ]
    for key, job, target in jobs:
        log(f"[{kind}] oversight: {key}")
        try:
            for found in job():
                row = {
                    "key": key,
                    "measure": found["measure"],
                    "median": found["median"],
                    "p95": found["p95"],
                    "statements": found.get("statements"),
                    "targets": {"ms": {kind: target["ms"]}},
                }
                if found.get("raw"):
                    row["raw_ms"] = found["raw"]["median"]
                rows.append(row)
        except Exception as failure:  # noqa: BLE001
            log(traceback.format_exc())
            rows.append({"key": key, "measure": f"oversight {key}", "error": str(failure)[:200], "targets": {}})
        log(f"[{kind}]   {_figures(rows[-1])}")
    return rows


def run_scan(kind: str, size: int, due: int) -> list[dict]:
    """The first deadline scan on a ledger of SIZE problems of which DUE are due or overdue."""
    from tests.bench import bench_scan
    from tracker import create_app
    from tracker.demo import generator
    from tracker.demo import services as demo
    from tracker.extensions import db
    from tracker.ledger.models import Problem

    target = target_of(kind, size, "bench_suite_scan")
    _create_database(target, fresh=False)
    app = create_app(_config(target["url"]))
    with app.app_context():
        db.create_all()
        if not db.session.query(Problem.id).first():
            log(f"[{kind}] scan: generating {size:,} problems into {target['label']}")
            demo.seed(1)
            db.session.commit()
            generator.fill(size, quiet=True)
        db.session.remove()
        db.engine.dispose()
    log(f"[{kind}] scan: {due:,} due of {size:,}")
    scan_app, _drop = bench_scan.build(size, due, kind, reuse=target["url"])
    first, repeat, candidates, alerts, first_n, repeat_n, written = bench_scan.measure(scan_app, repeats=3)
    with scan_app.app_context():
        db.session.remove()
        db.engine.dispose()
    note = f"{candidates:,} candidates, {sum(written.values()):,} rows written"
    return [
        {"key": "scan_first", "measure": f"first deadline scan, {due:,} due of {size:,} ({note})",
         "median": first * 1000, "statements": first_n, "targets": {"ms": {kind: 2000}}},
        {"key": "scan_repeat", "measure": "repeat deadline scan (nothing new)", "median": repeat * 1000,
         "statements": repeat_n, "targets": {"ms": {kind: 1000}}},
    ]  # fmt: skip


def run_import(kind: str, rows: int) -> list[dict]:
    from tests.bench import bench_import

    work = Path("/tmp/bench_suite_import")
    work.mkdir(exist_ok=True)
    out = []
    for fmt, writer, rate_target in (
        ("xlsx", bench_import.write_xlsx, 3000),
        ("csv", bench_import.write_csv, 5000),
    ):
        path = work / f"import_{rows}.{fmt}"
        if not path.exists():
            writer(path, rows, 1)
        log(f"[{kind}] import {path.name}")
        result = bench_import.run_child(kind, path, rows, False, "tracker_bench_suite_imp")
        if "error" in result:
            out.append({"key": f"import_{fmt}", "measure": f"import {rows:,}-row {fmt}", "error": result["error"]})
            continue
        rate = rows / result["seconds"]
        ok = result["created"] == result["rows"] == result["in_table"]
        out.append(
            {
                "key": f"import_{fmt}",
                "measure": f"import of a {rows:,}-row {fmt.upper()} ({result['created']:,} created"
                + ("" if ok else ", NOT ALL ROWS")
                + f"; +{result['import_growth_mb']:.0f} MB memory)",
                "median": result["seconds"] * 1000,
                "rate": rate,
                "memory_mb": result["import_growth_mb"],
                "targets": {"rate": rate_target, **({"memory_mb": 100} if fmt == "xlsx" else {})},
            }
        )
        log(f"[{kind}]   {rate:,.0f} rows/s, +{result['import_growth_mb']:.0f} MB")
    return out


def run_bulk(kind: str) -> list[dict]:
    from tests.bench import bench_bulk

    log(f"[{kind}] bulk actions (5,000 records) and clusters (10,000 imported against 100,000)")
    result = bench_bulk.run_child(kind, "both", ["--repeat", "1"])
    if "error" in result:
        return [{"key": "bulk", "measure": "bulk action on 5,000 records", "error": result["error"], "targets": {}}]
    slowest = max(result["bulk"].items(), key=lambda item: item[1]["median"])
    clusters = result["clusters"]
    return [
        {"key": "bulk", "measure": f"bulk action on 5,000 intake records (slowest of {len(result['bulk'])}: {slowest[0]})",
         "median": slowest[1]["median"] * 1000, "targets": {"ms": {kind: 5000}}},
        {"key": "clusters", "measure": f"clusters of a {clusters['imported']:,}-record import against {clusters['existing']:,}",
         "median": clusters["median"] * 1000, "targets": {"ms": {kind: 30000}}},
    ]  # fmt: skip


def run_load(url: str, users: int, seconds: int) -> list[dict]:
    from tests.bench import bench_load

    result = bench_load.run_load(url, users=users, seconds=seconds)
    total, steady = result["aggregated"], result.get("steady") or {}
    errors = total["failures"] + len(result.get("journey_errors") or [])
    text = (
        f"load test: {users} users for {seconds} s (locust; gunicorn {result['workers']} workers × "
        f"{result['threads']} threads): {total['requests']:,} requests, {total['rps']:.0f}/s, {errors} errors, "
        f"p50 {total['p50']:.0f} ms, p99 {total['p99']:.0f} ms"
    )
    if steady:
        text += f"; after the logins (from {steady['from_second']:.0f} s): p95 {steady['p95']:.0f} ms"
    return [
        {
            "key": "load",
            "measure": text,
            "median": total["p50"],
            "p95": total["p95"],
            "errors": errors,
            "targets": {"p95": 300, "errors": 0},
            "requests": result["rows"],
        }
    ]


# ---- verdicts and the report ----------------------------------------------------------------------


def verdict(row: dict, kind: str) -> str:
    if "error" in row:
        return "**failed**: " + row["error"]
    targets, misses, checked = row.get("targets", {}), [], False
    if kind in targets.get("ms", {}):
        checked, limit = True, targets["ms"][kind]
        if row["median"] > limit:
            misses.append(f"{row['median']:,.0f} ms > {limit:,} ms (×{row['median'] / limit:.1f})")
    if "ratio" in targets and row.get("raw_ms"):
        checked, ratio = True, row["median"] / row["raw_ms"]
        if ratio > targets["ratio"]:
            misses.append(f"{ratio:.0f}× raw SQL > {targets['ratio']}×")
    if "statements" in targets and row.get("statements") is not None:
        checked = True
        if row["statements"] > targets["statements"]:
            misses.append(f"{row['statements']} statements > {targets['statements']}")
    if "rate" in targets:
        checked = True
        if row["rate"] < targets["rate"]:
            misses.append(f"{row['rate']:,.0f}/s < {targets['rate']:,}/s (×{targets['rate'] / row['rate']:.1f})")
    if "memory_mb" in targets:
        checked = True
        if row["memory_mb"] > targets["memory_mb"]:
            misses.append(f"+{row['memory_mb']:.0f} MB > {targets['memory_mb']} MB")
    if "p95" in targets:
        checked = True
        if row["p95"] > targets["p95"]:
            misses.append(f"p95 {row['p95']:.0f} ms > {targets['p95']} ms")
    if "errors" in targets:
        checked = True
        if row["errors"] > targets["errors"]:
            misses.append(f"{row['errors']} errors")
    if not checked:
        return "–"
    return "**missed**: " + "; ".join(misses) if misses else "met"


def target_text(row: dict, kind: str) -> str:
    targets, parts = row.get("targets", {}), []
    if kind in targets.get("ms", {}):
        parts.append(f"≤ {targets['ms'][kind]:,} ms")
    if "ratio" in targets:
        parts.append(f"≤ {targets['ratio']}× raw")
    if "statements" in targets:
        parts.append(f"≤ {targets['statements']} stmts")
    if "rate" in targets:
        parts.append(f"≥ {targets['rate']:,}/s")
    if "memory_mb" in targets:
        parts.append(f"≤ +{targets['memory_mb']} MB")
    if "p95" in targets:
        parts.append(f"p95 ≤ {targets['p95']} ms")
    if "errors" in targets:
        parts.append("0 errors")
    return ", ".join(parts) or "–"


def _cell(value, fmt="{:,.1f}") -> str:
    return "–" if value is None else fmt.format(value)


def table(entry: dict) -> list[str]:
    kind = entry["kind"]
    lines = [
        "| Measure | median ms | p95 ms | statements | main query raw ms | × raw | target | verdict |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for row in entry["rows"]:
        ratio = row["median"] / row["raw_ms"] if row.get("raw_ms") and "median" in row else None
        median = row.get("median")
        median_text = f"{median:,.0f} ({row['rate']:,.0f}/s)" if row.get("rate") else _cell(median)
        lines.append(
            f"| {row['measure']} | {median_text} | {_cell(row.get('p95'))} | {_cell(row.get('statements'), '{}')} "
            f"| {_cell(row.get('raw_ms'), '{:.2f}')} | {_cell(ratio, '{:.0f}×')} | {target_text(row, kind)} "
            f"| {verdict(row, kind)} |"
        )
    return lines


def write_report(path: Path, entries: dict) -> str:
    from tests.bench.bench_oversight import machine

    box = machine()
    lines = [
        "# Performance",
        "",
        "Written by `make bench` (`tests/bench/suite.py`; its docstring says how each figure is taken). "
        "Page times are server times through the Flask test client; *main query raw* is the slowest SELECT "
        "of the request run alone on the driver, the floor the page is measured against; *× raw* is the "
        "page's median over it. Jobs run on throwaway databases of their own.",
        "",
        f"Machine: {box['nproc']} CPUs, {box['memory']}, PostgreSQL {box['postgresql']}, SQLite {box['sqlite']}, "
        f"Python {box['python']}.",
        "",
    ]
    for key in sorted(entries, key=lambda k: (entries[k]["kind"] != "postgresql", k)):
        entry = entries[key]
        load = entry.get("load") or {}
        lines += [
            f"## {'PostgreSQL' if entry['kind'] == 'postgresql' else 'SQLite'}: "
            f"{entry['problems']:,} problems, {load.get('intake_records', 0):,} intake records",
            "",
            f"Run {entry['when']}, load average {entry['load_average']:.1f} at the start; database "
            f"{entry['size_mb']:,.0f} MB."
            + (
                f" The steps this run skipped are from the run of {entry['kept_from']}."
                if entry.get("kept_from")
                else ""
            ),
            "",
            *table(entry),
            "",
        ]
        for row in entry["rows"]:
            if row.get("key") == "load" and row.get("requests"):
                lines += [
                    "Load test, per request:",
                    "",
                    "| request | count | errors | p50 ms | p95 ms | p99 ms |",
                    "|---|---:|---:|---:|---:|---:|",
                    *(
                        f"| {r['method']} {r['name']} | {r['requests']:,} | {r['failures']} | {_cell(r['p50'], '{:.0f}')} "
                        f"| {_cell(r['p95'], '{:.0f}')} | {_cell(r['p99'], '{:.0f}')} |"
                        for r in sorted(row["requests"], key=lambda r: -r["requests"])
                    ),
                    "",
                ]
    text = "\n".join(lines)
    path.write_text(text)
    return text


def run_seed(kind: str, size: int) -> list[dict]:
    """`flask demo seed --problems SIZE`'s generator into an empty database of its own, dropped after."""
    from tracker import create_app
    from tracker.demo import generator
    from tracker.demo import services as demo
    from tracker.extensions import db

    target = target_of(kind, size, "bench_suite_seed")
    _create_database(target, fresh=True)
    app = create_app(_config(target["url"]))
    try:
        with app.app_context():
            db.create_all()
            demo.seed(7)
            db.session.commit()
            log(f"[{kind}] seed: {size:,} problems into an empty database")
            figures = generator.fill(size, quiet=True)
            db.session.remove()
            db.engine.dispose()
    finally:
        _drop_database(target)
    log(f"[{kind}]   {figures['rate']:,.0f} problems/s")
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in (figures.get("steps") or {}).items())
    return [
        {
            "key": "seed",
            "measure": f"demo seed --problems {size:,} into an empty database ({figures['intake_records']:,} "
            f"records, {figures['followups']:,} follow-ups; {steps})",
            "median": figures["seconds"] * 1000,
            "rate": figures["rate"],
            "targets": {"rate": 20000},
        }
    ]


def _drop_database(target: dict) -> None:
    import sqlalchemy as sa

    if target["kind"] == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(target["path"]) + suffix).unlink(missing_ok=True)
        return
    admin = sa.create_engine(PG_SERVER + "postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target["pg_name"]}" WITH (FORCE)'))
    admin.dispose()


STEPS = ("seed", "pages", "oversight", "scan", "import", "bulk", "load")


def run_backend(kind: str, args) -> dict:
    import os

    target = target_of(kind, args.problems)
    app, info = prepare(target, args.problems, args.fresh)
    entry = {
        "kind": kind,
        "problems": info["problems"],
        "load": info.get("load"),
        "size_mb": info["size_mb"],
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": os.getloadavg()[0],
        "rows": [],
    }
    steps = [step for step in STEPS if step not in args.skip]
    if "pages" in steps:
        entry["rows"] += run_pages(app, info, args.reps, kind)
    if "oversight" in steps:
        entry["rows"] += run_oversight(app, info, args.reps, kind)
    with app.app_context():
        from tracker.extensions import db

        db.session.remove()
        db.engine.dispose()
    for step, job in (
        ("seed", lambda: run_seed(kind, args.seed_size)),
        ("scan", lambda: run_scan(kind, args.scan_size, args.due)),
        ("import", lambda: run_import(kind, args.import_rows)),
        ("bulk", lambda: run_bulk(kind)),
        ("load", lambda: run_load(target["url"], args.users, args.seconds) if kind == "postgresql" else []),
    ):
        if step not in steps:
            continue
        try:
            entry["rows"] += job()
        except (Exception, SystemExit) as failure:  # noqa: BLE001 - a failing job is a row of the report
            log(traceback.format_exc())
            entry["rows"].append({"key": step, "measure": step, "error": str(failure)[:200], "targets": {}})
    return entry


def merged(earlier: dict | None, entry: dict) -> dict:
    """ENTRY with the rows of the steps this run skipped kept from EARLIER (same order)."""
    if not earlier:
        return entry
    fresh = {row["key"]: row for row in entry["rows"]}
    rows = [fresh.pop(row["key"], row) for row in earlier["rows"]]
    kept = earlier.get("kept_from") or earlier["when"]
    return {
        **entry,
        "rows": rows + list(fresh.values()),
        "load": entry.get("load") or earlier.get("load"),
        "kept_from": kept,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.suite", description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--reps", type=int, default=20, help="requests per page (heavy pages fewer)")
    parser.add_argument("--fresh", action="store_true", help="generate the databases again")
    parser.add_argument("--skip", default="", help=f"comma-separated steps to leave out: {','.join(STEPS)}")
    parser.add_argument("--seed-size", type=int, default=200_000, help="problems of the timed demo seed")
    parser.add_argument("--scan-size", type=int, default=100_000, help="problems in the scan's ledger")
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--report-only", action="store_true", help="rewrite the report from the kept results")
    args = parser.parse_args(argv)
    args.skip = {step.strip() for step in args.skip.split(",") if step.strip()}
    entries = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for kind in [] if args.report_only else ["postgresql", "sqlite"] if args.db == "both" else [args.db]:
        entry = run_backend(kind, args)
        key = f"{kind}-{args.problems}"
        entries[key] = merged(entries.get(key), entry) if args.skip else entry
        RESULTS.write_text(json.dumps(entries, ensure_ascii=False, default=str))
    text = write_report(args.out, {k: e for k, e in entries.items() if k.endswith(f"-{args.problems}")})
    log("\n" + text)
    log(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

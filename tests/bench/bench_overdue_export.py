"""Overdue list export benchmark (issue 11; not a pytest test: pytest only collects test_*.py).

Product target: the overdue list of 100,000 rows exported (GET /reports/overdue.xlsx) in constant
memory, < 200 MB RSS of the process.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench_overdue \\
        .venv/bin/python -m tests.bench.bench_overdue_export [--problems 120000] [--reuse]

The database (DATABASE_URL; default the URL above) is created when missing. Without --reuse it is
emptied (dropped and created again) and filled; with --reuse one that holds problems is used as it is.
Generation: db.create_all() + the ledger benchmark's sync_schema, tracker.demo.services.seed(7), then
--problems problems by one set-based INSERT ... SELECT (5 in 6 open and overdue, so 120,000 give
100,000 overdue; see _problems), a progress note each (every third a rectification report too) and
the open escalation alerts of the ladder (催办 all, 督办 half, 挂牌督办 a fifth), then VACUUM (ANALYZE).
(The overdue list reads only problems, units, users, alerts and progress notes: no intake records.) The demo inspector's password is kept
in /tmp/bench_overdue_<dbname>.json.

The measurement runs in a fresh child process (so that ru_maxrss is the export's peak, not the
generator's): the Flask test client logs in as the demo inspector through /login and streams
GET /reports/overdue.xlsx chunk by chunk. Printed: rows (counted from the file with openpyxl's
read-only reader, after the peak was taken), seconds, peak RSS before and after the request, the
statements and their SQL time inside the request, and the main export query re-run raw on a
server-side cursor (rows fetched and dropped in batches).
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

from tests.bench import bigdata

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_overdue"
TARGET_MB = 200


def log(message=""):
    print(message, flush=True)


def rss_mb() -> float:
    """Peak RSS of this process over its lifetime (ru_maxrss, KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status(key: str) -> float:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"{key}:\s+(\d+)", text).group(1)) / 1024


def reset_peak() -> bool:
    """Start the peak (VmHWM) afresh from the current RSS (Linux: clear_refs 5). The app's import
    peaks once, briefly, at ~160 MB (argon2's 64 MiB dummy hash in tracker.auth.services) and the login
    hashes once more: ru_maxrss alone would show that, not the export."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _config(url: str):
    from config import TestConfig

    class BenchConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        STORAGE_DIR = "/tmp/bench_overdue_storage"
        RATELIMIT_ENABLED = False

    return BenchConfig


def sidecar(url: str) -> Path:
    from sqlalchemy.engine import make_url

    return Path(f"/tmp/bench_overdue_{make_url(url).database}.json")


# ---- data -----------------------------------------------------------------------------------------


def _ensure_database(url: str, reuse: bool) -> None:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    target = make_url(url)
    if target.database in ("bench_reports", "postgres"):
        raise SystemExit(f"refusing to use {target.database}: not this benchmark's database")
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = bool(conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}))
        if exists and not reuse:
            log(f"dropping {target.database}")
            conn.execute(sa.text(f'DROP DATABASE "{target.database}" WITH (FORCE)'))
            sidecar(url).unlink(missing_ok=True)
            exists = False
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def _problems(conn, count: int, first_seq: int, today, now) -> dict:
    """COUNT problems in one INSERT ... SELECT over generate_series: 5 of 6 open and overdue (deadlines 1
    to 180 days back, every tenth extended by a week), the sixth closed; over the demo units below the
    top level, their unit users as owners, the demo leaders; titles from the complaints file when it is
    there (tests.bench.bigdata.load_texts). Then one progress note each (every third a rectification
    report too) and the open escalation alerts of the ladder (催办 all, 督办 half, 挂牌督办 a fifth)."""
    import sqlalchemy as sa

    steps = {}
    t0 = time.perf_counter()
    texts = [t[0] for t in bigdata.load_texts()][:2000]
    conn.exec_driver_sql("CREATE TEMPORARY TABLE bench_titles (k INTEGER PRIMARY KEY, title TEXT)")
    conn.execute(sa.text("INSERT INTO bench_titles VALUES (:k, :t)"), [{"k": k, "t": t} for k, t in enumerate(texts)])
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE bench_units AS SELECT row_number() OVER (ORDER BY u.id) - 1 AS k, u.id AS unit_id, "
        "(SELECT min(x.id) FROM users x WHERE x.unit_id = u.id AND x.role = 'unit') AS owner_id "
        "FROM units u WHERE u.parent_id IS NOT NULL"
    )
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE bench_leaders AS SELECT row_number() OVER (ORDER BY id) - 1 AS k, id AS user_id "
        "FROM users WHERE role = 'leader'"
    )
    nt = len(texts)
    nu = conn.scalar(sa.text("SELECT count(*) FROM bench_units"))
    nl = max(1, conn.scalar(sa.text("SELECT count(*) FROM bench_leaders")))
    year = today.year
    first_id = (conn.scalar(sa.text("SELECT max(id) FROM problems")) or 0) + 1
    conn.execute(
        sa.text(
            f"""
            INSERT INTO problems (id, number, title, description, category, channel, source_kind, status, tier,
                is_quick_fix, unit_id, owner_id, leader_id, measures, assigned_at, deadline, original_deadline,
                closed_at, needs_verification, evidence_waived, rework_count, reopen_count, relapse_count,
                created_at, updated_at, version)
            SELECT :first + g.j,
                'ZG-{year}-' || lpad(CAST(:seq + g.j AS text), 6, '0'),
                t.title, '', '服务态度', '12345 热线', '投诉',
                CASE WHEN g.j % 6 = 5 THEN 'closed' WHEN g.j % 6 = 0 THEN 'assigned'
                     WHEN g.j % 6 = 1 THEN 'submitted' ELSE 'in_progress' END,
                CASE g.j % 7 WHEN 0 THEN 'red' WHEN 1 THEN 'red' WHEN 2 THEN 'blue' WHEN 3 THEN 'blue'
                     ELSE 'yellow' END,
                (g.j % 17 = 0), u.unit_id, u.owner_id, l.user_id, '立行立改，限期整改到位',
                CAST(:now AS timestamptz) - (200 + g.j % 100) * INTERVAL '1 day',
                CAST(:today AS date) - CAST(1 + (g.j * 7919) % 180 AS integer),
                CAST(:today AS date) - CAST(1 + (g.j * 7919) % 180 AS integer)
                    - CASE WHEN g.j % 10 = 3 THEN 7 ELSE 0 END,
                CASE WHEN g.j % 6 = 5 THEN CAST(:now AS timestamptz) - INTERVAL '1 day' END,
                FALSE, FALSE, 0, 0, 0,
                CAST(:now AS timestamptz) - INTERVAL '300 days', CAST(:now AS timestamptz), 1
            FROM (SELECT CAST(generate_series(0, :n - 1) AS bigint) AS j) g
            JOIN bench_titles t ON t.k = (g.j * 31) % {nt}
            JOIN bench_units u ON u.k = (g.j * 13 + g.j / 97) % {nu}
            JOIN bench_leaders l ON l.k = (g.j / 3) % {nl}
            """
        ),
        {"first": first_id, "seq": first_seq, "n": count, "now": now, "today": today},
    )
    conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('problems', 'id'), (SELECT max(id) FROM problems))")
    for name in ("bench_titles", "bench_units", "bench_leaders"):
        conn.exec_driver_sql(f"DROP TABLE {name}")
    steps["problems"] = time.perf_counter() - t0
    open_sql = "('new', 'assigned', 'in_progress', 'submitted', 'verifying')"
    overdue = f"SELECT id, owner_id, deadline FROM problems WHERE status IN {open_sql} AND deadline < :t"
    t0 = time.perf_counter()
    conn.execute(
        sa.text(
            f"""
            INSERT INTO progress_notes (problem_id, author_id, kind, body_html, created_at)
            SELECT o.id, o.owner_id, 'progress',
                   '<p>已制定整改方案，第' || (o.id % 7 + 1) || '项措施正在落实。</p><ul><li>约谈责任人</li><li>完善制度</li></ul>',
                   CAST(:now AS timestamptz) - (o.id % 30) * INTERVAL '1 day'
            FROM ({overdue}) o
            UNION ALL
            SELECT o.id, o.owner_id, 'report', '<p>整改报告：已完成' || (o.id % 90 + 10) || '%，剩余部分月底前完成。</p>',
                   CAST(:now AS timestamptz) - (o.id % 5) * INTERVAL '1 day'
            FROM ({overdue}) o WHERE o.id % 3 = 0
            """
        ),
        {"t": today, "now": now},
    )
    steps["progress notes"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    conn.execute(
        sa.text(
            f"""
            INSERT INTO alerts (problem_id, kind, step, days, created_at)
            SELECT o.id, 'escalation', l.level || ':' || CAST(o.deadline AS text), 1, CAST(:now AS timestamptz)
            FROM ({overdue}) o
            JOIN (VALUES ('reminder', 1), ('supervise', 2), ('listed', 5)) AS l(level, every) ON o.id % l.every = 0
            UNION ALL
            SELECT o.id, 'overdue', CAST(o.deadline AS text), 1, CAST(:now AS timestamptz) FROM ({overdue}) o
            ON CONFLICT DO NOTHING
            """
        ),
        {"t": today, "now": now},
    )
    steps["alerts"] = time.perf_counter() - t0
    made = conn.scalar(sa.text(f"SELECT count(*) FROM ({overdue}) o"), {"t": today})
    return {"overdue": made, "steps": steps}


def prepare(url: str, problems: int, reuse: bool) -> dict:
    import sqlalchemy as sa

    from tests.bench.bench_ledger import sync_schema
    from tracker import create_app
    from tracker.access.policy import Role
    from tracker.core import clock, sequences
    from tracker.demo import services as demo
    from tracker.extensions import db
    from tracker.ledger.models import Problem

    _ensure_database(url, reuse)
    app = create_app(_config(url))
    with app.app_context():
        db.create_all()
        sync_schema("postgresql")
        have = db.session.scalar(sa.select(sa.func.count()).select_from(Problem)) or 0
        if have and sidecar(url).exists():
            info = json.loads(sidecar(url).read_text())
            log(f"reusing {url}: {have:,} problems, {info['overdue']:,} overdue when made")
            return info
        if have:
            raise SystemExit(f"{url} holds {have:,} problems but no sidecar {sidecar(url)}: run without --reuse")
        started = time.perf_counter()
        logins = demo.seed(7)
        db.session.commit()
        inspector, password = next((u, p) for u, p in logins if u.role == Role.INSPECTOR)
        username = inspector.username
        first_seq = sequences.reserve("problem", clock.today().year, problems)
        db.session.commit()
        db.session.remove()
        with db.engine.begin() as conn:
            made = _problems(conn, problems, first_seq, clock.today(), clock.now())
        analyze = bigdata.analyze()
        seconds = time.perf_counter() - started
        log(
            f"generated {problems:,} problems, {made['overdue']:,} overdue "
            f"({', '.join(f'{k} {v:.1f} s' for k, v in made['steps'].items())}), VACUUM (ANALYZE) {analyze:.1f} s; "
            f"{seconds:.1f} s in all"
        )
        info = {"username": username, "password": password, "problems": problems, "overdue": made["overdue"]}
        sidecar(url).write_text(json.dumps(info))
        db.session.remove()
    return info


# ---- the measurement (child process) --------------------------------------------------------------


def measure(url: str) -> dict:
    import sqlalchemy as sa
    from sqlalchemy import event

    from tests.conftest import csrf_from
    from tracker import create_app
    from tracker.extensions import db

    info = json.loads(sidecar(url).read_text())
    app = create_app(_config(url))
    client = app.test_client()
    token = csrf_from(client, "/login")
    client.post("/login", data={"username": info["username"], "password": info["password"], "csrf_token": token})
    assert client.get("/reports/overdue").status_code == 200  # warm: templates, calendar, plans
    statements, starts = [], []

    def before(conn, cursor, statement, parameters, context, executemany):
        starts.append(time.perf_counter())

    def after(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters, (time.perf_counter() - starts.pop()) * 1000))

    with app.app_context():
        engine = db.engine
    lifetime_before_mb = rss_mb()
    was_reset = reset_peak()
    before_mb = _status("VmRSS")
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    out = Path("/tmp/bench_overdue_export.xlsx")
    started = time.perf_counter()
    response = client.get("/reports/overdue.xlsx", buffered=False)
    size = 0
    with out.open("wb") as fh:
        for chunk in response.response:
            size += len(chunk)
            fh.write(chunk)
    response.close()
    seconds = time.perf_counter() - started
    peak_mb = _status("VmHWM") if was_reset else rss_mb()
    lifetime_mb = rss_mb()
    event.remove(engine, "before_cursor_execute", before)
    event.remove(engine, "after_cursor_execute", after)
    assert response.status_code == 200, response.status_code

    page_ms = []
    for _ in range(5):
        t0 = time.perf_counter()
        assert client.get("/reports/overdue").status_code == 200
        page_ms.append((time.perf_counter() - t0) * 1000)

    import openpyxl

    sheet = openpyxl.load_workbook(out, read_only=True).active
    lines = sum(1 for _ in sheet.iter_rows(values_only=True))
    main = next(s for s in statements if "JOIN units" in s[0])  # the rows query
    raw_ms, raw_rows = raw_time(engine, main[0], main[1])
    return {
        "rows": lines - 5,  # four title rows and the header
        "page_ms": sorted(page_ms)[2],
        "bytes": size,
        "seconds": seconds,
        "rss_before_mb": before_mb,
        "rss_peak_mb": peak_mb,
        "rss_peak_reset": was_reset,
        "rss_lifetime_before_mb": lifetime_before_mb,
        "rss_lifetime_mb": lifetime_mb,
        "statements": len(statements),
        "sql_ms_in_request": sum(s[2] for s in statements),
        "main_query_ms_in_request": main[2],
        "raw_sql_ms": raw_ms,
        "raw_sql_rows": raw_rows,
        "main_query": re.sub(r"\s+", " ", main[0])[:600],
        "overdue_in_db": info["overdue"],
        "explain": explain(engine, main[0], main[1]),
        "sa": sa.__version__,
    }


def raw_time(engine, statement, parameters) -> tuple[float, int]:
    """STATEMENT re-run with its PARAMETERS on a server-side cursor, every row fetched: (ms, rows)."""
    best, rows = None, 0
    for _ in range(2):
        with engine.connect() as conn:
            started = time.perf_counter()
            result = conn.execution_options(stream_results=True, yield_per=2000).exec_driver_sql(statement, parameters)
            rows = sum(len(part) for part in result.partitions())
            elapsed = (time.perf_counter() - started) * 1000
            conn.rollback()
        best = elapsed if best is None else min(best, elapsed)
    return best, rows


def explain(engine, statement, parameters) -> str:
    with engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).fetchall()
        conn.rollback()
    return "\n".join(r[0] for r in plan)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=120_000, help="5 in 6 of them overdue")
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # the child
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not url.startswith("postgresql"):
        raise SystemExit("DATABASE_URL must point to PostgreSQL")
    if args.measure:
        print(json.dumps(measure(url)))
        return
    prepare(url, args.problems, args.reuse)
    child = subprocess.run(
        [sys.executable, "-m", "tests.bench.bench_overdue_export", "--measure"],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode:
        raise SystemExit(child.stdout + child.stderr)
    result = json.loads(child.stdout.strip().splitlines()[-1])
    log(f"overdue problems in the database: {result['overdue_in_db']:,}")
    log(
        f"GET /reports/overdue.xlsx: {result['rows']:,} rows, {result['bytes'] / 1e6:.1f} MB file, "
        f"{result['seconds']:.1f} s"
    )
    peak = max(result["rss_peak_mb"], result["rss_lifetime_mb"])
    verdict = "OK" if peak < TARGET_MB else "OVER"
    log(
        f"peak RSS of the process during the export: {peak:.0f} MB (VmHWM {result['rss_peak_mb']:.0f} MB, "
        f"ru_maxrss {result['rss_lifetime_mb']:.0f} MB, both counted from a reset just before the request; "
        f"RSS before the request {result['rss_before_mb']:.0f} MB; target < {TARGET_MB} MB: {verdict}). "
        f"Before the reset ru_maxrss was {result['rss_lifetime_before_mb']:.0f} MB: the 64 MiB argon2 hashes "
        f"at import and at login, freed again"
    )
    log(
        f"SQL in the request: {result['statements']} statements, {result['sql_ms_in_request']:.0f} ms "
        f"(the export query {result['main_query_ms_in_request']:.0f} ms to its first batch); raw export query, "
        f"all {result['raw_sql_rows']:,} rows fetched: {result['raw_sql_ms']:.0f} ms"
    )
    log(f"GET /reports/overdue (first {500} rows on screen, true counts): median {result['page_ms']:.0f} ms of 5")
    log("export query: " + result["main_query"])
    log(result["explain"])


if __name__ == "__main__":
    main()

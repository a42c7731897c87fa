"""Reports at scale benchmark (issue 11; a script, not a pytest test).

Targets on 1,000,000 problems: dashboard <= 300 ms server time on PostgreSQL and <= 1 s on SQLite;
the ranking for a quarter <= 500 ms on PostgreSQL.

    .venv/bin/python -m tests.bench.bench_reports build --url URL [--problems 1000000]
    .venv/bin/python -m tests.bench.bench_reports pages --url URL [--runs 5] [--only S] [--skip S] [--slow] [--explain]
    .venv/bin/python -m tests.bench.bench_reports capture --url URL [--only S] [--out FILE]
    .venv/bin/python -m tests.bench.bench_reports sql --url URL

URL: postgresql+psycopg://postgres@127.0.0.1:5432/bench_reports or sqlite:////tmp/bench_reports.db, an
empty database migrated by `DATABASE_URL=URL flask --app wsgi db upgrade` before `build`.

build: an empty, migrated database (`flask db upgrade`) gets the demo organisation
(tracker.demo.services.seed(7)), 8 inspectors and tests.bench.bigdata.fill(N) (N problems, 3N intake
records, their follow-ups, approved extensions, supervision notices, campaign tags; see its
docstring), then VACUUM (ANALYZE) / ANALYZE. The demo passwords go to a sidecar JSON file
(/tmp/bench_reports_<dbname>.json).

pages: every report page through the Flask test client, logged in by the real /login form as the demo
leader (李副县长, in charge of 教育系统 and 卫生健康系统) and as the demo inspector (sees everything):
one warm-up then --runs requests each; the median server time, the SQL time inside the request (every
statement timed by before/after_cursor_execute listeners, summed) and the statements per request.
A page that does not answer 200 (a placeholder raising NotImplementedError) is reported as such.

--slow prints the three slowest statements of each page, --explain the plan of the slowest one.
capture: each page once as leader and inspector; the statements slower than 20 ms with their parameters
go to a JSON file (for trying indexes on them with EXPLAIN ANALYZE).

sql: the queries the reports are expected to run, alone, with EXPLAIN ANALYZE on PostgreSQL (the
execution time it reports) and the wall time of running them on SQLite.
"""

import argparse
import json
import statistics
import time
from datetime import timedelta
from pathlib import Path

from tests.bench import bigdata
from tests.bench.bench_oversight import Statements, log


def _config(url: str):
    from config import TestConfig

    class BenchConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        RATELIMIT_ENABLED = False

    return BenchConfig


def sidecar(url: str) -> Path:
    return Path(f"/tmp/bench_reports_{url.rstrip('/').rsplit('/', 1)[-1].replace('.', '_')}.json")


def build(url: str, problems: int) -> None:
    import sqlalchemy as sa

    from tracker import create_app
    from tracker.access.policy import Role
    from tracker.demo import services as demo
    from tracker.extensions import db
    from tracker.ledger.models import Problem

    app = create_app(_config(url))
    with app.app_context():
        if db.session.scalar(sa.select(sa.func.count()).select_from(Problem)):
            raise SystemExit(f"{url} already holds problems")
        started = time.perf_counter()
        logins = demo.seed(7)
        db.session.commit()
        users = {u.role: (u.username, p) for u, p in logins}
        bigdata.ensure_inspectors(8)
        seed_seconds = time.perf_counter() - started
        figures = bigdata.fill(problems)
        analyze_seconds = bigdata.analyze()
        info = {
            "leader": users[Role.LEADER],
            "inspector": users[Role.INSPECTOR],
            "load": {**figures, "seed_seconds": seed_seconds, "analyze_seconds": analyze_seconds},
        }
        sidecar(url).write_text(json.dumps(info, ensure_ascii=False))
        log(
            f"fill {figures['problems']:,} problems, {figures['intake_records']:,} records in {figures['seconds']:.1f} s "
            f"({figures['rate']:,.0f}/s); analyze {analyze_seconds:.1f} s"
        )
        log(json.dumps(bigdata.describe(""), ensure_ascii=False))


# ---- pages ----------------------------------------------------------------------------------------

PAGES = [
    # (path, target ms on PostgreSQL, target ms on SQLite)
    ("/reports/dashboard", 300, 1000),
    ("/api/v1/reports/dashboard", 300, 1000),
    ("/reports/ranking?period=quarter", 500, None),
    ("/api/v1/reports/ranking?period=quarter", 500, None),
    ("/reports/ranking.xlsx?period=quarter", None, None),
    ("/reports/overdue", None, None),
    ("/api/v1/reports/overdue", None, None),
    ("/reports/overdue.xlsx", None, None),
    ("/reports/breakdowns", None, None),
    ("/reports/breakdowns?period=quarter", None, None),
]


def _login(client, username, password):
    from tests.conftest import login

    response = login(client, username, password)
    if response.status_code != 302:
        raise SystemExit(f"login as {username} failed: {response.status_code}")


def _rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _plan(app, engine, statement, parameters) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL, EXPLAIN QUERY PLAN on SQLite, of a captured statement."""
    with app.app_context(), engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
            return "\n".join(r[0] for r in rows)
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        return "\n".join(str(r[-1]) for r in rows)


def pages(
    url: str,
    runs: int,
    only: str | None = None,
    show_slow: bool = False,
    explain: bool = False,
    skip: str | None = None,
) -> list[dict]:
    import sqlalchemy as sa

    from tracker import create_app
    from tracker.auth import services as user_services
    from tracker.auth.models import User
    from tracker.extensions import db
    from tracker.ledger.models import Problem

    info = json.loads(sidecar(url).read_text())
    app = create_app(_config(url))
    kind = "postgresql" if url.startswith("postgresql") else "sqlite"
    results = []
    with app.app_context():
        size = db.session.scalar(sa.select(sa.func.count()).select_from(Problem))
        tokens = {}
        for who in ("leader", "inspector"):
            user = db.session.scalar(sa.select(User).where(User.username == info[who][0]))
            _row, tokens[who] = user_services.create_token(user, f"bench-{time.time_ns()}", actor=None)
        db.session.commit()
        engine = db.engine
        db.session.remove()
    log(f"[{kind}] {size:,} problems; {runs} runs after one warm-up; server ms = test-client wall time")
    log(f"{'page':<44} {'user':<9} {'status':>6} {'median ms':>10} {'min':>8} {'SQL ms':>8} {'stmts':>6} {'target':>7}")
    for who in ("leader", "inspector"):
        client = app.test_client()
        _login(client, *info[who])
        headers = {"Authorization": f"Bearer {tokens[who]}"}
        for path, pg_target, sqlite_target in PAGES:
            if only and only not in path or skip and skip in path:
                continue
            target = pg_target if kind == "postgresql" else sqlite_target
            api = path.startswith("/api/")
            times, sql_ms, counts, status, rss_before = [], [], [], None, _rss_mb()
            nbytes = 0
            for n in range(runs + 1):
                with app.app_context(), Statements(engine) as statements:
                    started = time.perf_counter()
                    response = client.get(path, headers=headers if api else None)
                    body = response.get_data()
                    elapsed = (time.perf_counter() - started) * 1000
                status = response.status_code
                if status != 200:
                    break
                nbytes = len(body)
                if n:  # the first one warms the caches
                    times.append(elapsed)
                    sql_ms.append(statements.ms)
                    counts.append(len(statements.rows))
                    slowest = sorted(statements.rows, key=lambda r: -r[2])[:3]
            row = {"page": path, "user": who, "status": status, "db": kind, "target": target, "bytes": nbytes}
            if times:
                row.update(
                    median=statistics.median(times),
                    min=min(times),
                    sql=statistics.median(sql_ms),
                    statements=statistics.median(counts),
                    rss_growth_mb=_rss_mb() - rss_before,
                )
                row["met"] = None if target is None else row["median"] <= target
                row["slowest"] = [(round(ms, 1), " ".join(sql.split())) for sql, _p, ms, _many in slowest]
                if explain and slowest and slowest[0][1] > 20:
                    row["plan"] = _plan(app, engine, slowest[0][0], slowest[0][2])
                log(
                    f"{path:<44} {who:<9} {status:>6} {row['median']:>10.1f} {row['min']:>8.1f} {row['sql']:>8.1f} "
                    f"{row['statements']:>6.0f} {target or '-':>7} {'' if row['met'] is None else ('met' if row['met'] else 'MISSED')}"
                    f"  {nbytes / 1e6:.2f} MB, max RSS +{row['rss_growth_mb']:.0f} MB"
                )
                if show_slow:
                    for ms, sql in row["slowest"]:
                        log(f"      {ms:>8.1f} ms  {sql[:400]}")
                if row.get("plan"):
                    log("        " + row["plan"].replace("\n", "\n        "))
            else:
                log(f"{path:<44} {who:<9} {status:>6}  (not measured: the page does not answer 200)")
            results.append(row)
    return results


def capture(url: str, paths: list[str], out: Path, least_ms: float = 20.0) -> None:
    """Run each of PATHS once as the leader and as the inspector; keep the statements slower than LEAST_MS
    (sql, parameters, ms) in OUT, for trying indexes on them (`indexes` mode)."""
    from tracker import create_app
    from tracker.extensions import db

    info = json.loads(sidecar(url).read_text())
    app = create_app(_config(url))
    with app.app_context():
        engine = db.engine
    kept = []
    for who in ("leader", "inspector"):
        client = app.test_client()
        _login(client, *info[who])
        for path in paths:
            with app.app_context(), Statements(engine) as statements:
                status = client.get(path).status_code
            for sql, params, ms, _many in statements.rows:
                if ms >= least_ms:
                    kept.append({"page": path, "user": who, "status": status, "ms": ms, "sql": sql, "params": params})
                    log(f"{path:<40} {who:<9} {ms:>9.1f} ms  {' '.join(sql.split())[:150]}")
    out.write_text(json.dumps(kept, ensure_ascii=False, default=str))


# ---- the queries the reports are expected to run -------------------------------------------------

WORKING = "('assigned', 'in_progress', 'submitted', 'verifying')"
OPEN = "('new', 'assigned', 'in_progress', 'submitted', 'verifying')"


def expected_queries(pg: bool, scope: str) -> list[tuple[str, str]]:
    """[(name, SQL)]: SCOPE is an SQL condition on the unit (e.g. "unit_id IN (1, 2)") or "1 = 1"."""
    tz = "'Asia/Shanghai'"
    if pg:
        week = f"date_trunc('week', received_at AT TIME ZONE {tz})"
        close_week = f"date_trunc('week', closed_at AT TIME ZONE {tz})"
    else:
        week = "date(received_at, '+8 hours', '-6 days', 'weekday 1')"
        close_week = "date(closed_at, '+8 hours', '-6 days', 'weekday 1')"
    return [
        (
            "open by tier and status",
            f"SELECT tier, status, count(*) FROM problems WHERE status IN {OPEN} AND {scope} GROUP BY tier, status",
        ),
        (
            "overdue by unit",
            f"SELECT unit_id, count(*) FROM problems WHERE status IN {WORKING} AND deadline < :today AND {scope} GROUP BY unit_id",
        ),
        (
            "worst overdue (10)",
            f"SELECT id, number, deadline FROM problems WHERE status IN {WORKING} AND deadline < :today AND {scope} "
            "ORDER BY deadline, id LIMIT 10",
        ),
        (
            "due this week",
            f"SELECT count(*) FROM problems WHERE status IN {WORKING} AND deadline >= :today AND deadline < :week_end AND {scope}",
        ),
        (
            "closed in quarter by unit, timeliness",
            "SELECT unit_id, close_timeliness, count(*), sum(close_workdays), sum(rework_count), sum(relapse_count) "
            f"FROM problems WHERE closed_at >= :q0 AND closed_at < :q1 AND {scope} GROUP BY unit_id, close_timeliness",
        ),
        (
            "assigned in quarter by unit",
            f"SELECT unit_id, count(*) FROM problems WHERE assigned_at >= :q0 AND assigned_at < :q1 AND {scope} GROUP BY unit_id",
        ),
        (
            "intake per week, 12 weeks",
            f"SELECT {week} AS w, count(*) FROM intake_records WHERE received_at >= :w12 AND {scope} GROUP BY w",
        ),
        (
            "closures per week, 12 weeks",
            f"SELECT {close_week} AS w, count(*) FROM problems WHERE closed_at >= :w12 AND {scope} GROUP BY w",
        ),
        (
            "records received in quarter by unit",
            f"SELECT unit_id, count(*) FROM intake_records WHERE received_at >= :q0 AND received_at < :q1 "
            f"AND is_excluded = {'false' if pg else '0'} AND {scope} GROUP BY unit_id",
        ),
        (
            "open by category",
            f"SELECT category, count(*) FROM problems WHERE status IN {OPEN} AND {scope} GROUP BY category",
        ),
        (
            "notices in quarter by unit",
            f"SELECT unit_id, count(*) FROM supervision_notices WHERE issued_at >= :q0 AND issued_at < :q1 AND {scope} "
            "GROUP BY unit_id",
        ),
    ]


def sql_params(pg: bool) -> dict:
    from datetime import UTC, datetime
    from datetime import time as dtime

    from tracker.core import clock

    today = clock.today()
    zone = clock.timezone()
    q_start = today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
    q_end = (q_start + timedelta(days=95)).replace(day=1)
    week_start = today - timedelta(days=today.weekday())

    def moment(day):
        value = datetime.combine(day, dtime(), zone).astimezone(UTC)
        return value if pg else value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")

    def day(d):
        return d if pg else d.isoformat()

    return {
        "today": day(today),
        "week_end": day(week_start + timedelta(days=7)),
        "q0": moment(q_start),
        "q1": moment(q_end),
        "w12": moment(week_start - timedelta(weeks=11)),
    }


def explain_all(url: str, reps: int = 3) -> list[dict]:
    import re

    import sqlalchemy as sa

    from tracker import create_app
    from tracker.auth.models import User
    from tracker.extensions import db

    info = json.loads(sidecar(url).read_text())
    app = create_app(_config(url))
    results = []
    with app.app_context():
        pg = db.engine.dialect.name == "postgresql"
        leader = db.session.scalar(sa.select(User).where(User.username == info["leader"][0]))
        from tracker.access import policy

        ids = sorted(policy.visible_unit_ids(leader) or [])
        scopes = {"all": "1 = 1", "leader": f"unit_id IN ({', '.join(map(str, ids))})"}
        params = sql_params(pg)
        for scope_name, scope in scopes.items():
            for name, query in expected_queries(pg, scope):
                samples, plan = [], ""
                for _ in range(reps + 1):
                    if pg:
                        rows = (
                            db.session.execute(sa.text("EXPLAIN (ANALYZE, BUFFERS) " + query), params).scalars().all()
                        )
                        plan = "\n".join(rows)
                        samples.append(float(re.search(r"Execution Time: ([0-9.]+)", plan).group(1)))
                    else:
                        started = time.perf_counter()
                        db.session.execute(sa.text(query), params).all()
                        samples.append((time.perf_counter() - started) * 1000)
                        plan = "\n".join(
                            str(r[-1]) for r in db.session.execute(sa.text("EXPLAIN QUERY PLAN " + query), params)
                        )
                ms = statistics.median(samples[1:])
                results.append({"scope": scope_name, "query": name, "ms": ms, "plan": plan, "sql": query})
                log(f"{scope_name:<7} {name:<40} {ms:>9.1f} ms")
                if ms > 50:
                    log("    " + plan.replace("\n", "\n    "))
        db.session.remove()
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["build", "pages", "sql", "capture"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--problems", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", help="measure only the pages whose path contains this")
    parser.add_argument("--skip", help="leave out the pages whose path contains this")
    parser.add_argument("--out", help="write the results as JSON here")
    parser.add_argument("--slow", action="store_true", help="print the 3 slowest statements of each page")
    parser.add_argument("--explain", action="store_true", help="print the plan of the slowest statement (> 20 ms)")
    args = parser.parse_args()
    if args.mode == "build":
        build(args.url, args.problems)
        return
    if args.mode == "capture":
        paths = [p for p, _a, _b in PAGES if not p.startswith("/api/") and (not args.only or args.only in p)]
        capture(args.url, paths, Path(args.out or "/tmp/bench_reports_statements.json"))
        return
    results = (
        pages(args.url, args.runs, args.only, args.slow, args.explain, args.skip)
        if args.mode == "pages"
        else explain_all(args.url)
    )
    if args.out:
        Path(args.out).write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str))


if __name__ == "__main__":
    main()

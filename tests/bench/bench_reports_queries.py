"""The statements of the ranking and the dashboard, one by one (issue 11; a script, not a pytest test).

    .venv/bin/python -m tests.bench.bench_reports_queries --url URL [--runs 3] [--plans] [--only ranking]

For the demo leader and the demo inspector of a database built by tests.bench.bench_reports (its
sidecar JSON holds the logins): runs tracker.reports.ranking.build (current quarter) and
tracker.reports.dashboard.figures (current month) directly, --runs times after a warm-up, and prints
the median wall time, the statements, and for each statement its median time in the call and, on
PostgreSQL, the execution time EXPLAIN (ANALYZE, BUFFERS) reports (--plans: the plan too; on SQLite
EXPLAIN QUERY PLAN).
"""

import argparse
import json
import re
import statistics
import time

from tests.bench.bench_oversight import Statements
from tests.bench.bench_reports import _config, sidecar


def log(message=""):
    print(message, flush=True)


def _explain(engine, statement, parameters):
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)]
            found = re.search(r"Execution Time: ([0-9.]+)", "\n".join(rows))
            return float(found.group(1)) if found else None, "\n".join(rows)
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
        return None, "\n".join(str(r[-1]) for r in rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--plans", action="store_true")
    parser.add_argument("--only", choices=["ranking", "dashboard"])
    args = parser.parse_args()

    import sqlalchemy as sa

    from tracker import create_app
    from tracker.auth.models import User
    from tracker.extensions import db
    from tracker.reports import dashboard, periods, ranking

    info = json.loads(sidecar(args.url).read_text())
    app = create_app(_config(args.url))
    jobs = {
        "ranking": lambda user: ranking.build(user, periods.parse({}, "quarter")),
        "dashboard": lambda user: dashboard.figures(user, periods.parse({}, "month")),
    }
    with app.app_context():
        engine = db.engine
        for who in ("leader", "inspector"):
            for name, job in jobs.items():
                if args.only and args.only != name:
                    continue
                times, per_statement = [], {}
                for n in range(args.runs + 1):
                    user = db.session.scalar(sa.select(User).where(User.username == info[who][0]))
                    with Statements(engine) as statements:
                        started = time.perf_counter()
                        job(user)
                        elapsed = (time.perf_counter() - started) * 1000
                    db.session.rollback()
                    if n:
                        times.append(elapsed)
                        for i, (sql, params, ms, _many) in enumerate(statements.rows):
                            per_statement.setdefault(i, [sql, params, []])[2].append(ms)
                log(f"== {name} as {who}: median {statistics.median(times):.1f} ms, {len(per_statement)} statements")
                for sql, params, samples in per_statement.values():
                    plan_ms, plan = _explain(engine, sql, params)
                    shown = " ".join(sql.split())
                    log(
                        f"  {statistics.median(samples):>8.1f} ms  (EXPLAIN {plan_ms if plan_ms is not None else '-':>8}) "
                        f"{shown[:150]}"
                    )
                    if args.plans and statistics.median(samples) > 10:
                        log("        " + plan.replace("\n", "\n        "))


if __name__ == "__main__":
    main()

"""Load test (issue 12, item 6): locust journeys against gunicorn on a big PostgreSQL database.

Goal at 1,000,000 problems: 50 concurrent users for 2 minutes, p95 <= 300 ms, 0 errors.

    .venv/bin/python -m tests.bench.bench_load [--database-url URL] [--users 50] [--spawn-rate 10]
        [--seconds 120] [--port 8099] [--workers 2] [--threads 4] [--json PATH]

The database must hold a generated ledger (tracker.demo.generator; the default is the one `make bench`
(tests/bench/suite.py) keeps: tracker_bench_suite_1000000). What happens:

  1. three users of the load are created, or given a new password when they exist (load_inspector;
     load_unit, in the unit with the most problems in progress and assigned; load_leader, in charge
     of the units the demo leader has), active, must_change_password off. Other users are left alone
     (other benchmarks keep their passwords). They are deactivated again at the end;
  2. gunicorn starts as deployed: `gunicorn -c deploy/gunicorn.conf.py wsgi:app` with TRACKER_ENV=production,
     a random SECRET_KEY, the field encryption key the database was written with (FIELD_ENCRYPTION_KEYS
     from the environment, else the key the benchmarks' test configuration derives), files in a
     temporary directory, and SESSION_COOKIE_SECURE=0: the test speaks plain HTTP on loopback, where a
     Secure cookie would never come back (production keeps its default, on);
  3. when /healthz answers, `.venv-load/bin/locust -f tests/bench/locustfile.py --headless ...` runs the
     journeys (read tests/bench/locustfile.py) for SECONDS and writes its CSV files;
  4. gunicorn stops; the per-request rows and the Aggregated row of <prefix>_stats.csv and the
     failures of <prefix>_failures.csv are returned (run_load) and printed with a Markdown table,
     beside the steady state (the requests after the last login answered, logins excluded: 50
     argon2 logins in the first seconds queue on 2 cores), the server's answers by status and the
     errors raised inside the journeys (<prefix>_exceptions.csv; they count against the goal).

Locust runs from its own venv, .venv-load (requirements-load.txt), created here when missing: its
dependencies must not move the app's pinned ones. The load changes the database a little (assignments,
progress notes, submissions, a few hundred intake records and problems), as a day of use would.
"""

import argparse
import collections
import contextlib
import csv
import json
import math
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOAD_VENV = ROOT / ".venv-load"
LOCUST = LOAD_VENV / "bin" / "locust"
LOCUSTFILE = ROOT / "tests" / "bench" / "locustfile.py"
REQUIREMENTS = ROOT / "requirements-load.txt"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/tracker_bench_suite_1000000"
TARGET_P95_MS = 300.0
RESULT_PREFIX = "BENCH-RESULT "
LOAD_USERS = {"inspector": "load_inspector", "unit": "load_unit", "leader": "load_leader"}
LOAD_NAMES = {"inspector": "压测纪检", "unit": "压测单位", "leader": "压测领导"}


def log(message=""):
    print(message, flush=True)


def ensure_locust() -> Path:
    """.venv-load with the pinned locust, made when missing."""
    if not LOCUST.exists():
        log(f"creating {LOAD_VENV} (locust, from {REQUIREMENTS.name}) ...")
        base = getattr(sys, "_base_executable", None) or shutil.which("python3") or sys.executable
        subprocess.run([base, "-m", "venv", str(LOAD_VENV)], check=True)
        pip = subprocess.run(
            [str(LOAD_VENV / "bin" / "pip"), "install", "-q", "-r", str(REQUIREMENTS)], capture_output=True, text=True
        )  # fmt: skip
        if pip.returncode != 0 or not LOCUST.exists():
            raise SystemExit(f"pip install -r {REQUIREMENTS.name} failed:\n{pip.stderr[-3000:]}")
    return LOCUST


# ---- the database side ---------------------------------------------------------------------------


def _config(url: str, storage: str):
    from config import TestConfig

    class LoadPrepConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = url
        STORAGE_DIR = storage
        FIELD_ENCRYPTION_KEYS = os.environ.get("FIELD_ENCRYPTION_KEYS", "")
        PASSWORD_HASH_FAST = False  # the hashes production checks at login

    return LoadPrepConfig


def prepare(url: str, storage: str) -> dict:
    """Create (or reset) the three users of the load; returns their credentials, the unit user's unit
    and the field encryption key the database was written with."""
    from sqlalchemy import func, select

    from tracker import create_app
    from tracker.access.policy import Role
    from tracker.auth import services as user_services
    from tracker.auth.models import User
    from tracker.core import crypto
    from tracker.extensions import db
    from tracker.intake.models import IntakeRecord
    from tracker.ledger.models import Problem
    from tracker.org.models import Unit

    app = create_app(_config(url, storage))
    with app.app_context():
        problems = db.session.scalar(select(func.count()).select_from(Problem))
        if not problems:
            raise SystemExit(f"{url}: no problems; generate a ledger first (tests/bench/suite.py)")
        key = crypto._keys()[0].decode()
        sample = db.session.scalar(select(IntakeRecord.query_pin_enc).limit(1))
        try:
            crypto.decrypt(sample)
        except Exception:  # noqa: BLE001 - any failure means the key is not the database's
            raise SystemExit(
                "the intake records were not encrypted with the key of the benchmarks' configuration: "
                "set FIELD_ENCRYPTION_KEYS to the key they were written with"
            ) from None
        unit_id = db.session.execute(
            select(Problem.unit_id)
            .join(Unit, Unit.id == Problem.unit_id)
            .where(Problem.status.in_(("in_progress", "assigned")), Unit.is_active.is_(True))
            .group_by(Problem.unit_id)
            .order_by(func.count().desc(), Problem.unit_id)
            .limit(1)
        ).scalar_one()
        unit = db.session.get(Unit, unit_id)
        demo_leader = db.session.scalar(
            select(User)
            .where(User.role == Role.LEADER, User.username.not_in(LOAD_USERS.values()))
            .order_by(User.id)
            .limit(1)
        )
        leader_units = [u.id for u in demo_leader.leader_of] if demo_leader else []
        if unit.id not in leader_units and unit.parent_id:
            leader_units.append(unit.parent_id)
        users = {}
        for kind, username in LOAD_USERS.items():
            password = secrets.token_urlsafe(12) + "9a"
            role = {"inspector": Role.INSPECTOR, "unit": Role.UNIT, "leader": Role.LEADER}[kind]
            user = db.session.scalar(select(User).where(User.username == username))
            if user is None:
                data = {"username": username, "name": LOAD_NAMES[kind], "role": role, "password": password, "email": f"{username}@load.invalid",
                        "unit_id": unit.id if kind == "unit" else None,
                        "leader_unit_ids": leader_units if kind == "leader" else []}  # fmt: skip
                user, _generated = user_services.create_user(data, actor=None)
            else:
                user_services.reset_password(user, actor=None, password=password)
                user.is_active = True
                if kind == "unit":
                    user.unit_id = unit.id
            user.must_change_password = False
            users[kind] = (username, password)
        found = {"unit_id": unit.id, "unit_code": unit.code, "unit_name": unit.name}
        db.session.commit()
        db.engine.dispose()
    return {**found, "users": users, "key": key,
            "problems": problems}  # fmt: skip


def retire_users(url: str, storage: str) -> None:
    """Deactivate the load's users (they stay out of draws and lists until the next run)."""
    from sqlalchemy import update

    from tracker import create_app
    from tracker.auth.models import User
    from tracker.extensions import db

    app = create_app(_config(url, storage))
    with app.app_context():
        db.session.execute(update(User).where(User.username.in_(LOAD_USERS.values())).values(is_active=False))
        db.session.commit()
        db.engine.dispose()


# ---- gunicorn and locust -------------------------------------------------------------------------


def _up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:  # noqa: S310 - loopback
            return answer.status == 200
    except OSError:
        return False


def start_gunicorn(url: str, port: int, workers: int, threads: int, storage: str, key: str, log_path: Path):
    env = {
        **os.environ,
        "TRACKER_ENV": "production",
        "DATABASE_URL": url,
        "SECRET_KEY": "load-" + secrets.token_urlsafe(32),
        "FIELD_ENCRYPTION_KEYS": key,
        "AUDIT_HMAC_KEY": os.environ.get("AUDIT_HMAC_KEY") or "load-audit-" + secrets.token_urlsafe(24),
        "SESSION_COOKIE_SECURE": "0",  # plain HTTP on loopback; production keeps Secure cookies
        "STORAGE_DIR": storage,
        "STORAGE_BACKEND": "dir",
        "RATELIMIT_STORAGE_URI": "memory://",
        "PROXY_HOPS": "0",
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
        "WEB_THREADS": str(threads),
        "DB_POOL_SIZE": str(max(5, threads)),
        "LOG_LEVEL": "warning",
    }
    env.pop("TRACKER_NOW", None)
    if _up(port):
        raise SystemExit(f"port {port} is already answering; choose another with --port")
    log_file = open(log_path, "w")  # noqa: SIM115 - closed in stop_gunicorn
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "-c", "deploy/gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while not _up(port):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_gunicorn(process, log_file)
            raise SystemExit(f"gunicorn did not start; its log:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.5)
    return process, log_file


def stop_gunicorn(process, log_file) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log_file.close()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _num(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse_stats(prefix: str) -> tuple[list[dict], dict]:
    """(per-request rows, the Aggregated row) of PREFIX_stats.csv."""
    rows, total = [], {}
    with open(f"{prefix}_stats.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            item = {
                "method": row["Type"],
                "name": row["Name"],
                "requests": int(row["Request Count"]),
                "failures": int(row["Failure Count"]),
                "p50": _num(row["50%"]),
                "p95": _num(row["95%"]),
                "p99": _num(row["99%"]),
                "avg": _num(row["Average Response Time"]),
                "max": _num(row["Max Response Time"]),
                "rps": _num(row["Requests/s"]),
            }
            if row["Name"] == "Aggregated":
                total = item
            else:
                rows.append(item)
    return rows, total


def parse_failures(prefix: str) -> list[dict]:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return [
            {"method": r["Method"], "name": r["Name"], "error": r["Error"], "occurrences": int(r["Occurrences"])}
            for r in csv.DictReader(fh)
        ]


def percentile(ordered: list[float], share: float) -> float | None:
    """The nearest-rank percentile of ORDERED (sorted)."""
    if not ordered:
        return None
    return ordered[max(0, min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1))]


def steady_state(path: Path) -> dict:
    """Figures of the requests that started after the last login had answered, logins excluded (the
    50 logins of the first seconds queue on argon2 and are not what 50 users working look like),
    from the samples the locustfile wrote."""
    if not path.exists():
        return {}
    with path.open(newline="") as fh:
        samples = [(float(t), method, name, float(ms), failed == "1") for t, method, name, ms, failed in csv.reader(fh)]
    if not samples:
        return {}
    first = min(t for t, *_rest in samples)
    logins = [t + ms / 1000 for t, _m, name, ms, _f in samples if name.endswith("/login")]
    since = max(logins) if logins else first
    kept = [(t, ms, failed) for t, _m, name, ms, failed in samples if t >= since and not name.endswith("/login")]
    if not kept:
        return {}
    times = sorted(ms for _t, ms, _f in kept)
    span = max(t + ms / 1000 for t, ms, _f in kept) - since
    return {
        "from_second": round(since - first, 1),
        "requests": len(kept),
        "failures": sum(1 for *_rest, failed in kept if failed),
        "p50": percentile(times, 0.50),
        "p95": percentile(times, 0.95),
        "p99": percentile(times, 0.99),
        "rps": len(kept) / span if span > 0 else None,
    }


def parse_exceptions(prefix: str) -> list[dict]:
    """Errors raised inside the journeys themselves (not requests): a journey that broke."""
    path = Path(f"{prefix}_exceptions.csv")
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return [{"count": int(r["Count"]), "message": r["Message"], "traceback": r["Traceback"][-600:]}
                for r in csv.DictReader(fh)]  # fmt: skip


def run_load(
    database_url: str = DEFAULT_URL,
    users: int = 50,
    spawn_rate: int = 10,
    seconds: int = 120,
    port: int = 8099,
    workers: int = 2,
    threads: int = 4,
) -> dict:
    """Run the load; returns {users, seconds, requests, failures, rps, p50, p95, p99 (the Aggregated
    row, also as `aggregated`), races, steady: {the same from the end of the logins}, target_p95_ms,
    met (on the whole run), rows: [per request name], failure_list, ...} (times in ms)."""
    locust = ensure_locust()
    load_before = round(os.getloadavg()[0], 1)
    work = Path(tempfile.mkdtemp(prefix="bench_load_"))
    storage = str(work / "storage")
    log(f"preparing {database_url.rsplit('/', 1)[-1]} ...")
    prepared = prepare(database_url, storage)
    log(f"  {prepared['problems']:,} problems; unit user in {prepared['unit_code']} {prepared['unit_name']}")
    gunicorn_log = work / "gunicorn.log"
    process, log_file = start_gunicorn(
        database_url, port, workers, threads, storage, prepared["key"], gunicorn_log
    )  # fmt: skip
    prefix = str(work / "load")
    samples = work / "samples.csv"
    env = {**os.environ, "LOAD_UNIT_ID": str(prepared["unit_id"]), "LOAD_UNIT_CODE": prepared["unit_code"],
           "LOAD_SAMPLES": str(samples)}  # fmt: skip
    for kind, (username, password) in prepared["users"].items():
        env[f"LOAD_{kind.upper()}_USER"], env[f"LOAD_{kind.upper()}_PASSWORD"] = username, password
    command = [
        str(locust), "-f", str(LOCUSTFILE), "--headless", "-u", str(users), "-r", str(spawn_rate),
        "-t", f"{seconds}s", "--host", f"http://127.0.0.1:{port}", "--csv", prefix, "--only-summary",
        "--stop-timeout", "10", "--loglevel", "WARNING",
    ]  # fmt: skip
    log(f"locust: {users} users (spawn {spawn_rate}/s) for {seconds} s against gunicorn "
        f"{workers} workers x {threads} threads on :{port} ...")  # fmt: skip
    try:
        for _ in range(2 * workers * threads):  # warm up: every worker connects and compiles its templates
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=30).read()  # noqa: S310 - loopback
        started, cpu_before = time.monotonic(), _children_cpu()
        run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds + 180)
        wall, cpu_locust = time.monotonic() - started, _children_cpu() - cpu_before
    finally:
        cpu_before = _children_cpu()
        stop_gunicorn(process, log_file)
        cpu_gunicorn = _children_cpu() - cpu_before  # its workers' too: the master reaps them
        retire_users(database_url, storage)
    if not Path(f"{prefix}_stats.csv").exists():
        raise SystemExit(f"locust wrote no statistics (exit {run.returncode}):\n{run.stderr[-3000:]}")
    rows, total = parse_stats(prefix)
    failures = parse_failures(prefix)
    exceptions = parse_exceptions(prefix)
    server_log = gunicorn_log.read_text()
    statuses = collections.Counter(re.findall(r'" (\d{3}) ', server_log))  # the access log's status column
    shutil.rmtree(storage, ignore_errors=True)  # the evidence uploaded; the CSV files and the log stay
    result = {
        "database": database_url.rsplit("/", 1)[-1],
        "problems": prepared["problems"],
        "users": users,
        "spawn_rate": spawn_rate,
        "seconds": seconds,
        "wall_seconds": round(wall, 1),
        "workers": workers,
        "threads": threads,
        "aggregated": total,
        "races": sum(r["requests"] for r in rows if "[race " in r["name"]),
        "requests": total.get("requests", 0),
        "failures": total.get("failures", 0),
        "rps": total.get("rps"),
        "p50": total.get("p50"),
        "p95": total.get("p95"),
        "p99": total.get("p99"),
        "max": total.get("max"),
        "steady": steady_state(samples),
        "target_p95_ms": TARGET_P95_MS,
        "met": bool(total) and total["failures"] == 0 and not exceptions and (total["p95"] or 0) <= TARGET_P95_MS,
        "rows": rows,
        "failure_list": failures,
        "journey_errors": exceptions,
        "statuses": dict(sorted(statuses.items())),
        "server_tracebacks": server_log.count("Traceback"),
        "locust_exit": run.returncode,
        "cpu_seconds": {"locust": round(cpu_locust, 1), "gunicorn": round(cpu_gunicorn, 1)},
        "load_average_before": load_before,
        "machine": f"{platform.node()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "files": str(work),
    }
    if run.returncode not in (0, 1):  # 1: some request failed (listed); anything else: locust itself
        log(run.stderr[-3000:])
    return result


def markdown(result: dict) -> str:
    def ms(value):
        return "—" if value is None else f"{value:.0f}"

    lines = [
        f"Load test: {result['users']} users for {result['seconds']} s, gunicorn {result['workers']} workers × "
        f"{result['threads']} threads, PostgreSQL {result['database']} ({result['problems']:,} problems); "
        f"{result['machine']}",
        "",
        "| request | requests | failures | p50 ms | p95 ms | p99 ms | req/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in sorted(result["rows"], key=lambda r: (r["name"], r["method"])):
        name = row["name"] if row["name"].startswith(row["method"]) else f"{row['method']} {row['name']}"
        lines.append(
            f"| {name} | {row['requests']} | {row['failures']} | {ms(row['p50'])} | {ms(row['p95'])} | "
            f"{ms(row['p99'])} | {row['rps'] or 0:.2f} |"
        )
    verdict = "met" if result["met"] else "MISSED"
    lines.append(
        f"| **all** | **{result['requests']}** | **{result['failures']}** | **{ms(result['p50'])}** | "
        f"**{ms(result['p95'])}** | **{ms(result['p99'])}** | **{result['rps'] or 0:.2f}** |"
    )
    lines += ["", f"Goal p95 ≤ {result['target_p95_ms']:.0f} ms and 0 errors: {verdict} "
              f"(p95 {ms(result['p95'])} ms, {result['failures']} failures; {result['races']} legitimate "
              "conflicts between users, answered 409/422 by the app, counted as successes)."]  # fmt: skip
    steady = result["steady"]
    if steady:
        lines.append(
            f"Steady state (requests from {steady['from_second']:.0f} s on, when the last login had answered; "
            f"logins excluded): {steady['requests']} requests, {steady['failures']} failures, p50 {ms(steady['p50'])} ms, "
            f"p95 {ms(steady['p95'])} ms, p99 {ms(steady['p99'])} ms, {steady['rps'] or 0:.1f} req/s."
        )
    cpu = result["cpu_seconds"]
    lines.append(
        f"Answers of the server: {result['statuses']}; tracebacks in its log: {result['server_tracebacks']}. "
        f"CPU: gunicorn {cpu['gunicorn']:.0f} s, locust {cpu['locust']:.0f} s (same machine) in {result['wall_seconds']:.0f} s; "
        f"load average {result['load_average_before']} before the run."
    )
    for error in result["journey_errors"]:
        lines.append(f"- journey error ×{error['count']}: {error['message']}")
    for failure in result["failure_list"]:
        lines.append(f"- failure ×{failure['occurrences']}: {failure['method']} {failure['name']}: {failure['error']}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_LOAD_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args(argv)
    result = run_load(
        args.database_url, args.users, args.spawn_rate, args.seconds, args.port, args.workers, args.threads
    )  # fmt: skip
    log(markdown(result))
    log(RESULT_PREFIX + json.dumps({k: v for k, v in result.items() if k != "rows"}, ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(result, ensure_ascii=False, indent=2))
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())

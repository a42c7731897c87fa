"""Operations: /healthz for monitoring (the database, the scheduler's heartbeat, the last deadline
scan) and logs with request ids, as JSON on request, without personal data."""

import io
import json
import logging
from datetime import timedelta

from sqlalchemy import select, text

from tracker.alerts.models import JobLease
from tracker.core import clock, logs
from tracker.extensions import db
from tracker.jobs.cli import run_job
from tracker.jobs.registry import Job, jobs


def _job(name):
    return next(job for job in jobs() if job.id == name)


def test_health_is_degraded_until_the_scheduler_has_run_and_ok_after(app, client, make):
    make.org()
    clock.pin("2026-10-12T09:00:00")
    answer = client.get("/healthz")
    body = answer.get_json()
    assert answer.status_code == 200 and body["database"] == "ok"
    assert body["status"] == "degraded" and body["scheduler"] == {"last_seen": None, "fresh": False}
    assert body["last_scan"] is None

    assert run_job(app, _job("deadline_scan")) and run_job(app, _job("deliver"))
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["scheduler"]["fresh"] is True
    assert body["last_scan"]["ok"] is True and body["last_scan"]["at"].startswith("2026-10-12T01:00")

    clock.pin("2026-10-12T09:06:00")  # nothing ran for six minutes: the scheduler is gone
    body = client.get("/healthz").get_json()
    assert body["status"] == "degraded" and body["scheduler"]["fresh"] is False


def test_a_failing_job_is_recorded_and_a_failed_scan_degrades_health(app, client, make):
    make.org()
    clock.pin("2026-10-12T09:00:00")

    def broken():
        raise RuntimeError("the scan broke")

    assert run_job(app, _job("deliver"))
    assert not run_job(app, Job("deadline_scan", broken, "interval", {"minutes": 15}))
    with app.app_context():
        row = db.session.scalar(select(JobLease).where(JobLease.name == "deadline_scan"))
        assert row.last_ok is False and row.last_run_at is not None
    body = client.get("/healthz").get_json()
    assert body["scheduler"]["fresh"] is True and body["last_scan"]["ok"] is False and body["status"] == "degraded"


def test_every_answer_carries_a_request_id_and_keeps_a_sane_one_from_the_proxy(client):
    made = client.get("/login").headers["X-Request-ID"]
    assert len(made) == 32 and made != client.get("/login").headers["X-Request-ID"]
    assert client.get("/login", headers={"X-Request-ID": "nginx-0123abcd"}).headers["X-Request-ID"] == "nginx-0123abcd"
    forged = client.get("/login", headers={"X-Request-ID": "<script>alert(1)</script>"}).headers["X-Request-ID"]
    assert len(forged) == 32 and "<" not in forged


def test_json_request_lines_carry_the_id_and_no_query_string(app, client, make):
    make.org()
    out = io.StringIO()
    handler = logs.handler("json", out)
    logs.requests_log.addHandler(handler)
    logs.requests_log.setLevel(logging.INFO)
    app.config["LOG_REQUESTS"] = True
    try:
        client.get("/track?code=ABCDEFGHJK&phone=13800138000", headers={"X-Request-ID": "req-00000001"})
    finally:
        app.config["LOG_REQUESTS"] = False
        logs.requests_log.removeHandler(handler)
    line = json.loads(out.getvalue().strip().splitlines()[-1])
    assert line["request_id"] == "req-00000001" and line["path"] == "/track" and line["status"] == 200
    assert line["method"] == "GET" and line["endpoint"] == "public.track" and line["ms"] >= 0
    assert "13800138000" not in out.getvalue() and "ABCDEFGHJK" not in out.getvalue()


def test_the_text_format_names_the_request_too(app):
    out = io.StringIO()
    handler = logs.handler("text", out)
    with app.test_request_context("/"):
        from flask import g

        g.request_id = "req-00000002"
        record = logging.LogRecord("tracker.x", logging.WARNING, __file__, 1, "something %s", ("happened",), None)
        handler.handle(record)
    assert "[req-00000002]: something happened" in out.getvalue()


def test_the_scheduler_stale_limit_is_a_setting(app, client, make):
    make.org()
    clock.pin("2026-10-12T09:00:00")
    assert run_job(app, _job("deadline_scan"))
    clock.pin(clock.now() + timedelta(minutes=20))
    app.config["SCHEDULER_STALE_MINUTES"] = 30
    try:
        assert client.get("/healthz").get_json()["status"] == "ok"
    finally:
        app.config["SCHEDULER_STALE_MINUTES"] = 5


def test_the_log_level_is_taken_in_either_case(app):
    """LOG_LEVEL is shared with deploy/gunicorn.conf.py, which spells levels in lower case."""
    root = logging.getLogger()
    before = root.level, list(root.handlers)
    app.config["LOG_LEVEL"] = "warning"
    try:
        logs.configure(app)
        assert root.level == logging.WARNING
        assert any(getattr(h, "_tracker", False) for h in root.handlers)
    finally:
        app.config["LOG_LEVEL"] = "INFO"
        root.setLevel(before[0])
        for handler in [h for h in root.handlers if h not in before[1]]:
            root.removeHandler(handler)


def test_the_nightly_statistics_job_gives_sqlite_its_planner_statistics(app, make):
    """Without statistics SQLite may read a whole table for a unit's ledger; the job ANALYZEs."""
    make.org()
    make.problem()
    with app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
        if sqlite:
            db.session.execute(text("DROP TABLE IF EXISTS sqlite_stat1"))
            db.session.commit()
    assert run_job(app, _job("statistics"))
    with app.app_context():
        if sqlite:
            analysed = db.session.scalars(text("SELECT DISTINCT tbl FROM sqlite_stat1")).all()
            assert "problems" in analysed and "intake_records" in analysed
        row = db.session.scalar(select(JobLease).where(JobLease.name == "statistics"))
        assert row.last_ok is True

"""The one list of scheduled jobs. Each job is a plain function run inside an app context; each is
idempotent, so a second run (or a second scheduler) changes nothing."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import text

from tracker.audit import services as audit_services
from tracker.core import calendar, clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    id: str
    func: Callable
    trigger: str  # "cron" or "interval"
    args: dict = field(default_factory=dict)
    description: str = ""


def check_calendar_coverage():
    """Warn when next year's holidays are only the statutory fallback (make-up days unknown)."""
    next_year = clock.today().year + 1
    status = calendar.year_status(next_year)
    if not status["complete"]:
        log.warning("calendar for %s is the statutory fallback: enter the official arrangement", next_year)
    return status


def verify_audit_chain():
    report = audit_services.verify()
    if report.ok:
        log.info("audit chain intact (%s events)", report.checked)
    else:
        log.error("audit chain broken at event %s: %s", report.bad_event_id, report.reason)
    return report


def resume_imports():
    """Finish import batches whose web thread died (queued or stale for over two minutes)."""
    from tracker.intake.imports import resume_stale

    resumed = resume_stale()
    if resumed:
        log.info("resumed import batches %s", resumed)
    return resumed


def deadline_scan():
    from tracker.alerts.scan import scan

    report = scan()
    log.info(
        "deadline scan: %s candidates, new %s, resolved %s, notices %s",
        report.candidates,
        report.new,
        report.resolved,
        report.notices,
    )
    return report


def deliver():
    from tracker.alerts.services import deliver_pending

    return deliver_pending()


def leader_digest():
    from tracker.alerts.services import daily_digest

    return daily_digest()


def weekly_summary():
    from tracker.alerts.services import weekly_summary as send

    return send()


def refresh_statistics():
    """SQLite keeps no planner statistics by itself: without them a new index (after a migration) or
    a grown table can get a plan that reads every row (a unit's ledger at 1,000,000 problems: 2.6 s
    instead of 1 ms). ANALYZE them nightly. PostgreSQL's autovacuum does this already."""
    from tracker.extensions import db

    if db.engine.dialect.name != "sqlite":
        return False
    db.session.execute(text("PRAGMA analysis_limit=0"))
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    log.info("planner statistics refreshed")
    return True


def jobs(schedules: dict | None = None) -> list[Job]:
    """The jobs with their triggers; SCHEDULES (admin settings) may move the times."""
    s = {
        "scan_minutes": 15,
        "digest_hour": 8,
        "digest_minute": 30,
        "weekly_day": "mon",
        "weekly_hour": 9,
        "weekly_minute": 0,
        **(schedules or {}),
    }
    return [
        Job(
            "deadline_scan",
            deadline_scan,
            "interval",
            {"minutes": int(s["scan_minutes"])},
            "Deadline scan: due soon, overdue, escalation, notices",
        ),
        Job("deliver", deliver, "interval", {"minutes": 1}, "Send pending e-mails and webhook posts (with retries)"),
        Job(
            "leader_digest",
            leader_digest,
            "cron",
            {"hour": int(s["digest_hour"]), "minute": int(s["digest_minute"])},
            "Leaders' daily overdue list (working days only)",
        ),
        Job(
            "weekly_summary",
            weekly_summary,
            "cron",
            {"day_of_week": s["weekly_day"], "hour": int(s["weekly_hour"]), "minute": int(s["weekly_minute"])},
            "Weekly summary",
        ),
        Job("resume_imports", resume_imports, "interval", {"minutes": 1}, "Finish import batches whose runner stopped"),
        Job(
            "calendar_coverage",
            check_calendar_coverage,
            "cron",
            {"hour": 8, "minute": 0},
            "Warn when next year's holiday arrangement has not been entered",
        ),
        Job("audit_verify", verify_audit_chain, "cron", {"hour": 2, "minute": 30}, "Verify the audit hash chain"),
        Job(
            "statistics",
            refresh_statistics,
            "cron",
            {"hour": 3, "minute": 15},
            "Refresh the database's planner statistics (SQLite)",
        ),
    ]

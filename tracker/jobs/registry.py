"""The one list of scheduled jobs. Each job is a plain function run inside an app context; each is
idempotent, so a second run (or a second scheduler) changes nothing."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

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


JOBS = [
    Job(
        "resume_imports",
        resume_imports,
        "interval",
        {"minutes": 1},
        "Every minute: finish import batches whose runner stopped",
    ),
    Job(
        "calendar_coverage",
        check_calendar_coverage,
        "cron",
        {"hour": 8, "minute": 0},
        "Daily: warn when next year's holiday arrangement has not been entered",
    ),
    Job("audit_verify", verify_audit_chain, "cron", {"hour": 2, "minute": 30}, "Nightly: verify the audit hash chain"),
]

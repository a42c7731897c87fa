"""One elected runner per job: a lease row that a scheduler takes (or renews) before running the
job. Two schedulers started by mistake, or on two machines, run each job once. Works the same on
SQLite and PostgreSQL; a crashed holder's lease simply expires."""

import os
import socket
from datetime import timedelta

from sqlalchemy import or_, select, update

from tracker.alerts.models import JobLease
from tracker.core import clock
from tracker.core.db import insert_ignoring_conflicts
from tracker.extensions import db

HOLDER = f"{socket.gethostname()}:{os.getpid()}"


def acquire(name: str, ttl: timedelta, holder: str = HOLDER) -> bool:
    """Take or renew the lease NAME for TTL; True when this holder may run the job now. Commits."""
    now = clock.now()
    db.session.execute(
        insert_ignoring_conflicts(JobLease, ["name"]),
        [{"name": name, "holder": holder, "expires_at": now - timedelta(seconds=1)}],
    )
    taken = db.session.execute(
        update(JobLease)
        .where(JobLease.name == name, or_(JobLease.holder == holder, JobLease.expires_at < now))
        .values(holder=holder, expires_at=now + ttl)
    ).rowcount
    db.session.commit()
    return bool(taken)


def record_run(name: str, ok: bool) -> None:
    """Note that job NAME has just run (OK: without an error). Commits."""
    db.session.execute(update(JobLease).where(JobLease.name == name).values(last_run_at=clock.now(), last_ok=ok))
    db.session.commit()


def last_runs() -> dict:
    """{job name: (last run time or None, ok or None)} of every job that has a lease row."""
    rows = db.session.execute(select(JobLease.name, JobLease.last_run_at, JobLease.last_ok))
    return {name: (at, ok) for name, at, ok in rows}

"""One elected runner per job: a lease row that a scheduler takes (or renews) before running the
job. Two schedulers started by mistake, or on two machines, run each job once. Works the same on
SQLite and PostgreSQL; a crashed holder's lease simply expires."""

import os
import socket
from datetime import timedelta

from sqlalchemy import or_, update

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

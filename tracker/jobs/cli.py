"""`flask scheduler`: run the scheduled jobs in the foreground (one process, never in the web app)."""

import logging
from datetime import timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from tracker.jobs import lease
from tracker.jobs.registry import jobs

log = logging.getLogger(__name__)
LEASE_TTL = timedelta(minutes=10)


def run_job(app, job) -> bool:
    """Run JOB once if this process holds its lease; True when it ran."""
    with app.app_context():
        from tracker.extensions import db

        try:
            if not lease.acquire(job.id, LEASE_TTL):
                log.info("job %s: another scheduler holds the lease; skipped", job.id)
                return False
            job.func()
            db.session.commit()
            lease.record_run(job.id, ok=True)
            return True
        except Exception:
            db.session.rollback()
            log.exception("job %s failed", job.id)
            try:
                lease.record_run(job.id, ok=False)
            except Exception:  # noqa: BLE001 - the database itself may be what failed
                db.session.rollback()
            return False
        finally:
            db.session.remove()


@click.command("scheduler")
@click.option("--list", "list_only", is_flag=True, help="List the jobs and exit.")
@click.option("--once", "once", help="Run one job by id now (through its lease) and exit.")
@with_appcontext
def scheduler_command(list_only, once):
    """Run the scheduler in the foreground until interrupted."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from tracker.settings.services import get_setting

    registry = jobs(get_setting("schedules", {}))
    if list_only:
        for job in registry:
            click.echo(f"{job.id}: {job.trigger} {job.args} – {job.description}")
        return
    app = current_app._get_current_object()
    if once:
        job = next((j for j in registry if j.id == once), None)
        if job is None:
            raise click.ClickException(f"no job {once}; see --list")
        click.echo("ran" if run_job(app, job) else "not run (lease held elsewhere or failed; see the log)")
        return
    from tracker.core import logs

    logs.configure(app)
    scheduler = BlockingScheduler(timezone=app.config["TIMEZONE"])
    from tracker.core import clock

    soon = clock.now() + timedelta(seconds=5)
    for position, job in enumerate(registry):
        # the interval jobs run at start (not in 15 minutes), in the registry's order a few seconds
        # apart: the scan first, then the delivery of what it raised
        first = {"next_run_time": soon + timedelta(seconds=5 * position)} if job.trigger == "interval" else {}
        scheduler.add_job(
            run_job,
            job.trigger,
            args=(app, job),
            id=job.id,
            name=job.description,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=300,
            **first,
            **job.args,
        )
    click.echo(f"scheduler started with {len(registry)} jobs ({app.config['TIMEZONE']}); Ctrl-C stops it")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        click.echo("scheduler stopped")

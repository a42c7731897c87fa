"""`flask scheduler`: run the scheduled jobs in the foreground (one process, never in the web app)."""

import logging

import click
from flask import current_app
from flask.cli import with_appcontext

from tracker.jobs.registry import JOBS

log = logging.getLogger(__name__)


def _runner(app, job):
    def run():
        with app.app_context():
            from tracker.extensions import db

            try:
                job.func()
                db.session.commit()
            except Exception:
                db.session.rollback()
                log.exception("job %s failed", job.id)
            finally:
                db.session.remove()

    return run


@click.command("scheduler")
@click.option("--list", "list_only", is_flag=True, help="List the jobs and exit.")
@with_appcontext
def scheduler_command(list_only):
    """Run the scheduler in the foreground until interrupted."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    if list_only:
        for job in JOBS:
            click.echo(f"{job.id}: {job.trigger} {job.args} – {job.description}")
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = current_app._get_current_object()
    scheduler = BlockingScheduler(timezone=app.config["TIMEZONE"])
    for job in JOBS:
        scheduler.add_job(
            _runner(app, job),
            job.trigger,
            id=job.id,
            name=job.description,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=300,
            **job.args,
        )
    click.echo(f"scheduler started with {len(JOBS)} jobs ({app.config['TIMEZONE']}); Ctrl-C stops it")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        click.echo("scheduler stopped")

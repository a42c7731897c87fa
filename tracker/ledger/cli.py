"""`flask ledger …`: maintenance of the ledger's summary tables."""

import click
from flask.cli import AppGroup

from tracker.extensions import db

ledger_cli = AppGroup("ledger", help="The problem ledger.")


@ledger_cli.command("rebuild-counts")
def rebuild_counts_command():
    """Recount problem_counts (the ledger's counts bar) and remake its triggers, should the bar ever
    disagree with the list."""
    from tracker.ledger import counts

    counts.SUMMARY.rebuild(db.session.connection())
    db.session.commit()
    click.echo("problem_counts rebuilt")

"""`flask audit verify`."""

import json
import sys

import click
from flask.cli import AppGroup

from tracker.audit import services

audit_cli = AppGroup("audit", help="Audit log commands.")


@audit_cli.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def verify_command(as_json):
    """Check the hash chain; exit 0 when intact, 1 with the first bad event otherwise."""
    report = services.verify()
    if as_json:
        click.echo(json.dumps(report.__dict__, ensure_ascii=False))
    elif report.ok:
        click.echo(f"audit chain intact: {report.checked} events")
    else:
        click.echo(
            f"audit chain BROKEN at event {report.bad_event_id}: {report.reason} "
            f"({report.checked} events before it are intact)"
        )
    sys.exit(0 if report.ok else 1)

"""`flask calendar check`."""

import json

import click
from flask.cli import AppGroup

from tracker.core import calendar, clock

calendar_cli = AppGroup("calendar", help="Working-day calendar commands.")


@calendar_cli.command("check")
@click.option("--year", type=int, help="Check one year (default: this year and next).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def check_command(year, as_json):
    """Say which years the holiday data covers and which fall back to the statutory holidays."""
    years = [year] if year else [clock.today().year, clock.today().year + 1]
    statuses = [calendar.year_status(y) for y in years]
    covered = calendar.package_years()
    if as_json:
        click.echo(json.dumps({"package_years": [covered.start, covered.stop - 1], "years": statuses}))
        return
    click.echo(f"chinese-calendar data: {covered.start}–{covered.stop - 1}")
    labels = {
        "package": "official data installed",
        "override": "entered by an admin",
        "statutory": "FALLBACK: statutory holidays + weekends only; make-up working days unknown",
    }
    for status in statuses:
        click.echo(f"{status['year']}: {labels[status['source']]} ({status['overrides']} overrides)")

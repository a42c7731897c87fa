"""`flask units create`."""

import json

import click
from flask.cli import AppGroup

from tracker.core.errors import ValidationFailed
from tracker.extensions import db
from tracker.org import queries, services

units_cli = AppGroup("units", help="Units (责任单位).")


@units_cli.command("create")
@click.argument("code")
@click.argument("name")
@click.option("--parent", "parent_code", help="Code of the parent unit.")
@click.option("--json", "as_json", is_flag=True)
def create_command(code, name, parent_code, as_json):
    """Create a unit CODE called NAME."""
    parent = None
    if parent_code:
        parent = queries.unit_by_code(parent_code)
        if parent is None:
            raise click.ClickException(f"unknown parent unit code: {parent_code}")
    try:
        unit = services.create_unit(
            {"code": code, "name": name, "parent_id": parent.id if parent else None}, actor=None
        )
    except ValidationFailed as failed:
        db.session.rollback()
        raise click.ClickException("; ".join(failed.fields.values()) or failed.message) from None
    db.session.commit()
    if as_json:
        click.echo(json.dumps({"id": unit.id, "code": unit.code, "name": unit.name}, ensure_ascii=False))
    else:
        click.echo(f"created unit {unit.code} {unit.name}")

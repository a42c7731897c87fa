"""`flask demo seed`."""

import json

import click
from flask.cli import AppGroup

from tracker.access.policy import ROLE_LABELS
from tracker.demo import services
from tracker.extensions import db

demo_cli = AppGroup("demo", help="Demo data.")


@demo_cli.command("seed")
@click.option("--seed", "seed_value", type=int, help="Random seed (same seed, same passwords).")
@click.option("--if-empty", is_flag=True, help="Do nothing (exit 0) when the database already has users.")
@click.option("--json", "as_json", is_flag=True)
def seed_command(seed_value, if_empty, as_json):
    """Create demo units and one user per role; prints the passwords once."""
    if if_empty and not services.is_empty():
        click.echo("database already has data; demo seed skipped")
        return
    try:
        logins = services.seed(seed_value)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    db.session.commit()
    if as_json:
        click.echo(
            json.dumps(
                {"users": [{"username": u.username, "role": u.role, "password": p} for u, p in logins]},
                ensure_ascii=False,
            )
        )
        return
    click.echo("Demo logins (shown once):")
    for user, password in logins:
        unit = user.unit.name if user.unit else "、".join(u.name for u in user.leader_of) or "全部"
        click.echo(f"  {ROLE_LABELS[user.role]:<6} {user.username:<10} {password}   ({user.name}，{unit})")

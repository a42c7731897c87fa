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
@click.option(
    "--problems",
    "problem_count",
    type=click.IntRange(min=0),
    default=0,
    help="Also generate N problems (3 intake records each) for trying the ledger at scale.",
)
@click.option("--json", "as_json", is_flag=True)
def seed_command(seed_value, if_empty, problem_count, as_json):
    """Create demo units and one user per role (passwords printed once); with --problems N on a
    database that already has them, only add N generated problems."""
    logins = []
    if services.is_empty():
        logins = services.seed(seed_value)
        db.session.commit()
    elif if_empty:
        click.echo("database already has data; demo seed skipped")
        return
    elif not problem_count:
        raise click.ClickException("the database already has users; use --problems N to add generated problems")
    generated = services.seed_problems(problem_count, seed_value) if problem_count else {}
    if as_json:
        users = [{"username": u.username, "role": u.role, "password": p} for u, p in logins]
        click.echo(json.dumps({"users": users, **generated}, ensure_ascii=False))
        return
    if generated:
        click.echo(f"generated {generated['problems']} problems and {generated['intake_records']} intake records")
    if not logins:
        return
    click.echo("Demo logins (shown once):")
    for user, password in logins:
        unit = user.unit.name if user.unit else "、".join(u.name for u in user.leader_of) or "全部"
        click.echo(f"  {ROLE_LABELS[user.role]:<6} {user.username:<10} {password}   ({user.name}，{unit})")

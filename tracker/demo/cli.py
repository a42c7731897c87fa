"""`flask demo seed`."""

import json

import click
from flask.cli import AppGroup
from flask_babel import gettext as _

from tracker.access.policy import ROLE_LABELS
from tracker.demo import generator, services
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
    help="Also generate N problems (3 intake records each) for trying the ledger at scale "
    "(set-based, the benchmarks' generator; a progress bar unless --json).",
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
    # read before generating: the generator ends the session (the users would be detached)
    shown = [
        (u.username, u.role, p, u.name, u.unit.name if u.unit else "、".join(x.name for x in u.leader_of) or "全部")
        for u, p in logins
    ]
    generated = _generate(problem_count, seed_value, show_progress=not as_json) if problem_count else {}
    if as_json:
        users = [{"username": name, "role": role, "password": p} for name, role, p, _n, _u in shown]
        click.echo(json.dumps({"users": users, **generated}, ensure_ascii=False))
        return
    if generated:
        click.echo(
            f"generated {generated['problems']} problems and {generated['intake_records']} intake records "
            f"in {generated['seconds']:.1f} s ({generated['rate']:,.0f} problems/s)"
        )
    if not shown:
        return
    click.echo("Demo logins (shown once):")
    for username, role, password, name, unit in shown:
        click.echo(f"  {ROLE_LABELS[role]:<6} {username:<10} {password}   ({name}，{unit})")


def _generate(count: int, seed_value, show_progress: bool) -> dict:
    """COUNT generated problems (tracker.demo.generator.fill), the bar advancing chunk by chunk."""
    seed = 7 if seed_value is None else seed_value
    if not show_progress:
        figures = generator.fill(count, seed=seed, quiet=True)
    else:
        with click.progressbar(length=count, label=_("生成问题"), show_pos=True, show_eta=True) as bar:
            figures = generator.fill(count, seed=seed, quiet=True, progress=bar.update)
    keys = ("problems", "intake_records", "followups", "extensions", "notices", "seconds", "cpu_seconds", "rate")
    return {key: figures[key] for key in keys}

"""`flask users create`."""

import json
import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from tracker.access.policy import Role
from tracker.auth import services
from tracker.auth.models import User
from tracker.core.errors import ValidationFailed
from tracker.extensions import db
from tracker.org import queries as org_queries

users_cli = AppGroup("users", help="User accounts.")


@users_cli.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--unit", "unit_codes", multiple=True, help="Unit code (a leader may give several).")
@click.option("--name", help="Display name (default: the user name).")
@click.option("--email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--json", "as_json", is_flag=True)
def create_command(username, role, unit_codes, name, email, password_stdin, as_json):
    """Create a user; prints a generated password once unless --password-stdin is given."""
    units = []
    for code in unit_codes:
        unit = org_queries.unit_by_code(code)
        if unit is None:
            raise click.ClickException(f"unknown unit code: {code}")
        units.append(unit)
    if role == Role.UNIT and len(units) != 1:
        raise click.ClickException("a unit user needs exactly one --unit")
    if role not in (Role.UNIT, Role.LEADER) and units:
        raise click.ClickException("--unit is only for unit users and leaders")
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    data = {
        "username": username,
        "name": name or username,
        "role": role,
        "email": email,
        "password": password,
        "unit_id": units[0].id if role == Role.UNIT else None,
        "leader_unit_ids": [u.id for u in units] if role == Role.LEADER else [],
        "must_change_password": False,
    }
    try:
        user, generated = services.create_user(data, actor=None)
    except ValidationFailed as failed:
        db.session.rollback()
        details = "; ".join(f"{k}: {v}" for k, v in failed.fields.items()) or failed.message
        raise click.ClickException(details) from None
    user.must_change_password = False  # set up by an operator; they hand over the password
    db.session.commit()
    if as_json:
        click.echo(
            json.dumps(
                {"id": user.id, "username": user.username, "role": user.role, "password": generated}, ensure_ascii=False
            )
        )
    else:
        click.echo(f"created user {user.username} ({user.role})")
        if generated:
            click.echo(f"password: {generated}")


tokens_cli = AppGroup("tokens", help="API tokens.")


@tokens_cli.command("create")
@click.argument("name")
@click.option("--user", "username", required=True, help="The user the token acts as.")
@click.option("--json", "as_json", is_flag=True)
def create_token_command(name, username, as_json):
    """Create an API token; it is printed once and stored only as a hash."""
    user = db.session.scalar(select(User).where(User.username == services.normalise_username(username)))
    if user is None or not user.is_active:
        raise click.ClickException(f"no active user {username}")
    token, plain = services.create_token(user, name, actor=None)
    db.session.commit()
    if as_json:
        click.echo(json.dumps({"id": token.id, "name": token.name, "user": user.username, "token": plain}))
    else:
        click.echo(f"token for {user.username} ({token.name}), shown once:")
        click.echo(plain)

"""`flask intake import|new-key|rotate-keys`."""

import json
import sys
from pathlib import Path

import click
from cryptography.fernet import Fernet
from flask.cli import AppGroup

from tracker.core.errors import ValidationFailed
from tracker.extensions import db
from tracker.intake import imports, services

intake_cli = AppGroup("intake", help="Intake records (差评/投诉).")


def resolve_mapping(headers, profile_name=None, channel=None):
    """(mapping, defaults, profile name) for HEADERS; raises ValidationFailed when no layout fits."""
    defaults = {}
    if profile_name:
        spec = imports.profiles().get(profile_name)
        if spec is None:
            raise ValidationFailed(f"unknown profile: {profile_name} (known: {', '.join(imports.profiles())})")
        mapping, defaults = dict(spec["mapping"]), dict(spec["defaults"])
    else:
        mapping = imports.canonical_mapping(headers)
        if mapping is None:
            profile_name = imports.matching_profile(headers)
            if profile_name is None:
                raise ValidationFailed(
                    "the columns are neither the canonical ones nor a known profile's; "
                    "map them on the import page and save a profile, then use --profile NAME"
                )
            spec = imports.profiles()[profile_name]
            mapping, defaults = dict(spec["mapping"]), dict(spec["defaults"])
    if channel:
        defaults["channel"] = channel
    return mapping, defaults, profile_name


@intake_cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--channel", help="Channel for rows whose file has no channel column (or leaves it empty).")
@click.option("--profile", "profile_name", help="A saved or built-in column mapping profile.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def import_command(file, channel, profile_name, as_json):
    """Import FILE (CSV in UTF-8 or GBK, or XLSX). Exit 0 when the file was processed (rejected rows
    are reported), non-zero when it could not be read at all."""
    try:
        if not file.exists():
            raise ValidationFailed(f"no such file: {file}")
        batch = imports.stage_batch(file.resolve(), file.name, actor=None)
        mapping, defaults, profile_name = resolve_mapping(imports.headers_of(batch), profile_name, channel)
        imports.queue_batch(batch, mapping, defaults, profile_name=profile_name)
        db.session.commit()
    except ValidationFailed as failed:
        db.session.rollback()
        details = "; ".join(f"{k}: {v}" for k, v in failed.fields.items())
        message = failed.message + (f" ({details})" if details else "")
        if as_json:
            click.echo(json.dumps({"error": message}, ensure_ascii=False))
        else:
            click.echo(f"cannot import {file}: {message}", err=True)
        sys.exit(2)
    batch = imports.run_batch(batch.id)
    result = {
        "created": batch.created_count,
        "duplicate": batch.duplicate_count,
        "rejected": batch.rejected_count,
        "batch": batch.id,
        "status": batch.status,
    }
    if batch.status == "failed":
        result["error"] = batch.message
    errors = imports.error_report(batch)
    if as_json:
        result["errors"] = [{"row": r, "column": c, "reason": m} for r, c, m in errors[:100]]
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        click.echo(f"created {result['created']}, duplicate {result['duplicate']}, rejected {result['rejected']}")
        for row, column, reason in errors[:20]:
            click.echo(f"  row {row} {column}: {reason}")
        if len(errors) > 20:
            click.echo(f"  … {len(errors) - 20} more (see the import page for the full report)")
    sys.exit(0 if batch.status == "done" else 1)


@intake_cli.command("new-key")
def new_key_command():
    """Print a new Fernet key for FIELD_ENCRYPTION_KEYS (put it first to rotate)."""
    click.echo(Fernet.generate_key().decode())


@intake_cli.command("rotate-keys")
def rotate_keys_command():
    """Re-encrypt complainant identities and query PINs with the first key of FIELD_ENCRYPTION_KEYS."""
    count = services.rotate_keys()
    db.session.commit()
    click.echo(f"re-encrypted {count} records")


@intake_cli.command("rebuild-counts")
def rebuild_counts_command():
    """Recount intake_daily_counts (the reports' per-day intake figures) and remake its triggers for the
    configured TIMEZONE: after changing TIMEZONE, or should the figures ever disagree with the inbox."""
    from tracker.intake import counts

    counts.rebuild(db.session.connection())
    db.session.commit()
    click.echo("intake_daily_counts rebuilt")

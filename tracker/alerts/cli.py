"""`flask alerts scan|deliver|digest|sink`."""

import json
import sys
import threading
from datetime import date
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from tracker.core import clock
from tracker.extensions import db

alerts_cli = AppGroup("alerts", help="Deadline alerts and notifications.")


@alerts_cli.command("scan")
@click.option("--now", "now", help="Scan as of this ISO-8601 time (default: the clock).")
@click.option("--json", "as_json", is_flag=True)
def scan_command(now, as_json):
    """One deadline scan; prints new and open alerts per kind."""
    from tracker.alerts.scan import KIND_LABELS, scan

    try:
        when = clock.parse(now) if now else None
    except ValueError:
        raise click.ClickException(f"--now is not an ISO-8601 time: {now}") from None
    if when:
        clock.pin(when)
    report = scan(when)
    db.session.commit()
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
        return
    click.echo(
        f"scan at {clock.to_local(report.now):%Y-%m-%d %H:%M}: {report.candidates} candidates, "
        f"{report.resolved} alerts resolved"
    )
    for kind, label in KIND_LABELS.items():
        click.echo(f"  {label}({kind}): new {report.new.get(kind, 0)}, open {report.open.get(kind, 0)}")
    for number in report.notices:
        click.echo(f"  issued {number}")


@alerts_cli.command("deliver")
def deliver_command():
    """Send pending e-mails and webhook posts now."""
    from tracker.alerts.services import deliver_pending

    counts = deliver_pending()
    db.session.commit()
    click.echo(json.dumps(counts))


@alerts_cli.command("digest")
@click.option("--date", "day", help="The day (default today).")
@click.option("--weekly", is_flag=True, help="The weekly summary instead of the leaders' daily list.")
def digest_command(day, weekly):
    """Send the leaders' daily digest (or the weekly summary) now; nothing twice for the same day."""
    from tracker.alerts.services import daily_digest, weekly_summary

    when = date.fromisoformat(day) if day else clock.today()
    told = weekly_summary(when) if weekly else daily_digest(when)
    db.session.commit()
    click.echo(f"sent to {told} people")


@alerts_cli.command("sink")
@click.option("--smtp-port", default=8025, show_default=True)
@click.option("--http-port", default=8026, show_default=True)
@click.option("--folder", type=click.Path(path_type=Path), help="Where to keep what arrives (default instance/outbox).")
def sink_command(smtp_port, http_port, folder):
    """Development catcher on loopback: an SMTP server and a webhook receiver that print and keep what
    the tracker sends (make run points the demo's e-mail and webhook at it)."""
    from aiosmtpd.controller import Controller

    from tracker.alerts.sink import MailKeeper, serve_webhooks

    folder = folder or Path(current_app.instance_path) / "outbox"
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(MailKeeper(folder), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    click.echo(f"sink: SMTP on 127.0.0.1:{smtp_port}, webhooks on http://127.0.0.1:{http_port}/, kept in {folder}")
    server = serve_webhooks(http_port, folder)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
        controller.stop()
        sys.exit(0)

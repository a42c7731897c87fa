"""Changing audit rows behind the app's back, as someone with direct access to the database could:
the append-only triggers are switched off (PostgreSQL, as the superuser) or dropped (SQLite, as the
owner of the file) for the change and put back after."""

from sqlalchemy import text

from tracker.audit.models import SQLITE_NO_DELETE, SQLITE_NO_UPDATE
from tracker.extensions import db


def tamper(*statements, **params):
    """Run each SQL statement (or callable taking the connection) with the triggers off."""
    is_pg = db.engine.dialect.name == "postgresql"
    with db.engine.begin() as conn:
        if is_pg:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_events_no_update"))
            conn.execute(text("DROP TRIGGER audit_events_no_delete"))
        for statement in statements:
            if callable(statement):
                statement(conn)
            else:
                conn.execute(text(statement), params)
        if is_pg:
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
        else:
            conn.execute(text(SQLITE_NO_UPDATE.statement))
            conn.execute(text(SQLITE_NO_DELETE.statement))
    db.session.expire_all()

"""Small tables read once per request: the unit tree, the calendar overrides, the settings, the
triage rules. A list asks for them for every row; one query serves the whole request.

A value is kept on flask.g for the current request (or, outside a request, for the app context: a
job, a CLI command) and dropped when a flush in this session writes a row of its table, so a
request that changes one of them and reads it again sees its own change; a commit or rollback drops
them all (the ORM objects among them expire then, and another server may have changed the rows).
"""

from flask import g, has_app_context, has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Session

_TABLES: dict[type, set[str]] = {}


def remember(name: str, load, *, table: type):
    """LOAD()'s value, computed once per request; forgotten when a row of TABLE (a model) is written."""
    if not has_app_context():
        return load()
    _TABLES.setdefault(table, set()).add(name)
    owner = request._get_current_object() if has_request_context() else None
    store = g.setdefault("_memo", {})
    entry = store.get(name)
    if entry is None or entry[0] is not owner:
        entry = store[name] = (owner, load())
    return entry[1]


def forget(*names: str) -> None:
    if has_app_context():
        store = g.get("_memo") or {}
        for name in names:
            store.pop(name, None)


@event.listens_for(Session, "after_flush")
def _forget_written(session, _context):
    if not _TABLES or not has_app_context() or not g.get("_memo"):
        return
    for obj in (*session.new, *session.dirty, *session.deleted):
        names = _TABLES.get(type(obj))
        if names:
            forget(*names)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_all(_session):
    if has_app_context():
        g.pop("_memo", None)

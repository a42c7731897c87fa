"""Writing and verifying the audit chain."""

import hashlib
import hmac
import json
import logging
import operator
import os
from dataclasses import dataclass
from datetime import UTC

from flask import current_app, has_app_context
from sqlalchemy import event as sa_event
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tracker.audit.models import GENESIS_HASH, AuditEvent
from tracker.core import clock
from tracker.core.bulk import insert_rows
from tracker.extensions import db

# Any constant works; it only has to be the same for every writer of the chain.
_PG_LOCK_KEY = 727_001
# json.dumps(…, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str), built once.
_CANONICAL_ENCODE = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode
# json.dumps(…, ensure_ascii=False, default=str), built once.
_SAFE_ENCODE = json.JSONEncoder(ensure_ascii=False, default=str).encode
_BULK_COLUMNS = ("action", "object_type", "object_id", "before", "after", "note", "prev_hash", "hash", "mac")
_row_values = operator.itemgetter(*_BULK_COLUMNS[:-2])  # a payload's values in _BULK_COLUMNS' order
anchor_log = logging.getLogger("tracker.audit.anchor")


def _mac_base() -> hmac.HMAC:
    """An HMAC-SHA256 keyed with AUDIT_HMAC_KEY (unset: derived from SECRET_KEY), built once per
    key; callers `.copy()` it. Changing the key makes every older row fail `verify`."""
    config = current_app.config
    source = (config.get("AUDIT_HMAC_KEY") or "", config["SECRET_KEY"])
    cached = current_app.extensions.get("tracker_audit_mac")
    if cached is None or cached[0] != source:
        key = source[0].encode() or hashlib.sha256(b"audit-hmac:" + source[1].encode()).digest()
        cached = (source, hmac.new(key, digestmod=hashlib.sha256))
        current_app.extensions["tracker_audit_mac"] = cached
    return cached[1]


def compute_mac(digest: str, base: hmac.HMAC | None = None) -> str:
    mac = (base or _mac_base()).copy()
    mac.update(digest.encode("ascii"))
    return mac.hexdigest()


def canonical(event: AuditEvent) -> str:
    """The event's content as one stable string: sorted keys, no whitespace, UTC microseconds."""
    payload = {
        "created_at": event.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": str(event.object_id),
        "before": event.before,
        "after": event.after,
        "note": event.note,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(canonical(event).encode("utf-8")).hexdigest()


def _json_safe(value):
    return json.loads(_SAFE_ENCODE(value)) if value is not None else None


def record(actor, action, object_type, object_id, *, before=None, after=None, note=None) -> AuditEvent:
    """Append one event to the chain in the current transaction (the caller commits).

    ACTOR is a User or None for the system. Concurrent writers are serialised (an advisory lock on
    PostgreSQL; SQLite has one writer at a time) and the unique `prev_hash` refuses a fork.
    """
    session = db.session
    head = _chain_head(session)
    entry = AuditEvent(
        created_at=clock.now(),
        actor_id=getattr(actor, "id", None),
        actor_name=getattr(actor, "username", None) or "system",
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=_json_safe(before),
        after=_json_safe(after),
        note=note,
        prev_hash=head,
    )
    entry.hash = compute_hash(entry)
    entry.mac = compute_mac(entry.hash)
    session.add(entry)
    # The lock is held until the transaction ends, so the head stays ours: the next event in this
    # transaction links to it without reading it back (events are inserted in the order added).
    session.info[_HEAD] = entry.hash
    return entry


def record_many(actor, events) -> int:
    """Append many events at once (bulk handling of thousands of records): rows written by
    tracker.core.bulk (COPY on PostgreSQL, executemany on SQLite) instead of one ORM object each,
    chained exactly as `record` chains them, under the same lock. EVENTS is an iterable of dicts with action, object_type, object_id and
    optional before, after, note. Returns the count.
    """
    session = db.session
    session.flush()  # events added by `record` go in first, so that id order stays chain order
    head = _chain_head(session)
    now = clock.now()
    actor_id, actor_name = getattr(actor, "id", None), getattr(actor, "username", None) or "system"
    # What `canonical` makes of each row, with the timestamp formatted once and one prebuilt encoder
    # (json.dumps builds an encoder per call).
    created = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rows = []
    base = _mac_base()
    for item in events:
        payload = {
            "created_at": created,
            "actor_id": actor_id,
            "actor_name": actor_name,
            "action": item["action"],
            "object_type": item["object_type"],
            "object_id": str(item["object_id"]),
            "before": _json_safe(item.get("before")),
            "after": _json_safe(item.get("after")),
            "note": item.get("note"),
            "prev_hash": head,
        }
        digest = hashlib.sha256(_CANONICAL_ENCODE(payload).encode("utf-8")).hexdigest()
        rows.append((*_row_values(payload), digest, compute_mac(digest, base)))
        head = digest
    if not rows:
        return 0
    insert_rows(
        AuditEvent.__table__, _BULK_COLUMNS, rows, {"created_at": now, "actor_id": actor_id, "actor_name": actor_name}
    )
    session.info[_HEAD] = head
    return len(rows)


def _chain_head(session) -> str:
    """The hash the next event links to. The first call in a transaction takes the chain's lock."""
    head = session.info.get(_HEAD)
    if head is None:
        session.flush()  # take the write lock on SQLite before reading the chain's head
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        head = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)) or GENESIS_HASH
    return head


_HEAD = "audit_head"


@sa_event.listens_for(Session, "after_commit")
def _anchor_head(session):
    """After a commit that wrote events, the new head goes outside the database: one line appended
    to AUDIT_ANCHOR_FILE (if set) and one log line. `verify` then finds a chain cut short."""
    head = session.info.pop(_HEAD, None)
    if head is None:
        return
    anchor_log.info("audit head %s", head)
    path = current_app.config.get("AUDIT_ANCHOR_FILE") if has_app_context() else None
    if path:
        line = f"{clock.now().astimezone(UTC).isoformat()} {head}\n".encode("ascii")
        try:  # one short O_APPEND write: whole lines even with several processes appending
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError:
            anchor_log.exception("could not append the audit head to %s", path)


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_head(session, *args):
    session.info.pop(_HEAD, None)


def _anchored_heads() -> set[str]:
    path = current_app.config.get("AUDIT_ANCHOR_FILE")
    if not path or not os.path.exists(path):
        return set()
    with open(path, encoding="ascii") as f:
        return {line.split()[-1] for line in f if line.strip()}


@dataclass
class ChainReport:
    ok: bool
    checked: int
    bad_event_id: int | None = None
    reason: str | None = None


def verify(batch_size=5000) -> ChainReport:
    """Walk the chain in id order; report the first event whose links, content or MAC do not match,
    or, at the end, a head recorded in AUDIT_ANCHOR_FILE that the chain no longer holds (cut short)."""
    base = _mac_base()
    anchored = _anchored_heads()
    expected_prev = GENESIS_HASH
    checked = 0
    last_id = 0
    while True:
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch_size)
        ).all()
        if not events:
            if anchored:  # the newest events are gone: the report names the last one left
                return ChainReport(False, max(checked - 1, 0), last_id, "events after this one were deleted")
            return ChainReport(ok=True, checked=checked)
        for event in events:
            if event.prev_hash != expected_prev:
                return ChainReport(False, checked, event.id, "prev_hash does not match the previous event")
            if compute_hash(event) != event.hash:
                return ChainReport(False, checked, event.id, "content does not match its hash")
            if event.mac is None or not hmac.compare_digest(compute_mac(event.hash, base), event.mac):
                return ChainReport(False, checked, event.id, "hash does not match its MAC")
            anchored.discard(event.hash)
            expected_prev = event.hash
            checked += 1
            last_id = event.id
        for event in events:  # memory stays flat; the signed-in user stays in the session
            db.session.expunge(event)


def diff(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the keys that changed, as (before, after)."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}

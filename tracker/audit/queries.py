"""Audit: reading the log (filters for the log page, batches for its export) and turning events
into lines people can read ("完成时限：2026-11-26 → 2026-12-03", people by real name)."""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from flask import has_request_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from tracker.audit import labels
from tracker.audit.models import AuditEvent
from tracker.core import clock
from tracker.core.inputs import MAX_ID
from tracker.extensions import db

# Fields whose values are ids of people, units or intake records: shown by name, looked up in batches.
USER_FIELDS = {"owner_id", "leader_id", "inspector_id", "closed_by_id", "user_id", "inspector_ids"}
UNIT_FIELDS = {"unit_id", "parent_id", "leader_of"}
INTAKE_FIELDS = {"intake_id", "intake_ids", "duplicate_of", "ids"}
# Counts that say nothing when they are zero (a submission that withdrew no extension request).
QUIET_ZEROS = {"withdrawn_extension_requests"}
# Dicts whose keys are the users' own words (a column header, a channel spelling), not field names.
RAW_KEY_DICTS = {"channel_map", "unit_map"}
_MISSING = object()
_MAX_ID = MAX_ID  # what an id column holds on every backend
# The actor a reader without inspection.view sees for what a re-inspection visit caused (covert:
# the unit learns the result and the findings, never who visited).
INSPECTION_GROUP = _l("暗访复查组")


@dataclass
class EventView:
    """One audit event as a reader sees it."""

    event: AuditEvent
    label: str
    actor: str
    actor_username: str
    object_type: str
    object_text: str
    lines: list[str] = field(default_factory=list)
    note: str | None = None

    @property
    def id(self):
        return self.event.id

    @property
    def created_at(self):
        return self.event.created_at

    @property
    def action(self):
        return self.event.action


@dataclass
class _Names:
    users: dict
    units: dict
    intake: dict
    channels: dict


def _ids(value) -> list[int]:
    values = value if isinstance(value, list) else [value]
    return [int(v) for v in values if isinstance(v, int) or (isinstance(v, str) and v.isdigit() and len(v) < 19)]


def _collect(events) -> _Names:
    """Every id the events mention, looked up with one query per kind (not one per row)."""
    from tracker.auth.models import User
    from tracker.intake.models import Channel, IntakeRecord
    from tracker.org.models import Unit

    wanted = {"user": set(), "unit": set(), "intake": set(), "channel": set()}
    by_object = {"user": "user", "unit": "unit", "intake_record": "intake", "channel": "channel"}
    for event in events:
        if event.actor_id:
            wanted["user"].add(event.actor_id)
        if event.object_type in by_object:
            wanted[by_object[event.object_type]].update(_ids(event.object_id))
        for state in (event.before, event.after):
            if not isinstance(state, dict):
                continue
            for key, value in state.items():
                if key in USER_FIELDS:
                    wanted["user"].update(_ids(value))
                elif key in UNIT_FIELDS:
                    wanted["unit"].update(_ids(value))
                elif key in INTAKE_FIELDS:
                    wanted["intake"].update(_ids(value))

    def lookup(columns, ids):
        if not ids:
            return {}
        key = columns[0]
        return {row[0]: row[1:] for row in db.session.execute(select(*columns).where(key.in_(sorted(ids))))}

    return _Names(
        users=lookup((User.id, User.name, User.username), wanted["user"]),
        units={k: v[0] for k, v in lookup((Unit.id, Unit.name), wanted["unit"]).items()},
        intake={k: v[0] for k, v in lookup((IntakeRecord.id, IntakeRecord.tracking_code), wanted["intake"]).items()},
        channels={k: v[0] for k, v in lookup((Channel.id, Channel.name), wanted["channel"]).items()},
    )


def _coded_values(object_type) -> dict:
    """The label table for fields whose values are codes, as they read for OBJECT_TYPE."""
    from tracker.access.policy import ROLE_LABELS
    from tracker.alerts.models import LEVEL_LABELS
    from tracker.intake.models import HANDLING_LABELS, RATING_LABELS
    from tracker.ledger.models import STATUS_LABELS, TIER_LABELS

    tiers = {**TIER_LABELS, "quick_fix": "立行立改"}
    tables = {
        "status": STATUS_LABELS,
        "tier": tiers,
        "suggested_tier": tiers,
        "handling": HANDLING_LABELS,
        "role": ROLE_LABELS,
        "level": LEVEL_LABELS,
        "rating": {**RATING_LABELS, **{str(k): v for k, v in RATING_LABELS.items()}},
        "source_kind": {"*": "任意类型"},
    }
    if object_type == "calendar_day":
        tables["kind"] = labels.CALENDAR_KIND_LABELS
    elif object_type == "webhook":
        tables["kind"] = labels.WEBHOOK_KIND_LABELS
    elif object_type == "import_batch":
        tables["status"] = labels.IMPORT_STATUS_LABELS
    elif object_type == "triage_rule":
        tables["kind"] = labels.RULE_KIND_LABELS
        tables["result"] = labels.RULE_RESULT_LABELS
    elif object_type in ("problem", "inspection_batch"):
        from tracker.oversight.models import METHOD_LABELS, RESULT_LABELS

        tables["result"] = RESULT_LABELS
        tables["method"] = METHOD_LABELS
    return tables


class _Renderer:
    def __init__(self, names: _Names, sees_inspectors=True):
        self.names = names
        self.sees_inspectors = sees_inspectors
        self._tables = {}
        self._words = {}  # translated words, looked up once per renderer (an export has many rows)
        self.empty, self.system = str(labels.EMPTY), str(labels.SYSTEM_ACTOR)

    def word(self, make, *args):
        key = (make, *args)
        if key not in self._words:
            self._words[key] = make(*args)
        return self._words[key]

    def tables(self, object_type):
        if object_type not in self._tables:
            self._tables[object_type] = _coded_values(object_type)
        return self._tables[object_type]

    def person(self, user_id):
        row = self.names.users.get(user_id)
        return row[0] if row else _("用户 #%(n)s", n=user_id)

    def value(self, key, value, object_type) -> str:
        if value is None or value == "" or value == [] or value == {}:
            return self.empty
        if value == "***" or key in ("password", "password_enc"):
            return str(labels.HIDDEN)
        if isinstance(value, bool):
            return self.word(_, "是" if value else "否")
        if key in USER_FIELDS:
            return "、".join(self.person(i) for i in _ids(value)) or str(value)
        if key in UNIT_FIELDS:
            names = [self.names.units.get(i, _("单位 #%(n)s", n=i)) for i in _ids(value)]
            return "、".join(names) or self.empty
        if key in INTAKE_FIELDS:
            return "、".join(self.names.intake.get(i, f"#{i}") for i in _ids(value)) or self.empty
        if key == "milestones" and isinstance(value, list):
            return "；".join(
                f"{item[0]}（{item[1]}）" if isinstance(item, list | tuple) and len(item) == 2 else str(item)
                for item in value
            )
        if key == "size" and isinstance(value, int):
            return f"{value / 1024:.1f} KB"
        if key == "sha256" and isinstance(value, str):
            return value[:16] + "…"
        table = self.tables(object_type).get(key)
        if table is not None and not isinstance(value, list | dict):
            label = table.get(value)
            if label is not None:
                return self.word(_, str(label))
        if isinstance(value, list):
            return "、".join(self.value(key, v, object_type) for v in value)
        if isinstance(value, dict):
            raw_keys = key in RAW_KEY_DICTS
            parts = []
            for k, v in value.items():
                name = k if raw_keys or k not in labels.FIELD_LABELS else labels.field_label(k)
                parts.append(
                    f"{name}＝{self.value(k, v, object_type)}"
                    if key == "mapping"
                    else f"{name}：{self.value(k, v, object_type)}"
                )
            return "；".join(parts)
        return str(value)

    def lines(self, before, after, object_type, prefix=(), created=None) -> list[str]:
        """One line per changed field: "label：before → after", or "label：value" for a new one;
        nested settings read as "督促阶梯·红·催办：1 → 2"."""
        before = before if isinstance(before, dict) else None
        after = after if isinstance(after, dict) else {}
        created = before is None if created is None else created
        before = before or {}
        keys = list(after) + [k for k in before if k not in after]
        out = []
        for key in keys:
            if key in labels.HIDDEN_FIELDS:
                continue
            old, new = before.get(key, _MISSING), after.get(key, _MISSING)
            if old == new:
                continue
            path = (*prefix, self.word(labels.field_label, key, object_type))
            nested = key not in RAW_KEY_DICTS and key != "mapping"
            if nested and isinstance(new, dict) and (isinstance(old, dict) or old in (_MISSING, None)):
                out += self.lines(old if isinstance(old, dict) else {}, new, object_type, path, created)
                continue
            label = "·".join(path)
            if old is None and not created and new not in (_MISSING, None, ""):  # a field filled in later
                out.append(f"{label}：{self.empty} → {self.value(key, new, object_type)}")
            elif old is _MISSING or old is None:
                if new in (None, "", [], {}) or (created and new is False) or (key in QUIET_ZEROS and new == 0):
                    continue
                out.append(f"{label}：{self.value(key, new, object_type)}")
            elif new is _MISSING:
                out.append(f"{label}：{self.value(key, old, object_type)} → {self.empty}")
            else:
                out.append(f"{label}：{self.value(key, old, object_type)} → {self.value(key, new, object_type)}")
        return out

    def object_text(self, event) -> str:
        kind, key = event.object_type, event.object_id
        ids = _ids(key)
        if kind == "intake_record" and ids:
            return self.names.intake.get(ids[0], f"#{key}")
        if kind == "user" and ids:
            return self.person(ids[0])
        if kind == "unit" and ids:
            return self.names.units.get(ids[0], f"#{key}")
        if kind == "channel" and ids:
            return self.names.channels.get(ids[0], f"#{key}")
        if kind == "setting":
            return str(labels.SETTING_LABELS.get(key, labels.GENERIC_FIELD))
        if kind in ("problem", "calendar_day"):
            return key
        return f"#{key}"

    def view(self, event) -> EventView:
        label = self.word(labels.action_label, event.action)
        after = event.after if isinstance(event.after, dict) else {}
        if event.action == "notice.issue" and after.get("level") in self.tables("problem")["level"]:
            label = _("发出%(l)s通知", l=self.tables("problem")["level"][after["level"]])
        if event.actor_id:
            row = self.names.users.get(event.actor_id)
            actor, username = (row[0], row[1]) if row else (event.actor_name, event.actor_name)
        else:
            actor, username = self.system, ""
        if after.get("via") == "inspection" and not self.sees_inspectors:
            actor, username = self.word(str, INSPECTION_GROUP), ""
        note = event.note
        if note in labels.NOTE_LABELS:
            note = str(labels.NOTE_LABELS[note])
        return EventView(
            event=event,
            label=label,
            actor=actor,
            actor_username=username,
            object_type=self.word(labels.object_label, event.object_type),
            object_text=self.object_text(event),
            lines=self.lines(event.before, event.after, event.object_type),
            note=note,
        )


def describe(events, viewer=_MISSING) -> list[EventView]:
    """EVENTS as VIEWER (default: the signed-in user of the request; outside a request, a reader
    of the audit log) sees them; the names behind the ids take one query per kind. What a covert
    visit caused reads as done by the inspection group unless VIEWER has inspection.view."""
    from tracker.access import policy

    if viewer is _MISSING:
        if has_request_context():
            from flask_login import current_user

            viewer = current_user
        else:
            viewer = None
    sees = viewer is None or policy.can(viewer, "inspection.view")
    events = list(events)
    renderer = _Renderer(_collect(events), sees_inspectors=sees)
    return [renderer.view(e) for e in events]


def events_of(object_type: str, object_id) -> list[AuditEvent]:
    return db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == object_type, AuditEvent.object_id == str(object_id))
        .order_by(AuditEvent.id)
    ).all()


# ---- the audit log page -------------------------------------------------------------------------


@dataclass
class LogFilter:
    actor: str = ""  # a user id, or "system"
    action: str = ""  # an action, or "group." for all of a group
    object_type: str = ""
    object_key: str = ""  # an id, a problem number, a tracking code, a user name or a unit code
    date_from: date | None = None
    date_to: date | None = None
    errors: dict = field(default_factory=dict)

    @classmethod
    def from_args(cls, args) -> "LogFilter":
        flt = cls(
            actor=args.get("actor", "").strip()[:20],
            action=args.get("action", "").strip()[:64],
            object_type=args.get("type", "").strip()[:32],
            object_key=args.get("object", "").strip()[:64],
        )
        if flt.actor and flt.actor != "system" and not _is_id(flt.actor):
            flt.actor = ""
        for name in ("date_from", "date_to"):
            raw = args.get(name, "").strip()
            if raw:
                try:
                    setattr(flt, name, date.fromisoformat(raw))
                except ValueError:
                    flt.errors[name] = _("日期格式应为 YYYY-MM-DD。")
        return flt

    def args(self) -> dict:
        values = {
            "actor": self.actor,
            "action": self.action,
            "type": self.object_type,
            "object": self.object_key,
            "date_from": self.date_from.isoformat() if self.date_from else "",
            "date_to": self.date_to.isoformat() if self.date_to else "",
        }
        return {k: v for k, v in values.items() if v}

    def describe(self) -> str:
        """The filter in words, for the export's title row."""
        parts = []
        if self.actor:
            parts.append(_("操作人：%(a)s", a=actor_choices_label(self.actor)))
        if self.action:
            label = (
                _("%(g)s（全部）", g=str(labels.ACTION_GROUPS.get(self.action[:-1], labels.GENERIC_ACTION)))
                if self.action.endswith(".")
                else labels.action_label(self.action)
            )
            parts.append(_("操作：%(a)s", a=str(label)))
        if self.object_type:
            parts.append(_("对象：%(o)s", o=labels.object_label(self.object_type)))
        if self.object_key:
            parts.append(_("对象编号：%(o)s", o=self.object_key))
        if self.date_from or self.date_to:
            parts.append(
                _(
                    "日期：%(a)s 至 %(b)s",
                    a=self.date_from.isoformat() if self.date_from else "…",
                    b=self.date_to.isoformat() if self.date_to else "…",
                )
            )
        return "；".join(parts) or _("全部")


def _is_id(value: str) -> bool:
    return value.isdigit() and 0 < int(value) <= _MAX_ID


def _local_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, clock.timezone())


def _object_ids(object_type: str, key: str) -> set[str]:
    """The stored object ids that KEY may mean: itself, or the id behind a tracking code, a user
    name or a unit code."""
    from tracker.auth.models import User
    from tracker.intake.models import IntakeRecord
    from tracker.org.models import Unit

    found = {key}
    resolvers = []
    if object_type in ("", "intake_record"):
        resolvers.append(select(IntakeRecord.id).where(IntakeRecord.tracking_code == key.upper()))
    if object_type in ("", "user"):
        resolvers.append(select(User.id).where(User.username == key.lower()))
    if object_type in ("", "unit"):
        resolvers.append(select(Unit.id).where(Unit.code == key))
    if object_type in ("", "problem"):
        found.add(key.upper())
    for stmt in resolvers:
        found.update(str(i) for i in db.session.scalars(stmt))
    return found


def log_query(flt: LogFilter):
    """The audit events FLT selects, newest first."""
    stmt = select(AuditEvent)
    if flt.actor == "system":
        stmt = stmt.where(AuditEvent.actor_id.is_(None))
    elif flt.actor:
        stmt = stmt.where(AuditEvent.actor_id == int(flt.actor))
    if flt.action.endswith("."):
        stmt = stmt.where(AuditEvent.action.startswith(flt.action, autoescape=True))
    elif flt.action:
        stmt = stmt.where(AuditEvent.action == flt.action)
    if flt.object_type:
        stmt = stmt.where(AuditEvent.object_type == flt.object_type)
    if flt.object_key:
        stmt = stmt.where(AuditEvent.object_id.in_(sorted(_object_ids(flt.object_type, flt.object_key))))
    if flt.date_from:
        stmt = stmt.where(AuditEvent.created_at >= _local_midnight(flt.date_from))
    if flt.date_to:
        stmt = stmt.where(AuditEvent.created_at < _local_midnight(flt.date_to + timedelta(days=1)))
    return stmt.order_by(AuditEvent.id.desc())


def actor_choices():
    """(value, label) for the 操作人 select: the system first, then every user by real name."""
    from tracker.auth.models import User

    rows = db.session.execute(select(User.id, User.name, User.username).order_by(User.name, User.username))
    return [("system", str(labels.SYSTEM_ACTOR))] + [(str(i), f"{name}（{username}）") for i, name, username in rows]


def actor_choices_label(value: str) -> str:
    from tracker.auth.models import User

    if value == "system":
        return str(labels.SYSTEM_ACTOR)
    user = db.session.get(User, int(value)) if _is_id(value) else None
    return user.name if user else value


def action_choices():
    """[(group label, group prefix, [(action, label)])] for the action select, in table order."""
    groups = {}
    for action, label in labels.ACTION_LABELS.items():
        groups.setdefault(action.split(".")[0], []).append((action, str(label)))
    return [(str(labels.ACTION_GROUPS.get(g, labels.GENERIC_ACTION)), f"{g}.", items) for g, items in groups.items()]


def export_title_rows(flt: LogFilter, user) -> list[str]:
    """Above the export's header row: title, filter, who exported it and when (local time)."""
    return [
        _("审计日志"),
        _("筛选条件：%(f)s", f=flt.describe()),
        _("导出人：%(u)s；导出时间：%(t)s", u=user.name, t=clock.local_now().strftime("%Y-%m-%d %H:%M")),
    ]


EXPORT_HEADERS = ["序号", "时间", "操作人", "用户名", "操作", "对象类型", "对象", "变更内容", "备注", "哈希"]
EXPORT_WIDTHS = [9, 19, 14, 14, 18, 10, 18, 60, 30, 20]
EXPORT_WRAPPED = (7, 8)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def export_rows(flt: LogFilter, batch_size=1000, limit=1_000_000):
    """Rows for the Excel export, newest first, read and described a batch at a time."""
    stmt = log_query(flt)
    last_id = None
    sent = 0
    while sent < limit:
        page = stmt.limit(batch_size) if last_id is None else stmt.where(AuditEvent.id < last_id).limit(batch_size)
        events = db.session.scalars(page).all()
        if not events:
            return
        for view in describe(events):
            yield [
                view.id,
                clock.to_local(view.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                view.actor,
                view.actor_username,
                view.label,
                view.object_type,
                view.object_text,
                _CONTROL.sub("", "\n".join(view.lines)),
                _CONTROL.sub("", view.note or ""),
                view.event.hash,
            ]
        sent += len(events)
        last_id = events[-1].id
        for event in events:  # keep memory flat; the signed-in user stays in the session
            db.session.expunge(event)

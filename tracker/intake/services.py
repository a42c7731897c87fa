"""Intake rules: validating and registering records once, handling them, protecting the complainant.

Services flush; the caller commits. Every function that changes a record writes an audit event,
and no audit event, log line or error message carries the complainant's identity.
"""

import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from blinker import Namespace
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tracker.access import policy
from tracker.audit import services as audit
from tracker.auth.services import check_version
from tracker.core import clock, crypto
from tracker.core.db import insert_ignoring_conflicts
from tracker.core.errors import Forbidden, ValidationFailed
from tracker.core.inputs import parse_id
from tracker.core.sanitize import plain_text
from tracker.extensions import db
from tracker.intake.models import (
    DEFAULT_CHANNELS,
    DEFAULT_KIND,
    KINDS,
    RATING_LABELS,
    Channel,
    Handling,
    IntakeRecord,
)
from tracker.ledger import services as ledger_services
from tracker.ledger.models import Problem
from tracker.org.models import Unit

# Sent after records are explained (解释说明), one or many at once (keyword ids); the follow-up
# calls (oversight) connect here, so that intake never imports them.
signals = Namespace()
explained = signals.signal("intake-explained")

FIELDS = [
    "external_id",
    "channel",
    "kind",
    "received_at",
    "title",
    "body",
    "rating",
    "service_item",
    "unit_code",
    "complainant_name",
    "complainant_phone",
    "category",
    "reply",
]
REQUIRED_FIELDS = ("external_id", "channel", "received_at", "title", "body")
FIELD_LABELS = {
    "external_id": "来源编号",
    "channel": "渠道",
    "kind": "类型",
    "received_at": "受理时间",
    "title": "标题",
    "body": "内容",
    "rating": "评价等级",
    "service_item": "办理事项",
    "unit_code": "单位编码",
    "complainant_name": "反映人",
    "complainant_phone": "联系电话",
    "category": "问题分类",
    "reply": "答复",
}
HEADER_ALIASES = {**{label: name for name, label in FIELD_LABELS.items()}, **{name: name for name in FIELDS}}
HEADER_ALIASES.update(
    {
        "分类": "category",
        "单位": "unit_code",
        "责任单位": "unit_code",
        "涉及单位": "unit_code",
        "单位名称": "unit_code",
        "手机号": "complainant_phone",
        "评价": "rating",
        "满意度": "rating",
        "评价结果": "rating",
        "答复内容": "reply",
        "答复意见": "reply",
        "处理结果": "reply",
        "办理结果": "reply",
        "回复": "reply",
        "回复内容": "reply",
        "source_id": "external_id",
    }
)
COMPLAINANT_FIELDS = ("complainant_name", "complainant_phone")
MAX_LENGTHS = {"external_id": 100, "title": 200, "body": 20000, "service_item": 200, "category": 50, "reply": 20000}
RATING_BY_LABEL = {label: value for value, label in RATING_LABELS.items()}
RATING_NUMERALS = {"一": "1", "二": "2", "三": "3", "四": "4", "五": "5"}
TRACKING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read out over the phone
DATE_FORMATS = (
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y",
    "%Y%m%d%H%M%S",
    "%Y.%m.%d %H:%M",
    "%Y.%m.%d",
)


# ---- channels ------------------------------------------------------------------------------------


def ensure_default_channels() -> None:
    """Create the standard channel list when the table is empty (idempotent)."""
    if db.session.scalar(select(func.count()).select_from(Channel)):
        return
    now = clock.now()
    rows = [
        {"name": name, "position": position, "is_active": True, "created_at": now, "updated_at": now}
        for position, name in enumerate(DEFAULT_CHANNELS)
    ]
    # Two first requests may race here; the loser's rows are simply skipped.
    db.session.execute(insert_ignoring_conflicts(Channel, ["name"]), rows)


def active_channels() -> list[str]:
    ensure_default_channels()
    return list(db.session.scalars(select(Channel.name).where(Channel.is_active.is_(True)).order_by(Channel.position)))


def match_key(value) -> str:
    """How names from other systems are compared: full-width folded to half-width (NFKC), every space
    removed, case ignored. "１２３４５热线" and "12345 热线" have the same key."""
    return "".join(unicodedata.normalize("NFKC", str(value)).split()).casefold()


def _alias_owner(key: str, *, besides: Channel | None = None) -> Channel | None:
    """The channel whose name or an alias has KEY (other than BESIDES), if any."""
    for channel in db.session.scalars(select(Channel)):
        if channel is besides:
            continue
        if match_key(channel.name) == key or any(match_key(a) == key for a in channel.aliases or []):
            return channel
    return None


def add_channel_alias(channel: Channel, alias: str, *, actor) -> None:
    """Let imports recognise ALIAS as CHANNEL. Raises ValidationFailed for an empty or too long alias,
    one that is the channel's own name, one it already has, or one that names another channel."""
    alias = plain_text(alias)
    if not alias:
        raise ValidationFailed(_("请填写别名。"), {"alias": _("请填写别名。")})
    if len(alias) > 50:
        raise ValidationFailed(_("别名不能超过 50 字。"), {"alias": _("别名不能超过 50 字。")})
    key = match_key(alias)
    if key == match_key(channel.name) or any(match_key(a) == key for a in channel.aliases or []):
        raise ValidationFailed(
            _("“%(a)s”已能识别为渠道“%(c)s”，无需再加。", a=alias, c=channel.name), {"alias": _("无需重复添加。")}
        )
    owner = _alias_owner(key, besides=channel)
    if owner is not None:
        raise ValidationFailed(
            _("“%(a)s”已对应渠道“%(c)s”，同一别名不能属于两个渠道。", a=alias, c=owner.name),
            {"alias": _("别名已被其他渠道使用。")},
        )
    before = list(channel.aliases or [])
    channel.aliases = [*before, alias]
    db.session.flush()
    audit.record(
        actor, "channel.aliases", "channel", channel.id, before={"aliases": before}, after={"aliases": channel.aliases}
    )


def remove_channel_alias(channel: Channel, alias: str, *, actor) -> None:
    """Stop recognising ALIAS as CHANNEL. Raises ValidationFailed when the channel has no such alias."""
    before = list(channel.aliases or [])
    if alias not in before:
        raise ValidationFailed(_("渠道“%(c)s”没有别名“%(a)s”。", c=channel.name, a=plain_text(alias, 50)))
    channel.aliases = [a for a in before if a != alias]
    db.session.flush()
    audit.record(
        actor, "channel.aliases", "channel", channel.id, before={"aliases": before}, after={"aliases": channel.aliases}
    )


# ---- parsing and validation ----------------------------------------------------------------------


def parse_datetime(value) -> datetime:
    """A local or zoned time from a string, datetime, date or Excel serial; raises ValueError."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    elif isinstance(value, int | float) and 20000 < value < 80000:  # an Excel serial day number
        parsed = datetime(1899, 12, 30) + timedelta(days=float(value))
    else:
        text = str(value).strip()
        if not text:
            raise ValueError("empty")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            for fmt in DATE_FORMATS:
                try:
                    parsed = datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
            else:
                raise ValueError(text) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=clock.timezone())
    return parsed.astimezone(clock.UTC)


def parse_rating(value) -> int | None:
    """1–5 or a national level name; None for empty. Raises ValueError."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if text in RATING_BY_LABEL:
        return RATING_BY_LABEL[text]
    if text.isdigit() and 1 <= int(text) <= 5:
        return int(text)
    # Exports also write "满意 ", "５", "4.0", "4星", "五星".
    key = match_key(text).removesuffix("星").removesuffix("分")
    key = RATING_NUMERALS.get(key, key).removesuffix(".0")
    if key in RATING_BY_LABEL:
        return RATING_BY_LABEL[key]
    if key.isdigit() and 1 <= int(key) <= 5:
        return int(key)
    raise ValueError(text)


def clean_phone(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if not text:
        return None
    digits = [c for c in text if c.isdigit()]
    if any(not (c.isdigit() or c in "+-() ") for c in text) or not 5 <= len(digits) <= 20:
        raise ValueError(text)
    return text


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


@dataclass
class Validator:
    """Validates raw field dicts into clean ones. Holds the lookups an import needs once, not per row.

    Channels and units are recognised by `match_key` (spaces and full/half width ignored): a channel by
    its name or an alias an admin added, a unit by its code or name; the import profile's
    `channel_map` {value in the file: channel} and `unit_map` {value in the file: unit code} come first."""

    channels: set[str] = field(default_factory=set)
    units_by_key: dict[str, int] = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)
    now: datetime = field(default_factory=clock.now)
    channel_keys: dict[str, str] = field(default_factory=dict)
    ambiguous_units: set[str] = field(default_factory=set)  # names that several active units share
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, defaults=None):
        keys, ambiguous = _unit_keys()
        ensure_default_channels()
        channel_keys = {}
        rows = db.session.execute(
            select(Channel.name, Channel.aliases).where(Channel.is_active.is_(True)).order_by(Channel.position)
        ).all()
        for name, aliases in rows:
            for alias in aliases or []:
                channel_keys.setdefault(match_key(alias), name)
        for name, _aliases in rows:
            channel_keys[match_key(name)] = name
        return cls(
            channels={name for name, _aliases in rows},
            units_by_key=keys,
            defaults=dict(defaults or {}),
            channel_keys=channel_keys,
            ambiguous_units=ambiguous,
        )

    def known_channel(self, value: str) -> str | None:
        """The channel VALUE names (by name or alias), without the profile's map."""
        return self.channel_keys.get(match_key(value)) if value else None

    def channel_for(self, value: str) -> str | None:
        """The channel VALUE stands for in this import, or None."""
        cached = self._cache.get(("channel", value))
        if cached is None and ("channel", value) not in self._cache:
            target = mapped_value(self.defaults.get("channel_map"), value)
            cached = self.known_channel(target) if target else self.known_channel(value)
            self._cache[("channel", value)] = cached
        return cached

    def known_unit(self, value: str) -> int | None:
        """The unit VALUE names (by code or name), without the profile's map."""
        if not value:
            return None
        found = self.units_by_key.get(value)
        return found if found is not None else self.units_by_key.get(match_key(value))

    def unit_for(self, value: str) -> int | None:
        cached = self._cache.get(("unit", value))
        if cached is None and ("unit", value) not in self._cache:
            target = mapped_value(self.defaults.get("unit_map"), value)
            cached = self.known_unit(target) if target else self.known_unit(value)
            self._cache[("unit", value)] = cached
        return cached

    def validate(self, raw: dict) -> tuple[dict, dict]:
        """(clean values, {field: message}). A record with any message is not registered."""
        errors, clean = {}, {}
        defaults = self.defaults
        for name in ("external_id", "title", "body", "service_item", "category", "reply"):
            text = plain_text(_text(raw.get(name)))
            limit = MAX_LENGTHS[name]
            if len(text) > limit:
                errors[name] = _("%(f)s超过 %(n)d 字。", f=_(FIELD_LABELS[name]), n=limit)
            clean[name] = text or None
        if not clean["title"] and clean["body"] and defaults.get("derive_title"):
            prefix = f"{clean['service_item']}：" if clean["service_item"] else ""
            clean["title"] = (prefix + clean["body"])[:60]
        channel = plain_text(_text(raw.get("channel"))) or defaults.get("channel") or ""
        resolved = self.channel_for(channel) if channel else None
        if channel and resolved is None:
            errors["channel"] = _("渠道“%(c)s”不在渠道列表中。", c=channel[:50])
        clean["channel"] = resolved or channel or None
        kind = plain_text(_text(raw.get("kind"))) or defaults.get("kind") or DEFAULT_KIND
        kind = (defaults.get("kind_map") or {}).get(kind, kind)
        if kind not in KINDS:
            errors["kind"] = _("类型“%(k)s”无效，应为：%(all)s。", k=kind[:20], all="、".join(KINDS))
        clean["kind"] = kind
        received = raw.get("received_at")
        if received not in (None, ""):
            try:
                clean["received_at"] = parse_datetime(received)
            except (ValueError, OverflowError):
                errors["received_at"] = _(
                    "受理时间“%(v)s”无法识别，请用 2026-10-08 09:30 这样的格式。", v=_text(received)[:30]
                )
            else:
                if clean["received_at"] > self.now + timedelta(days=1):
                    errors["received_at"] = _("受理时间晚于当前时间。")
        try:
            clean["rating"] = parse_rating(raw.get("rating"))
        except ValueError:
            errors["rating"] = _("评价等级应为 1–5 或 非常满意/满意/基本满意/不满意/非常不满意。")
        unit_key = plain_text(_text(raw.get("unit_code")))
        clean["unit_id"] = None
        if unit_key:
            clean["unit_id"] = self.unit_for(unit_key)
            if clean["unit_id"] is None and match_key(unit_key) in self.ambiguous_units:
                errors["unit_code"] = _(
                    "单位名称“%(u)s”对应多个单位，请填写单位编码或“上级单位/单位”全称。", u=unit_key[:50]
                )
            elif clean["unit_id"] is None:
                errors["unit_code"] = _("单位“%(u)s”不存在或已停用。", u=unit_key[:50])
        clean["complainant_name"] = plain_text(_text(raw.get("complainant_name")), 50) or None
        try:
            clean["complainant_phone"] = clean_phone(raw.get("complainant_phone"))
        except ValueError:
            clean["complainant_phone"] = None
            errors["complainant_phone"] = _("联系电话格式不正确。")
        anonymous = raw.get("anonymous") in (True, "1", "true", "on", "yes", 1)
        clean["is_anonymous"] = anonymous or not (clean["complainant_name"] or clean["complainant_phone"])
        if anonymous:
            clean["complainant_name"] = clean["complainant_phone"] = None
        for name in REQUIRED_FIELDS:
            if not clean.get(name) and name not in errors:
                errors[name] = _("%(f)s为必填项。", f=_(FIELD_LABELS[name]))
        return clean, errors


def _unit_keys() -> tuple[dict[str, int], set[str]]:
    """({key: unit id}, ambiguous keys) for the active units: each unit's code as written and its
    `match_key`, and the `match_key` of its name, alone or after its parents' ("甲系统 / 甲单位"). A name that several
    units share identifies none of them; a code always wins over another unit's look-alike name."""
    units = db.session.execute(select(Unit.id, Unit.code, Unit.name, Unit.parent_id, Unit.is_active)).all()
    names = {unit_id: name for unit_id, _code, name, _parent, _active in units}
    parents = {unit_id: parent for unit_id, _code, _name, parent, _active in units}
    by_name: dict[str, set[int]] = {}
    active = [(unit_id, code, name) for unit_id, code, name, _parent, is_active in units if is_active]
    for unit_id, _code, name in active:
        path, node = [], unit_id
        while node is not None and len(path) < 20:  # 20: a guard against a cycle in bad data
            path.append(names[node])
            node = parents.get(node)
        path.reverse()
        # The name alone, and with its parents: "甲单位/办公室", "甲系统/甲单位/办公室".
        for key in {match_key(name), *(match_key("/".join(path[-depth:])) for depth in range(2, len(path) + 1))}:
            by_name.setdefault(key, set()).add(unit_id)
    keys = {key: next(iter(ids)) for key, ids in by_name.items() if len(ids) == 1}
    ambiguous = {key for key, ids in by_name.items() if len(ids) > 1}
    for unit_id, code, _name in active:
        keys[match_key(code)] = unit_id
    for unit_id, code, _name in active:
        keys[code] = unit_id
    return keys, ambiguous


def mapped_value(value_map: dict | None, value: str) -> str | None:
    """VALUE's entry in a profile's {value in the file: target} map, compared by `match_key`."""
    if not value_map:
        return None
    if value in value_map:
        return value_map[value]
    key = match_key(value)
    for source, target in value_map.items():
        if match_key(source) == key:
            return target
    return None


def new_tracking_code() -> str:
    """10 characters from a 31-letter alphabet (about 49 bits), from one call to the OS's randomness;
    bytes past the largest multiple of 31 are dropped so that every letter is equally likely."""
    size, limit = len(TRACKING_ALPHABET), 256 - 256 % len(TRACKING_ALPHABET)
    code = []
    while len(code) < 10:
        code += [TRACKING_ALPHABET[b % size] for b in secrets.token_bytes(16) if b < limit]
    return "".join(code[:10])


def new_query_pin() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def protected_source_row(row: dict | None, complainant_headers=()) -> dict | None:
    """The row as received, minus the complainant's identity (kept only encrypted)."""
    if row is None:
        return None
    return {str(k): ("***" if k in complainant_headers else _json_cell(v)) for k, v in row.items()}


def _json_cell(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def record_values(clean: dict, *, source_row=None, batch_id=None, actor_id=None) -> dict:
    """Column values for a new intake record (used by single registration and by bulk import)."""
    name, phone = clean.get("complainant_name"), clean.get("complainant_phone")
    now = clock.now()
    return {
        "channel": clean["channel"],
        "external_id": clean["external_id"],
        "kind": clean["kind"],
        "received_at": clean["received_at"],
        "title": clean["title"],
        "body": clean["body"],
        "category": clean.get("category"),
        "reply": clean.get("reply"),
        "rating": clean.get("rating"),
        "service_item": clean.get("service_item"),
        "unit_id": clean.get("unit_id"),
        "is_anonymous": clean.get("is_anonymous", True),
        "complainant_name_enc": crypto.encrypt(name),
        "complainant_phone_enc": crypto.encrypt(phone),
        "complainant_name_mask": crypto.mask_name(name) or None,
        "complainant_phone_mask": crypto.mask_phone(phone) or None,
        "source_row": source_row,
        "tracking_code": new_tracking_code(),
        "query_pin_enc": crypto.encrypt(new_query_pin()),
        "handling": Handling.NEW,
        "is_excluded": False,
        # Bulk imports insert every column: the NOT NULL ones of the follow-up calls and the results page too.
        "followup_tries": 0,
        "is_public": False,
        "import_batch_id": batch_id,
        "created_by_id": actor_id,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


def find_existing(channel: str, external_id: str) -> IntakeRecord | None:
    return db.session.scalar(
        select(IntakeRecord).where(IntakeRecord.channel == channel, IntakeRecord.external_id == external_id)
    )


def register(raw: dict, *, actor, source_row=None) -> tuple[IntakeRecord, bool]:
    """Validate and register one record. Returns (record, created); the same (channel, external_id)
    returns the existing record with created=False, also when two requests race. Raises
    ValidationFailed with per-field messages."""
    validator = Validator.load()
    clean, errors = validator.validate(raw)
    if errors:
        raise ValidationFailed(_("反映件信息有误，请修正标出的字段。"), errors)
    existing = find_existing(clean["channel"], clean["external_id"])
    if existing is not None:
        return existing, False
    record = IntakeRecord(**record_values(clean, source_row=source_row, actor_id=getattr(actor, "id", None)))
    try:
        with db.session.begin_nested():
            db.session.add(record)
    except IntegrityError:
        existing = find_existing(clean["channel"], clean["external_id"])
        if existing is None:
            raise
        return existing, False
    audit.record(actor, "intake.create", "intake_record", record.id, after=audit_view(record))
    return record, True


def audit_view(record: IntakeRecord) -> dict:
    """What the audit log keeps of a record: never the complainant's identity."""
    return {
        "channel": record.channel,
        "external_id": record.external_id,
        "kind": record.kind,
        "title": record.title,
        "unit_id": record.unit_id,
        "rating": record.rating,
        "handling": record.handling,
    }


def manual_external_id() -> str:
    return f"MAN-{clock.local_now():%Y%m%d%H%M%S}-{secrets.token_hex(2).upper()}"


# ---- handling ------------------------------------------------------------------------------------


def _require_new(record: IntakeRecord):
    if record.handling != Handling.NEW:
        raise ValidationFailed(_("该反映件已处理（%(h)s），不能重复处理。", h=_(record.handling_label)))


def _handled(record, actor, action, was=Handling.NEW, **after):
    # The caller has set the new handling already; WAS is where the record stood before it.
    before = {"handling": str(was)}
    record.handled_by_id = getattr(actor, "id", None)
    record.handled_at = clock.now()
    record.bump_version()
    audit.record(actor, action, "intake_record", record.id, before=before, after={"handling": record.handling, **after})


def rectify(record, *, actor, expected_version=None, problem_number=None, title=None, quick_fix=False) -> Problem:
    """Hand the record to the ledger: a new problem, or join an existing one (一事多诉). A quick fix
    (立行立改) creates a problem flagged as such. Raises ValidationFailed, NotFound, Conflict."""
    policy.require(actor, "intake.handle", record)
    check_version(record, expected_version)
    _require_new(record)
    if problem_number:
        problem = ledger_services.get_by_number(problem_number)
        if problem is None:
            raise ValidationFailed(
                _("台账编号“%(n)s”不存在。", n=problem_number[:30]), {"problem_number": _("编号不存在。")}
            )
        if not problem.is_open:
            raise ValidationFailed(_("问题 %(n)s 已办结，不能再并入。", n=problem.number))
        ledger_services.attach_record(problem, record, actor=actor)
    else:
        problem = ledger_services.create_from_records(
            [record], title=plain_text(title, 200) or record.title, actor=actor, quick_fix=quick_fix
        )
    record.handling = Handling.QUICK_FIX if quick_fix else Handling.RECTIFY
    _handled(record, actor, "intake.quick_fix" if quick_fix else "intake.rectify", problem=problem.number)
    return problem


def explain(record, text, *, actor, expected_version=None) -> None:
    """解释说明: no fault to fix; the explanation given to the complainant is recorded."""
    policy.require(actor, "intake.handle", record)
    check_version(record, expected_version)
    _require_new(record)
    explanation = plain_text(text, 5000)
    if len(explanation) < 5:
        raise ValidationFailed(
            _("请填写向反映人所作的解释说明（至少 5 个字）。"), {"explanation": _("请填写解释说明。")}
        )
    record.explanation = explanation
    record.handling = Handling.EXPLAINED
    _handled(record, actor, "intake.explain")
    explained.send(record, ids=[record.id])


def mark_duplicate(record, of_code, *, actor, expected_version=None) -> IntakeRecord:
    """Mark RECORD as a repeat of the record with tracking code or id OF_CODE; it joins that record's
    problem when there is one. Raises ValidationFailed."""
    policy.require(actor, "intake.handle", record)
    check_version(record, expected_version)
    _require_new(record)
    key = (of_code or "").strip().upper()
    original = db.session.scalar(select(IntakeRecord).where(IntakeRecord.tracking_code == key)) if key else None
    if original is None and parse_id(key):
        original = db.session.get(IntakeRecord, parse_id(key))
    if original is None or original.id == record.id:
        raise ValidationFailed(_("找不到被重复的反映件（请填写其查询码）。"), {"duplicate_of": _("查询码无效。")})
    record.duplicate_of_id = original.id
    record.handling = Handling.DUPLICATE
    if original.problem is not None and original.problem.is_open:
        ledger_services.attach_record(original.problem, record, actor=actor)
    _handled(record, actor, "intake.duplicate", duplicate_of=original.id)
    return original


def file_appeal(record, reason, *, actor, expected_version=None) -> None:
    """申诉: the unit says the review is mistaken or malicious. Only for new records of its own unit."""
    policy.require(actor, "intake.appeal", record)
    check_version(record, expected_version)
    _require_new(record)
    reason = plain_text(reason, 5000)
    if len(reason) < 5:
        raise ValidationFailed(_("请写明申诉理由（至少 5 个字）。"), {"reason": _("请写明申诉理由。")})
    record.appeal_reason = reason
    record.handling = Handling.APPEAL_PENDING
    record.bump_version()
    audit.record(
        actor,
        "intake.appeal",
        "intake_record",
        record.id,
        before={"handling": Handling.NEW},
        after={"handling": record.handling},
    )


def decide_appeal(record, uphold: bool, note, *, actor, expected_version=None) -> None:
    """An inspector upholds (the record leaves the unit's figures) or rejects (back to new) an appeal."""
    policy.require(actor, "intake.handle", record)
    check_version(record, expected_version)
    if record.handling != Handling.APPEAL_PENDING:
        raise ValidationFailed(_("该反映件没有待复核的申诉。"))
    note = plain_text(note, 5000)
    if not note:
        raise ValidationFailed(_("请填写复核意见。"), {"note": _("请填写复核意见。")})
    record.appeal_decision = note
    record.handling = Handling.APPEAL_UPHELD if uphold else Handling.NEW
    record.is_excluded = uphold
    _handled(record, actor, "intake.appeal_upheld" if uphold else "intake.appeal_rejected", was=Handling.APPEAL_PENDING)


def reveal_complainant(record, *, actor, note="complainant identity shown") -> dict:
    """The full identity for those allowed to see it; every reveal is audited (NOTE says why, worded
    by audit.labels.NOTE_LABELS). Raises Forbidden."""
    if not policy.can(actor, "complainant.view", record):
        raise Forbidden(_("您无权查看反映人信息。"))
    audit.record(actor, "intake.reveal", "intake_record", record.id, note=note)
    return record.complainant()


def publish(record, on: bool, *, actor) -> bool:
    """Opt the record's result in (ON) or out for the public results page (处理结果向群众公开);
    audited as intake.publish / intake.unpublish. Returns whether anything changed. Raises NotFound,
    Forbidden (only inspectors publish), ValidationFailed (no problem on the ledger to show)."""
    policy.require(actor, "intake.publish", record)
    on = bool(on)
    if on and record.problem_id is None:
        raise ValidationFailed(_("该反映件尚未转入问题台账，没有可公开的处理结果。"))
    if record.is_public == on:
        return False
    record.is_public = on
    audit.record(actor, "intake.publish" if on else "intake.unpublish", "intake_record", record.id)
    return True


def receipt(record, *, actor) -> dict:
    """The complainant's receipt (回执): tracking code and query PIN, for the inspector who registered
    the record by hand to print or read out. Every receipt shown is audited. Raises NotFound, Forbidden."""
    policy.require(actor, "intake.create", record)
    audit.record(actor, "intake.receipt", "intake_record", record.id)
    return {"code": record.tracking_code, "pin": crypto.decrypt(record.query_pin_enc)}


def complainant_display(record, user) -> dict:
    """What USER may see of the complainant without a reveal (DESIGN.md §5). Unit users see nothing,
    not even a mask or whether the record is anonymous: `hidden`, and `name` says 反映人信息已保密.
    Leaders see masks; inspectors and admins see masks and learn that a reveal is possible."""
    if not policy.can(user, "complainant.mask", record):
        hidden = _("反映人信息已保密")
        return {"hidden": True, "anonymous": False, "name": hidden, "phone": "", "can_reveal": False, "note": hidden}
    return {
        "hidden": False,
        "anonymous": record.is_anonymous,
        "name": record.complainant_name_mask or "",
        "phone": record.complainant_phone_mask or "",
        "can_reveal": record.has_complainant and policy.can(user, "complainant.view", record),
        "note": "",
    }


def api_view(record, user) -> dict:
    """The API's view of a record for USER: masks where the role may see them, nothing for units."""
    view = {
        "id": record.id,
        "tracking_code": record.tracking_code,
        "channel": record.channel,
        "kind": record.kind,
        "external_id": record.external_id,
        "received_at": record.received_at.isoformat(),
        "title": record.title,
        "body": record.body,
        "rating": record.rating,
        "service_item": record.service_item,
        "unit_code": record.unit.code if record.unit else None,
        "category": record.category,
        "reply": record.reply,
        "handling": record.handling,
        "anonymous": record.is_anonymous,
        "problem": record.problem.number if record.problem else None,
    }
    if policy.can(user, "complainant.mask", record):
        # Masks even for inspectors: the whole identity only through the audited reveal
        # (POST /api/v1/intake/<id>/reveal), never as a side effect of reading a record.
        view["complainant"] = {"name": record.complainant_name_mask, "phone": record.complainant_phone_mask}
        if record.has_complainant and policy.can(user, "complainant.view", record):
            view["complainant"]["can_reveal"] = True
    else:  # unit users: nothing of the complainant, not even whether the record is anonymous
        view["anonymous"] = None
        view["reply"] = None  # source replies greet the complainant by surname (王先生您好)
        view["complainant"] = {"name": None, "phone": None, "hidden": True, "message": _("反映人信息已保密")}
    return view


def rotate_keys(batch_size=1000) -> int:
    """Re-encrypt every stored identity and PIN with the newest key. Returns the records touched."""
    touched, last_id = 0, 0
    while True:
        records = db.session.scalars(
            select(IntakeRecord).where(IntakeRecord.id > last_id).order_by(IntakeRecord.id).limit(batch_size)
        ).all()
        if not records:
            return touched
        for record in records:
            record.complainant_name_enc = crypto.rotate(record.complainant_name_enc)
            record.complainant_phone_enc = crypto.rotate(record.complainant_phone_enc)
            record.query_pin_enc = crypto.rotate(record.query_pin_enc)
            last_id = record.id
            touched += 1
        db.session.flush()


# ---- channels (admin) ----------------------------------------------------------------------------


def add_channel(name: str, *, actor) -> Channel:
    """Add a channel to the list. Raises ValidationFailed for an empty or existing name."""
    ensure_default_channels()
    name = plain_text(name, 50)
    if not name:
        raise ValidationFailed(_("请填写渠道名称。"), {"name": _("请填写渠道名称。")})
    if db.session.scalar(select(Channel.id).where(Channel.name == name)):
        raise ValidationFailed(_("渠道“%(n)s”已存在。", n=name), {"name": _("名称已存在。")})
    owner = _alias_owner(match_key(name))
    if owner is not None:
        raise ValidationFailed(
            _("“%(n)s”已是渠道“%(c)s”的名称或别名。", n=name, c=owner.name), {"name": _("名称已存在。")}
        )
    position = (db.session.scalar(select(func.max(Channel.position))) or 0) + 1
    channel = Channel(name=name, position=position, is_active=True)
    db.session.add(channel)
    db.session.flush()
    audit.record(actor, "channel.create", "channel", channel.id, after={"name": name})
    return channel


def set_channel_active(channel: Channel, active: bool, *, actor) -> None:
    """Retire or restore a channel; records already registered keep their channel name."""
    if channel.is_active == active:
        return
    channel.is_active = active
    audit.record(
        actor,
        "channel.activate" if active else "channel.deactivate",
        "channel",
        channel.id,
        before={"is_active": not active},
        after={"is_active": active},
    )

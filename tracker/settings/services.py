"""Calendar overrides: admins fix single days or import a year's official list."""

import csv
import io
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import select

from tracker.audit import services as audit
from tracker.core.calendar import HOLIDAY, WORKDAY
from tracker.core.errors import ValidationFailed
from tracker.extensions import db
from tracker.settings.models import CalendarOverride

KIND_ALIASES = {"holiday": HOLIDAY, "休": HOLIDAY, "假": HOLIDAY, "workday": WORKDAY, "班": WORKDAY, "工作日": WORKDAY}


def set_override(day: date, kind: str, note: str | None, *, actor) -> CalendarOverride:
    """Mark DAY as a holiday or a working day; replaces an earlier override of that day."""
    if kind not in (HOLIDAY, WORKDAY):
        raise ValidationFailed(_("类型必须是 holiday（放假）或 workday（调休上班）。"), {"kind": _("类型不正确。")})
    row = db.session.get(CalendarOverride, day)
    before = {"kind": row.kind, "note": row.note} if row else None
    if row is None:
        row = CalendarOverride(day=day)
        db.session.add(row)
    row.kind, row.note = kind, (note or "").strip()[:100] or None
    db.session.flush()
    audit.record(
        actor, "calendar.set", "calendar_day", day.isoformat(), before=before, after={"kind": kind, "note": row.note}
    )
    return row


def delete_override(day: date, *, actor) -> None:
    row = db.session.get(CalendarOverride, day)
    if row is None:
        return
    audit.record(actor, "calendar.delete", "calendar_day", day.isoformat(), before={"kind": row.kind, "note": row.note})
    db.session.delete(row)
    db.session.flush()


def import_csv(raw: bytes, *, actor) -> int:
    """Import `date,kind[,note]` rows (kind holiday/workday, or 休/班). All rows or none: raises
    ValidationFailed listing every bad line. Returns the number of days set."""
    text = None
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        raise ValidationFailed(_("无法识别文件编码，请保存为 UTF-8 或 GBK 编码的 CSV。"))
    rows, errors = [], []
    for number, fields in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not fields or not "".join(fields).strip():
            continue
        if number == 1 and fields[0].strip().lower() in {"date", "日期"}:
            continue
        try:
            day = date.fromisoformat(fields[0].strip())
        except ValueError:
            errors.append(_("第 %(n)d 行：日期“%(v)s”无效，应为 YYYY-MM-DD。", n=number, v=fields[0][:20]))
            continue
        kind = KIND_ALIASES.get(fields[1].strip().lower() if len(fields) > 1 else "")
        if kind is None:
            errors.append(_("第 %(n)d 行：类型应为 holiday 或 workday。", n=number))
            continue
        rows.append((day, kind, fields[2] if len(fields) > 2 else None))
    if errors:
        raise ValidationFailed(
            _("文件有 %(k)d 处错误，未导入任何日期。", k=len(errors)), {"file": "\n".join(errors[:50])}
        )
    if not rows:
        raise ValidationFailed(_("文件中没有日期。"))
    for day, kind, note in rows:
        set_override(day, kind, note, actor=actor)
    return len(rows)


# ---- key/value settings --------------------------------------------------------------------------


def get_setting(key: str, default):
    """The stored value for KEY merged over DEFAULT (dicts merge one level deep)."""
    import copy

    from tracker.core import memo
    from tracker.settings.models import Setting

    def load():
        return {row.key: row.value for row in db.session.scalars(select(Setting))}

    stored = memo.remember("settings", load, table=Setting)  # every setting in one query per request
    if key not in stored:
        return default
    value = copy.deepcopy(stored[key])
    if isinstance(default, dict) and isinstance(value, dict):
        merged = dict(default)
        for k, v in value.items():
            merged[k] = {**default[k], **v} if isinstance(default.get(k), dict) and isinstance(v, dict) else v
        return merged
    return value


def put_setting(key: str, value, *, actor) -> None:
    from tracker.settings.models import Setting

    row = db.session.get(Setting, key)
    before = row.value if row else None
    if row is None:
        row = Setting(key=key, value=value)
        db.session.add(row)
    else:
        row.value = value
    db.session.flush()
    audit.record(actor, "settings.save", "setting", key, before=_redact(before), after=_redact(value))


def _redact(value):
    if isinstance(value, dict):
        return {k: ("***" if "password" in k else v) for k, v in value.items()}
    return value

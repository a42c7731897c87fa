"""The one clock: every 'now' in the tracker comes from here, so tests and demos can move time."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

DEFAULT_TIMEZONE = "Asia/Shanghai"
_pinned: datetime | None = None


def timezone() -> ZoneInfo:
    """The configured local time zone (Asia/Shanghai unless TIMEZONE says otherwise)."""
    name = current_app.config.get("TIMEZONE", DEFAULT_TIMEZONE) if has_app_context() else DEFAULT_TIMEZONE
    return ZoneInfo(name)


def now() -> datetime:
    """Current time, timezone-aware, in UTC (or the pinned time)."""
    if _pinned is not None:
        return _pinned
    return datetime.now(UTC)


def local_now() -> datetime:
    """Current time in the configured time zone."""
    return now().astimezone(timezone())


def today() -> date:
    """Today's date in the configured time zone."""
    return local_now().date()


def to_local(value: datetime | None) -> datetime | None:
    return value.astimezone(timezone()) if value is not None else None


def parse(value: str) -> datetime:
    """Parse ISO-8601; a value without an offset is read as local time. Raises ValueError."""
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone())
    return parsed.astimezone(UTC)


def pin(value: datetime | str | None) -> None:
    """Freeze the clock at VALUE (None unpins). Used by tests, `--now` options and TRACKER_NOW."""
    global _pinned
    if isinstance(value, str):
        value = parse(value)
    elif value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=timezone())
    _pinned = value.astimezone(UTC) if value is not None else None


def is_pinned() -> bool:
    return _pinned is not None

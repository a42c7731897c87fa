"""Intake records per local day and unit (`intake_daily_counts`), for the reports' counts over weeks and
quarters: a few hundred summary rows instead of a million index entries per request.

Database triggers on `intake_records` keep the table current (tracker.core.summary). The local day
is worked out in SQL with the time zone configured when the triggers were made (`TIMEZONE`); after
changing it, run `flask intake rebuild-counts`, which also repairs the table should it ever disagree
with a recount."""

from tracker.core import clock
from tracker.core.summary import Summary

TABLE = "intake_daily_counts"


def _sqlite_modifier() -> str:
    """The zone's offset from UTC as an SQLite date modifier ('+480 minutes' for Beijing time). SQLite
    knows no zones: a zone with summer time is counted with today's offset."""
    offset = clock.now().astimezone(clock.timezone()).utcoffset()
    return f"{int(offset.total_seconds() // 60):+d} minutes"


def day_sql(dialect: str, column: str) -> str:
    """SQL for the local day of the UTC timestamp COLUMN."""
    if dialect == "postgresql":
        return f"(({column}) AT TIME ZONE '{clock.timezone().key}')::date"
    return f"date({column}, '{_sqlite_modifier()}')"


SUMMARY = Summary(
    table=TABLE,
    source="intake_records",
    keys={
        "day": lambda dialect, prefix: day_sql(dialect, f"{prefix}received_at"),
        "unit_id": lambda _dialect, prefix: f"COALESCE({prefix}unit_id, 0)",
    },
    sums={
        "records": lambda _dialect, _prefix: "1",
        "counted": lambda _dialect, prefix: f"CASE WHEN {prefix}is_excluded THEN 0 ELSE 1 END",
    },
    watched=("received_at", "unit_id", "is_excluded"),
)
trigger_statements = SUMMARY.trigger_statements
drop_statements = SUMMARY.drop_statements
rebuild_statements = SUMMARY.rebuild_statements
install = SUMMARY.install


def rebuild(connection) -> None:
    """Make the triggers again for the configured time zone and recount every day."""
    SUMMARY.rebuild(connection)

"""Intake records per local day and unit (`intake_daily_counts`), for the reports' counts over weeks and
quarters: a few hundred summary rows instead of a million index entries per request.

Database triggers on `intake_records` keep the table current, so that every write path counts: the
services, the import, bulk inserts and COPY alike (a service hook would miss the set-based ones). On
PostgreSQL they are statement-level with transition tables (one grouped upsert per statement, however
many rows it writes); on SQLite, row-level upserts. The local day is worked out in SQL with the time
zone configured when the triggers were made (`TIMEZONE`); after changing it, run
`flask intake rebuild-counts`, which also repairs the table should it ever disagree with a recount."""

from sqlalchemy import text

from tracker.core import clock

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


def trigger_statements(dialect: str) -> list[str]:
    """The statements that (re)create the triggers, for the configured time zone."""
    if dialect == "postgresql":
        return _postgresql_triggers()
    return _sqlite_triggers()


def _postgresql_triggers() -> list[str]:
    day = day_sql("postgresql", "received_at")

    def rows(source, sign):
        return (
            f"SELECT {day} AS day, COALESCE(unit_id, 0) AS unit_id, {sign} AS records, "
            f"CASE WHEN is_excluded THEN 0 ELSE {sign} END AS counted FROM {source}"
        )

    def upsert(select):
        # Keys in order, so that two statements never lock the same rows in opposite orders.
        return (
            f"INSERT INTO {TABLE} AS c (day, unit_id, records, counted) "
            f"SELECT day, unit_id, sum(records), sum(counted) FROM ({select}) AS d GROUP BY day, unit_id "
            "HAVING sum(records) <> 0 OR sum(counted) <> 0 ORDER BY day, unit_id "
            "ON CONFLICT (day, unit_id) DO UPDATE SET records = c.records + EXCLUDED.records, "
            "counted = c.counted + EXCLUDED.counted;"
        )

    function = f"""
CREATE OR REPLACE FUNCTION intake_daily_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {upsert(rows("new_rows", 1))}
  ELSIF TG_OP = 'DELETE' THEN
    {upsert(rows("old_rows", -1))}
  ELSE
    {upsert(rows("old_rows", -1) + " UNION ALL " + rows("new_rows", 1))}
  END IF;
  RETURN NULL;
END;
$$"""
    triggers = [
        ("insert", "INSERT", "NEW TABLE AS new_rows"),
        ("update", "UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        ("delete", "DELETE", "OLD TABLE AS old_rows"),
    ]
    statements = [function]
    for name, event, tables in triggers:
        statements.append(f"DROP TRIGGER IF EXISTS intake_daily_counts_{name} ON intake_records")
        statements.append(
            f"CREATE TRIGGER intake_daily_counts_{name} AFTER {event} ON intake_records REFERENCING {tables} "
            "FOR EACH STATEMENT EXECUTE FUNCTION intake_daily_counts_apply()"
        )
    return statements


def _sqlite_triggers() -> list[str]:
    def add(row):
        return (
            f"INSERT INTO {TABLE} (day, unit_id, records, counted) VALUES ({day_sql('sqlite', row + '.received_at')}, "
            f"COALESCE({row}.unit_id, 0), 1, CASE WHEN {row}.is_excluded THEN 0 ELSE 1 END) "
            "ON CONFLICT (day, unit_id) DO UPDATE SET records = records + 1, counted = counted + excluded.counted;"
        )

    def remove(row):
        return (
            f"UPDATE {TABLE} SET records = records - 1, counted = counted - CASE WHEN {row}.is_excluded THEN 0 ELSE 1 END "
            f"WHERE day = {day_sql('sqlite', row + '.received_at')} AND unit_id = COALESCE({row}.unit_id, 0);"
        )

    return [
        "DROP TRIGGER IF EXISTS intake_daily_counts_insert",
        f"CREATE TRIGGER intake_daily_counts_insert AFTER INSERT ON intake_records BEGIN {add('NEW')} END",
        "DROP TRIGGER IF EXISTS intake_daily_counts_update",
        "CREATE TRIGGER intake_daily_counts_update AFTER UPDATE OF received_at, unit_id, is_excluded "
        f"ON intake_records BEGIN {remove('OLD')} {add('NEW')} END",
        "DROP TRIGGER IF EXISTS intake_daily_counts_delete",
        f"CREATE TRIGGER intake_daily_counts_delete AFTER DELETE ON intake_records BEGIN {remove('OLD')} END",
    ]


def drop_statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS intake_daily_counts_{n} ON intake_records" for n in ("insert", "update", "delete")
        ] + ["DROP FUNCTION IF EXISTS intake_daily_counts_apply()"]
    return [f"DROP TRIGGER IF EXISTS intake_daily_counts_{n}" for n in ("insert", "update", "delete")]


def rebuild_statements(dialect: str) -> list[str]:
    """Recount the whole table from intake_records."""
    day = day_sql(dialect, "received_at")
    excluded = "is_excluded" if dialect == "postgresql" else "is_excluded = 1"
    return [
        f"DELETE FROM {TABLE}",
        f"INSERT INTO {TABLE} (day, unit_id, records, counted) "
        f"SELECT {day}, COALESCE(unit_id, 0), count(*), sum(CASE WHEN {excluded} THEN 0 ELSE 1 END) "
        f"FROM intake_records GROUP BY {day}, COALESCE(unit_id, 0)",
    ]


def install(connection) -> None:
    """Create the triggers (after the tables exist: create_all, the migration)."""
    for statement in trigger_statements(connection.dialect.name):
        connection.execute(text(statement))


def rebuild(connection) -> None:
    """Make the triggers again for the configured time zone and recount every day."""
    install(connection)
    for statement in rebuild_statements(connection.dialect.name):
        connection.execute(text(statement))

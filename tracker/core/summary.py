"""Summary tables kept current by database triggers: a few hundred rows of counts that a page reads
instead of counting a million rows per request.

A `Summary` names the source table, the key columns of the summary (SQL of the source row) and the
sums it keeps (SQL of the source row, the row's contribution). Triggers on the source keep it
current, so that every write path counts: the services, imports, bulk inserts and COPY alike (a
service hook would miss the set-based ones). On PostgreSQL they are statement-level with transition
tables (one grouped upsert per statement, however many rows it writes); on SQLite, row-level upserts.
`rebuild` recounts the whole table and remakes the triggers.
"""

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text

# A column's SQL from (dialect, prefix): prefix is "" inside a PostgreSQL transition table and
# "NEW." / "OLD." in an SQLite row trigger.
Expression = Callable[[str, str], str]


def column(name: str) -> Expression:
    return lambda _dialect, prefix: f"{prefix}{name}"


@dataclass(frozen=True)
class Summary:
    table: str
    source: str
    keys: dict[str, Expression]
    sums: dict[str, Expression]
    watched: tuple[str, ...]  # the source columns whose UPDATE can move a row between keys or sums

    @property
    def _prefix(self) -> str:
        return self.table  # trigger and function names

    def _select(self, dialect: str, source: str, prefix: str, sign: int) -> str:
        keys = ", ".join(f"{sql(dialect, prefix)} AS {name}" for name, sql in self.keys.items())
        sums = ", ".join(f"{sign} * ({sql(dialect, prefix)}) AS {name}" for name, sql in self.sums.items())
        return f"SELECT {keys}, {sums}" + (f" FROM {source}" if source else "")

    def _upsert(self, dialect: str, select: str) -> str:
        keys, sums = ", ".join(self.keys), list(self.sums)
        totals = ", ".join(f"sum({name})" for name in sums)
        changed = " OR ".join(f"sum({name}) <> 0" for name in sums)
        add = ", ".join(f"{name} = {self.table}.{name} + excluded.{name}" for name in sums)
        # Keys in order, so that two statements never lock the same rows in opposite orders.
        return (
            f"INSERT INTO {self.table} ({keys}, {', '.join(sums)}) "
            f"SELECT {keys}, {totals} FROM ({select}) AS d WHERE true GROUP BY {keys} HAVING {changed} ORDER BY {keys} "
            f"ON CONFLICT ({keys}) DO UPDATE SET {add};"
        )

    def trigger_statements(self, dialect: str) -> list[str]:
        """The statements that (re)create the triggers."""
        if dialect == "postgresql":
            return self._postgresql_triggers()
        return self._sqlite_triggers()

    def _postgresql_triggers(self) -> list[str]:
        def rows(source, sign):
            return self._select("postgresql", source, "", sign)

        both = rows("old_rows", -1) + " UNION ALL " + rows("new_rows", 1)
        function = f"""
CREATE OR REPLACE FUNCTION {self._prefix}_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {self._upsert("postgresql", rows("new_rows", 1))}
  ELSIF TG_OP = 'DELETE' THEN
    {self._upsert("postgresql", rows("old_rows", -1))}
  ELSE
    {self._upsert("postgresql", both)}
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
            statements.append(f"DROP TRIGGER IF EXISTS {self._prefix}_{name} ON {self.source}")
            statements.append(
                f"CREATE TRIGGER {self._prefix}_{name} AFTER {event} ON {self.source} REFERENCING {tables} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {self._prefix}_apply()"
            )
        return statements

    def _sqlite_triggers(self) -> list[str]:
        def change(row, sign):
            return self._upsert("sqlite", self._select("sqlite", "", f"{row}.", sign))

        watched = ", ".join(self.watched)
        return [
            f"DROP TRIGGER IF EXISTS {self._prefix}_insert",
            f"CREATE TRIGGER {self._prefix}_insert AFTER INSERT ON {self.source} BEGIN {change('NEW', 1)} END",
            f"DROP TRIGGER IF EXISTS {self._prefix}_update",
            f"CREATE TRIGGER {self._prefix}_update AFTER UPDATE OF {watched} ON {self.source} "
            f"BEGIN {change('OLD', -1)} {change('NEW', 1)} END",
            f"DROP TRIGGER IF EXISTS {self._prefix}_delete",
            f"CREATE TRIGGER {self._prefix}_delete AFTER DELETE ON {self.source} BEGIN {change('OLD', -1)} END",
        ]

    def drop_statements(self, dialect: str) -> list[str]:
        names = ("insert", "update", "delete")
        if dialect == "postgresql":
            return [f"DROP TRIGGER IF EXISTS {self._prefix}_{n} ON {self.source}" for n in names] + [
                f"DROP FUNCTION IF EXISTS {self._prefix}_apply()"
            ]
        return [f"DROP TRIGGER IF EXISTS {self._prefix}_{n}" for n in names]

    def rebuild_statements(self, dialect: str) -> list[str]:
        """Recount the whole table from the source."""
        keys = ", ".join(self.keys)
        return [
            f"DELETE FROM {self.table}",
            f"INSERT INTO {self.table} ({keys}, {', '.join(self.sums)}) "
            f"SELECT {keys}, {', '.join(f'sum({name})' for name in self.sums)} "
            f"FROM ({self._select(dialect, self.source, '', 1)}) AS d GROUP BY {keys}",
        ]

    def add_statement(self, dialect: str, where: str) -> str:
        """Add the source rows matching WHERE (SQL on the source's columns) to the counts: for a bulk
        load that drops the triggers (`drop`), writes, counts its rows with this and `install`s them again."""
        return self._upsert(dialect, self._select(dialect, f"{self.source} WHERE {where}", "", 1)).rstrip(";")

    def install(self, connection) -> None:
        """Create the triggers (after the tables exist: create_all, the migration)."""
        for statement in self.trigger_statements(connection.dialect.name):
            connection.execute(text(statement))

    def drop(self, connection) -> None:
        for statement in self.drop_statements(connection.dialect.name):
            connection.execute(text(statement))

    def rebuild(self, connection) -> None:
        """Make the triggers again and recount every row."""
        self.install(connection)
        for statement in self.rebuild_statements(connection.dialect.name):
            connection.execute(text(statement))

"""Writing many rows at once (the deadline scan, the audit log's bulk path). A first deadline scan over thousands of due problems records tens of
thousands of alerts and fans out into tens of thousands of inbox messages and queued e-mails and
webhook posts; written one statement per row, or even through SQLAlchemy's per-row parameter
handling, that alone takes many seconds.

Here rows are tuples in the order of COLUMNS, and CONSTANTS (the scan's one timestamp, a status)
are converted once and appended to each: the values are converted exactly as SQLAlchemy would bind
them (each column type's bind processor, memoised per distinct value). PostgreSQL gets them by
COPY; SQLite by one prepared INSERT executed for all the rows (executemany, a loop in C), or by
multi-row INSERT … VALUES when rows must come back (RETURNING).
"""

import itertools
import uuid

from tracker.extensions import db

SQLITE_CHUNK = 5000  # rows per executemany: memory stays flat for very large batches
SQLITE_VARIABLES = 32000  # bound values per statement (SQLite allows 32766)


def _memoised(process):
    memo = {}

    def convert(value):
        try:
            return memo[value]
        except KeyError:
            memo[value] = done = process(value)
            return done
        except TypeError:  # an unhashable value
            return process(value)

    return convert


def _prepare(table, columns, rows, constants, dialect):
    """(column names, an iterator of value tuples ready for the driver)."""
    constants = dict(constants or {})
    names = list(columns) + list(constants)
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]
    tail = tuple(
        value if process is None else process(value)
        for value, process in zip(constants.values(), processors[len(columns) :], strict=True)
    )
    convert = [(i, _memoised(process)) for i, process in enumerate(processors[: len(columns)]) if process]
    if not convert:
        return names, (tuple(row) + tail for row in rows)

    def converted():
        for row in rows:
            values = list(row)
            for i, function in convert:
                values[i] = function(values[i])
            yield tuple(values) + tail

    return names, converted()


def _copy(connection, table_name, names, values) -> None:
    quote = connection.dialect.identifier_preparer.quote
    cursor = connection.connection.driver_connection.cursor()
    try:
        with cursor.copy(f"COPY {quote(table_name)} ({', '.join(quote(n) for n in names)}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
    finally:
        cursor.close()


def insert_rows(table, columns, rows, constants=None) -> int:
    """INSERT ROWS (tuples in the order of COLUMNS; ids follow their order), each with CONSTANTS ({column:
    value}), into TABLE (a Core Table) in the session's transaction; returns how many. No RETURNING,
    no ON CONFLICT: for rows that are new by construction. ROWS may be a generator: it is consumed
    while the rows go out, so that on PostgreSQL making the next rows overlaps with the server taking
    in the last ones, and memory stays flat."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    rows = itertools.chain((first,), rows)
    connection = db.session.connection()
    dialect = connection.dialect
    names, values = _prepare(table, columns, rows, constants, dialect)
    count = 0
    if dialect.name == "postgresql":

        def counted():
            nonlocal count
            for count, row in enumerate(values, 1):  # noqa: B007 - the count is read after the loop
                yield row

        _copy(connection, table.name, names, counted())
        return count
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) VALUES ({', '.join('?' * len(names))})"
    )
    chunk = []
    for row in values:
        chunk.append(row)
        if len(chunk) == SQLITE_CHUNK:
            connection.exec_driver_sql(sql, chunk)
            count += len(chunk)
            chunk = []
    if chunk:
        connection.exec_driver_sql(sql, chunk)
        count += len(chunk)
    return count


def insert_new(table, columns, rows, conflict, returning, constants=None) -> list:
    """INSERT ROWS (as for insert_rows) except those whose CONFLICT columns (a unique key) exist
    already, also when a concurrent transaction writes the same key (ON CONFLICT DO NOTHING); returns
    the RETURNING columns (plain integers and strings) of the rows inserted, in no particular order.
    ids follow the rows' order."""
    rows = rows if isinstance(rows, list) else list(rows)
    if not rows:
        return []
    connection = db.session.connection()
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    names, values = _prepare(table, columns, rows, constants, dialect)
    target = ", ".join(quote(name) for name in names)
    tail = (
        f"ON CONFLICT ({', '.join(quote(c) for c in conflict)}) DO NOTHING "
        f"RETURNING {', '.join(quote(c) for c in returning)}"
    )
    if dialect.name == "postgresql":
        # COPY into a temporary table of the same column types, then one INSERT … SELECT.
        staging = f"bulk_{uuid.uuid4().hex[:12]}"
        connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS "
            f"SELECT 0 AS bulk_n, {target} FROM {quote(table.name)} WITH NO DATA"
        )
        _copy(connection, staging, ["bulk_n", *names], ((n, *row) for n, row in enumerate(values)))
        found = connection.exec_driver_sql(
            f"INSERT INTO {quote(table.name)} ({target}) SELECT {target} FROM {staging} ORDER BY bulk_n {tail}"
        ).all()
        connection.exec_driver_sql(f"DROP TABLE {staging}")
        return found
    found, per = [], max(1, SQLITE_VARIABLES // len(names))
    marks = "(" + ", ".join("?" * len(names)) + ")"
    batch = []

    def flush():
        sql = f"INSERT INTO {quote(table.name)} ({target}) VALUES {', '.join([marks] * len(batch))} {tail}"
        found.extend(connection.exec_driver_sql(sql, tuple(v for row in batch for v in row)).all())
        batch.clear()

    for row in values:
        batch.append(row)
        if len(batch) == per:
            flush()
    if batch:
        flush()
    return found

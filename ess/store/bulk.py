"""Writing many rows fast: COPY on PostgreSQL, the driver's executemany on SQLite; and
reading many rows fast on PostgreSQL (driver_rows).

Both run on the caller's connection, inside its transaction, and store values exactly as
SQLAlchemy would (the columns' own bind processors), so reads through SQLAlchemy agree.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from functools import lru_cache
from itertools import repeat
from typing import Any

from sqlalchemy import Column, Connection, MetaData, Table, bindparam, insert, update
from sqlalchemy.schema import CreateTable
from sqlalchemy.types import UserDefinedType

_AS_GIVEN = "as_given_"  # the bind names of columns sent to the driver unconverted


class _Unconverted(UserDefinedType[Any]):
    """A bind type that hands its value to the driver untouched (no bind processor)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return ""

    def bind_processor(self, dialect: Any) -> None:
        return None


class BulkWriter:
    """Inserts batches of rows into one table, within the caller's transaction.

    On PostgreSQL one COPY stays open from the first batch to close(): the server loads a
    batch while the next one is read and prepared, as a single copy would. No other query
    may run on the connection until then. SQLite takes each batch as one executemany.
    `converted` names columns the caller has converted already (bind_constants: a value
    the same for every row, a database name or a time, is converted once, not once a row).
    `binary`: PostgreSQL's COPY takes the binary format, cheaper for both sides than text
    (a third less of this process's time); every value must then be of its column's exact
    Python type (int, str, Decimal, date, a naive datetime), which the caller guarantees.
    """

    def __init__(
        self,
        conn: Connection,
        table: Table,
        columns: Sequence[str],
        converted: Sequence[str] = (),
        binary: bool = False,
    ) -> None:
        self._conn = conn
        self._binary = binary
        self._table = table
        self._dialect = conn.dialect.name
        # Engines without a bulk path take an INSERT through SQLAlchemy, made once here. It
        # sends `converted` columns to the driver as they are: bind_constants converted them
        # already, and a second conversion would fail (a UTC time twice is refused as naive).
        as_given = [c for c in columns if c in converted]
        self._keys = [_AS_GIVEN + c if c in as_given else c for c in columns]
        binds = {c: bindparam(_AS_GIVEN + c, type_=_Unconverted()) for c in as_given}
        self._insert = insert(table).values(binds) if binds else insert(table)
        self._active = [
            (i, p)
            for i, p in enumerate(_processors(conn, table, columns))
            if p is not None and columns[i] not in converted
        ]
        self._names = list(columns)
        self._open = ExitStack()
        self._copy: Any = None
        self._types: list[int] | None = None

    def __enter__(self) -> BulkWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._open.__exit__(*exc)

    def close(self) -> None:
        """Finish the copy (PostgreSQL waits here for the server to load the last rows); a
        later write opens another."""
        self._open.close()
        self._copy = None

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows, tuples in the order of the columns given."""
        if not rows:
            return
        if self._dialect not in ("postgresql", "sqlite"):
            keys = self._keys
            self._conn.execute(self._insert, [dict(zip(keys, r, strict=True)) for r in rows])
            return
        if self._active:
            values: list[tuple[Any, ...]] = list(zip(*rows, strict=True))
            for i, process in self._active:
                values[i] = _processed(values[i], process)
            rows = list(zip(*values, strict=True))
        driver: Any = self._conn.connection.driver_connection
        if self._dialect == "postgresql":
            if self._copy is None:
                cursor = self._open.enter_context(driver.cursor())
                if self._types is None:
                    self._types = (
                        _column_types(cursor, self._table.name, self._names) if self._binary else []
                    )
                types = self._types
                sql = f"COPY {self._table.name} ({', '.join(self._names)}) FROM STDIN"
                self._copy = self._open.enter_context(
                    cursor.copy(sql + " (FORMAT BINARY)" if types else sql)
                )
                if types:
                    self._copy.set_types(types)
            for row in rows:
                self._copy.write_row(row)
            return
        names, marks = ", ".join(self._names), ", ".join("?" for _ in self._names)
        cursor = driver.cursor()
        try:
            cursor.executemany(f"INSERT INTO {self._table.name} ({names}) VALUES ({marks})", rows)
        finally:
            cursor.close()


def _column_types(cursor: Any, table: str, names: Sequence[str]) -> list[int]:
    """The type OIDs of a PostgreSQL table's columns, in the order named."""
    cursor.execute(
        "SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = %s::regclass",
        (table,),
    )
    oids = dict(cursor.fetchall())
    return [oids[n] for n in names]


def driver_rows(
    conn: Connection, sql: str, params: Mapping[str, Any], *, binary: bool = False
) -> list[tuple[Any, ...]]:
    """A PostgreSQL query's rows as psycopg makes them, every row in one fetchall.

    SQLAlchemy's result fetches and converts each row on its own: when a step reads
    everyone, that was a fifth of its time. psycopg's types for plain columns (int, str,
    bool, date, Decimal) are the ones SQLAlchemy would return, so comparisons agree.
    `binary`: the server sends values in binary (bytea as its bytes, not twice as many
    of hex text to decode).
    """
    driver: Any = conn.connection.driver_connection
    with driver.cursor(binary=binary) as cursor:
        cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows


def bulk_insert(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    converted: Sequence[str] = (),
) -> None:
    """Insert rows (tuples in `columns` order) into a table within the current transaction."""
    with BulkWriter(conn, table, columns, converted) as writer:
        writer.write(rows)


# Fewer rows than this are updated with one executemany: staging them costs more than it saves.
STAGE_UPDATES_FROM = 100


def bulk_update(
    conn: Connection,
    table: Table,
    key: str,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
) -> None:
    """Set `columns` of the table's rows whose `key` matches: rows are (key, *columns) tuples.

    On PostgreSQL many rows are copied (binary) into a temporary table and applied by one
    UPDATE ... FROM; elsewhere, or for a few rows, one executemany of UPDATE by key. The
    temporary table is made once per transaction (a step updating everyone calls this once
    a chunk) and dropped with it; values must be of their columns' exact Python types.
    """
    if not rows:
        return
    names = (key, *columns)
    if conn.dialect.name == "postgresql" and len(rows) >= STAGE_UPDATES_FROM:
        _stage_updates(conn, table, names, rows, first=True)
        _apply_staged(conn, table, key, columns)
        return
    binds = [f"b_{c}" for c in names]
    conn.execute(
        update(table)
        .where(table.c[key] == bindparam(binds[0]))
        .values({c: bindparam(b) for c, b in zip(columns, binds[1:], strict=True)}),
        [dict(zip(binds, row, strict=True)) for row in rows],
    )


class StagedUpdates:
    """The updates of one step, applied together by finish(), in the caller's transaction.

    On PostgreSQL they are copied into one temporary table as they come (FLUSH_AT at a time,
    so memory stays bounded) and applied by a single UPDATE ... FROM: a pay review that
    changes everyone is one statement over 200,000 rows, not 100 over 2,000 (a quarter less
    of the server's time). The caller must not read the rows it gave before finish() and
    expect the new values. Elsewhere each add() is written at once by bulk_update.
    """

    FLUSH_AT = 50_000

    def __init__(self, conn: Connection, table: Table, key: str, columns: Sequence[str]) -> None:
        self._conn = conn
        self._table = table
        self._key = key
        self._columns = tuple(columns)
        self._deferred = conn.dialect.name == "postgresql"
        self._pending: list[tuple[Any, ...]] = []
        self._staged = 0

    def add(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows (key, *columns) to update."""
        if not self._deferred:
            bulk_update(self._conn, self._table, self._key, self._columns, rows)
            return
        self._pending += rows
        if len(self._pending) >= self.FLUSH_AT:
            self._stage()

    def finish(self) -> None:
        """Apply every update added (a few by key, many by one UPDATE ... FROM)."""
        if not self._staged:
            pending, self._pending = self._pending, []
            bulk_update(self._conn, self._table, self._key, self._columns, pending)
            return
        self._stage()
        _apply_staged(self._conn, self._table, self._key, self._columns)
        self._staged = 0

    def _stage(self) -> None:
        rows, self._pending = self._pending, []
        if not rows:
            return
        names = (self._key, *self._columns)
        _stage_updates(self._conn, self._table, names, rows, first=not self._staged)
        self._staged += len(rows)


def _stage_updates(
    conn: Connection,
    table: Table,
    names: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    first: bool,
) -> None:
    """Copy update rows into the table's stage (made by the transaction's `first` copy)."""
    stage = _update_stage(table, names)
    if first:
        # No clean-up on failure: the transaction rolls back, and the table with it.
        conn.execute(CreateTable(stage, if_not_exists=True))
    with BulkWriter(conn, stage, names, binary=True) as writer:
        writer.write(rows)


def _apply_staged(conn: Connection, table: Table, key: str, columns: Sequence[str]) -> None:
    """One UPDATE ... FROM the stage, then the stage emptied for the next."""
    stage = _update_stage(table, (key, *columns))
    conn.execute(
        update(table).where(table.c[key] == stage.c[key]).values({c: stage.c[c] for c in columns})
    )
    # Emptied, not deleted from: the next chunk's UPDATE scans no dead rows.
    conn.exec_driver_sql(f"TRUNCATE {stage.name}")


@lru_cache(maxsize=8)
def _update_stage(table: Table, names: tuple[str, ...]) -> Table:
    """The temporary table bulk_update stages a table's rows in (dropped at commit)."""
    return Table(
        f"ess_staged_{table.name}_update",
        MetaData(),
        *(Column(c, table.c[c].type) for c in names),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DROP",
    )


def bind_constants(conn: Connection, table: Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """Column values converted as the database stores them (for bulk_insert's `converted`)."""
    processors = _processors(conn, table, list(values))
    return {
        c: v if v is None or p is None else p(v)
        for (c, v), p in zip(values.items(), processors, strict=True)
    }


def _processors(
    conn: Connection, table: Table, columns: Sequence[str]
) -> list[Callable[[Any], Any] | None]:
    dialect = conn.dialect
    return [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]


def _processed(values: Sequence[Any], process: Callable[[Any], Any]) -> tuple[Any, ...]:
    """A column's values through its bind processor; one value repeated is processed once."""
    first = values[0]
    if all(map(operator.is_, values, repeat(first))):  # e.g. synced_at: one instant for all
        return (first if first is None else process(first),) * len(values)
    return tuple(v if v is None else process(v) for v in values)


ANALYZE_STATISTICS_TARGET = 30
"""The statistics target of the sync's own ANALYZE: a sample of 9,000 rows, not 30,000."""
# What the planner needs of the columns analyzed (how many rows, which are unique, how many
# an employee has as manager) a sample of 9,000 rows says as well as PostgreSQL's default of
# 30,000, in a quarter of the time: 0.05-0.06 s against 0.21-0.28 s for a first import's
# 200,000 employees (psql, 2026-12-03). Autovacuum's own ANALYZE later keeps the default.


def analyze(conn: Connection, table: Table, columns: Sequence[str] = ()) -> None:
    """Refresh the planner's statistics after a large write (PostgreSQL), so lookups use indexes.

    Only of `columns` when given: the planner needs the columns queries filter and join on,
    and statistics of every text column cost several times as much. The sample is
    ANALYZE_STATISTICS_TARGET's for the rest of the caller's transaction (the setting
    changes nothing but ANALYZE, and every ANALYZE of a sync is this one).
    """
    if conn.dialect.name == "postgresql":
        named = f" ({', '.join(table.c[c].name for c in columns)})" if columns else ""
        conn.exec_driver_sql(f"SET LOCAL default_statistics_target = {ANALYZE_STATISTICS_TARGET}")
        conn.exec_driver_sql(f"ANALYZE {table.name}{named}")

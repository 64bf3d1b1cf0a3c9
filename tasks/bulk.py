"""Writing many rows fast: COPY on PostgreSQL, the driver's executemany on SQLite.

Both run on the caller's connection, inside its transaction, and store values exactly as
SQLAlchemy would (the columns' own bind processors), so reads through SQLAlchemy agree.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from typing import Any

from sqlalchemy import Connection, Table, insert


def bulk_insert(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    constants: Mapping[str, Any] | None = None,
    converted: Sequence[str] = (),
) -> None:
    """Insert rows (tuples in `columns` order) into a table within the current transaction.

    `constants` are columns with one value for every row (a database name, a timestamp):
    converted once, not once a row. `converted` names columns whose values the caller has
    already converted (with bind_constants).
    """
    if not rows:
        return
    dialect = conn.dialect
    fixed = dict(constants or {})
    if dialect.name not in ("postgresql", "sqlite"):
        conn.execute(insert(table), [{**dict(zip(columns, r, strict=True)), **fixed} for r in rows])
        return
    active = [(i, p) for i, p in enumerate(_processors(conn, table, columns))
              if p is not None and columns[i] not in converted]  # fmt: skip
    if active:
        values: list[tuple[Any, ...]] = list(zip(*rows, strict=True))
        for i, process in active:
            values[i] = _processed(values[i], process)
        rows = list(zip(*values, strict=True))
    if fixed:
        tail = tuple(bind_constants(conn, table, fixed).values())
        rows = list(map(operator.add, rows, repeat(tail)))
        columns = [*columns, *fixed]
    driver: Any = conn.connection.driver_connection
    names = ", ".join(columns)
    if dialect.name == "postgresql":
        with (
            driver.cursor() as cursor,
            cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    cursor = driver.cursor()
    try:
        cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)
    finally:
        cursor.close()


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


def analyze(conn: Connection, table: Table) -> None:
    """Refresh the planner's statistics after a large write (PostgreSQL), so lookups use indexes."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {table.name}")

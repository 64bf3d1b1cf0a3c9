"""Writing many rows fast: COPY on PostgreSQL, the driver's executemany on SQLite.

Both run on the caller's connection, inside its transaction, and store values exactly as
SQLAlchemy would (the columns' own bind processors), so reads through SQLAlchemy agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert


def bulk_insert(
    conn: Connection, table: Table, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert rows (tuples in `columns` order) into a table within the current transaction."""
    if not rows:
        return
    dialect = conn.dialect
    processors: list[Callable[[Any], Any] | None] = [
        table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns
    ]
    if dialect.name not in ("postgresql", "sqlite"):
        conn.execute(insert(table), [dict(zip(columns, r, strict=True)) for r in rows])
        return
    active = [(i, p) for i, p in enumerate(processors) if p is not None]
    if active:
        converted = []
        for row in rows:
            values = list(row)
            for i, process in active:
                if values[i] is not None:
                    values[i] = process(values[i])
            converted.append(tuple(values))
        rows = converted
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


def analyze(conn: Connection, table: Table) -> None:
    """Refresh the planner's statistics after a large write (PostgreSQL), so lookups use indexes."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {table.name}")

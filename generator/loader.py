"""Bulk loading into a payroll database: COPY on PostgreSQL, executemany on SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Any

import sqlalchemy

SUPPORTED_DIALECTS = ("sqlite", "postgresql")


class BulkLoader:
    """One DBAPI connection that appends rows to payroll tables, one transaction per call."""

    def __init__(self, engine: sqlalchemy.Engine) -> None:
        if engine.dialect.name not in SUPPORTED_DIALECTS:
            raise ValueError(
                f"the payroll generator supports SQLite and PostgreSQL, not {engine.dialect.name}"
            )
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._pooled: Any = None
        self._synchronous: Any = None

    def __enter__(self) -> BulkLoader:
        self._pooled = self._engine.raw_connection()
        if self._sqlite:
            connection = self._pooled.driver_connection
            self._synchronous = connection.execute("PRAGMA synchronous").fetchone()[0]
            # Durability is pointless while generating: a crash means building again.
            # (journal_mode=WAL measured no faster, and it would outlive this connection.)
            connection.execute("PRAGMA synchronous=OFF")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self._pooled.rollback()
            if self._sqlite:
                # The connection returns to the engine's pool: leave it as it was.
                self._pooled.driver_connection.execute(
                    f"PRAGMA synchronous={int(self._synchronous)}"
                )
        finally:
            self._pooled.close()

    def write(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Append `rows` to `table` and commit."""
        if not rows:
            return
        names = ", ".join(columns)
        connection = self._pooled.driver_connection
        if self._sqlite:
            marks = ", ".join("?" * len(columns))
            connection.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)
        else:
            with (
                connection.cursor() as cursor,
                cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        connection.commit()

"""Reading a payroll database, read-only, the same way on SQLite, PostgreSQL and SQL Server."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, create_engine
from sqlalchemy.engine import make_url

from blocks.payroll_database import PayrollDatabase
from core.redact import scrub, split_odbc
from tasks.faults import PermanentFault, describe, is_transient

CHUNK_ROWS = 10_000


class PayrollReadError(Exception):
    """Reading payroll failed; the message names the database and holds no secret."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class PayrollReader:
    """Runs SELECTs on one payroll connection and streams the rows in chunks."""

    def __init__(
        self,
        database: str,
        paramstyle: str,
        connection: Any,
        via_sqlalchemy: bool,
        cancel_after_seconds: float | None = None,
        backend: str = "odbc",
    ):
        self.backend = backend
        self.database = database
        self.paramstyle = paramstyle
        self._connection = connection
        self._via_sqlalchemy = via_sqlalchemy
        self._cancel_after = cancel_after_seconds

    def chunks(
        self, sql: str, params: Sequence[Any] = (), size: int = CHUNK_ROWS
    ) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of a query, `size` at a time, never all in memory at once."""
        if self.backend == "sqlite":
            # SQLite keeps payroll's timestamps as text 'YYYY-MM-DD HH:MM:SS'.
            params = [p.isoformat(" ") if isinstance(p, datetime) else p for p in params]
        if self._via_sqlalchemy:
            conn: Connection = self._connection
            result = conn.execution_options(stream_results=True, yield_per=size).exec_driver_sql(
                sql, tuple(params)
            )
            for partition in result.partitions(size):
                yield [tuple(r) for r in partition]
            return
        cursor = self._connection.cursor()
        watchdog = None
        if self._cancel_after is not None:
            # The driver has no query timeout of its own: SQLCancel from a timer ends the query.
            watchdog = threading.Timer(self._cancel_after, cursor.cancel)
            watchdog.daemon = True
            watchdog.start()
        try:
            cursor.execute(sql, *params)
            while batch := cursor.fetchmany(size):
                yield [tuple(r) for r in batch]
        finally:
            if watchdog is not None:
                watchdog.cancel()
            cursor.close()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of a small query (a lookup)."""
        return [row for chunk in self.chunks(sql, params) for row in chunk]


def _secrets_of(block: PayrollDatabase) -> list[str]:
    value = block.connection_string.get_secret_value()
    secrets = [value]
    if block.connection_kind == "odbc":
        secrets += [v for k, v in split_odbc(value) if k.lower() in ("pwd", "password")]
    else:
        password = make_url(value).password
        if password:
            secrets.append(str(password))
    return secrets


@contextmanager
def payroll_reader(block: PayrollDatabase) -> Iterator[PayrollReader]:
    """A read-only reader on the payroll database; errors come out as PayrollReadError."""
    try:
        if block.connection_kind == "odbc":
            with _odbc_reader(block) as reader:
                yield reader
        else:
            with _sqlalchemy_reader(block) as reader:
                yield reader
    except PayrollReadError:
        raise
    except Exception as exc:
        reason = scrub(describe(exc), _secrets_of(block))
        message = f"payroll database {block.database_name}: {reason}"
        raise PayrollReadError(message, transient=is_transient(exc)) from None


@contextmanager
def _sqlalchemy_reader(block: PayrollDatabase) -> Iterator[PayrollReader]:
    url = make_url(block.connection_string.get_secret_value())
    timeout_ms = block.query_timeout_seconds * 1000
    kwargs: dict[str, Any] = {"hide_parameters": True}
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        if not path or path == ":memory:":
            raise PermanentFault(f"payroll database {block.database_name}: SQLite needs a file")
        # mode=ro: the sync must never write to payroll (CONTRACT.md).
        kwargs["creator"] = lambda: sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    elif url.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {
            "options": f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}"
        }
    engine = create_engine(url, **kwargs)
    try:
        with engine.connect() as conn:
            dbapi = engine.dialect.dbapi
            paramstyle = getattr(dbapi, "paramstyle", "qmark")
            yield PayrollReader(
                block.database_name,
                paramstyle,
                conn,
                via_sqlalchemy=True,
                backend=url.get_backend_name(),
            )
            # Holds no lock longer than one read: end the read transaction at once.
            conn.rollback()
    finally:
        engine.dispose()


@contextmanager
def _odbc_reader(block: PayrollDatabase) -> Iterator[PayrollReader]:
    import pyodbc

    connection = pyodbc.connect(
        block.connection_string.get_secret_value(), readonly=True, autocommit=True, timeout=30
    )
    cancel_after: float | None = None
    try:
        try:
            # Enforced by the driver where it can (SQL Server's does): a hung query ends.
            connection.timeout = block.query_timeout_seconds
        except pyodbc.Error:
            cancel_after = float(block.query_timeout_seconds)
        yield PayrollReader(
            block.database_name,
            "qmark",
            connection,
            via_sqlalchemy=False,
            cancel_after_seconds=cancel_after,
        )
    finally:
        connection.close()

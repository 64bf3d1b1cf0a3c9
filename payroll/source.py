"""Reading a payroll database, read-only, the same way on SQLite, PostgreSQL and SQL Server."""

from __future__ import annotations

import itertools
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from blocks.payroll_database import PayrollDatabase
from core.redact import connection_secrets, scrub
from jobs.context import cancel_hook, cancellable
from payroll.faults import PermanentFault, describe, is_transient, sqlstate

CHUNK_ROWS = 10_000
_cursor_ids = itertools.count(1)
_QUERY_TIMEOUT_STATES = {"57014", "HYT00", "HYT01"}
_QUERY_TIMEOUT_TEXT = re.compile(r"statement timeout|timeout expired|interrupted|cancel", re.I)


class PayrollReadError(Exception):
    """Reading payroll failed; the message names the database and holds no secret."""

    def __init__(self, message: str, *, transient: bool, cause_name: str, timed_out: bool):
        super().__init__(message)
        self.transient = transient
        self.cause_name = cause_name
        self.timed_out = timed_out


class _Watchdog:
    """Cancels a query that waits longer than the limit for its next rows."""

    def __init__(self, seconds: float | None, cancel: Callable[[], object]) -> None:
        self._seconds = seconds
        self._cancel = cancel
        self._timer: threading.Timer | None = None

    def arm(self) -> None:
        self.disarm()
        if self._seconds is not None:
            self._timer = threading.Timer(self._seconds, self._cancel)
            self._timer.daemon = True
            self._timer.start()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class PayrollReader:
    """Runs SELECTs on one payroll connection and streams the rows in chunks."""

    def __init__(
        self,
        database: str,
        paramstyle: str,
        connection: Any,
        *,
        backend: str,
        cancel: Callable[[], object],
        own_timeout_seconds: float | None,
    ):
        self.database = database
        self.paramstyle = paramstyle
        self.backend = backend
        self._connection = connection
        self._cancel = cancel
        self._own_timeout = own_timeout_seconds
        self._widths: dict[str, dict[str, int | None]] = {}
        self._scales: dict[str, dict[str, int | None]] = {}

    def widths_of(self, sql: str) -> dict[str, int | None]:
        """The declared width of each text column of a query already run (None: unknown).

        From the driver's cursor description: PostgreSQL and SQL Server enforce them;
        SQLite declares none.
        """
        return self._widths.get(sql, {})

    def scales_of(self, sql: str) -> dict[str, int | None]:
        """The declared scale (decimal places) of each column of a query already run."""
        return self._scales.get(sql, {})

    def chunks(
        self, sql: str, params: Sequence[Any] = (), size: int = CHUNK_ROWS, stream: bool = True
    ) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of a query, `size` at a time, never all in memory at once (`stream`)."""
        if self.backend == "sqlite":
            # SQLite keeps payroll's timestamps as text 'YYYY-MM-DD HH:MM:SS'.
            params = [p.isoformat(" ") if isinstance(p, datetime) else p for p in params]
        watchdog = _Watchdog(self._own_timeout, self._cancel)
        with cancellable(self._cancel):
            watchdog.arm()
            try:
                yield from self._stream(sql, params, size, watchdog, stream)
            finally:
                watchdog.disarm()

    def _stream(
        self, sql: str, params: Sequence[Any], size: int, watchdog: _Watchdog, stream: bool
    ) -> Iterator[list[tuple[Any, ...]]]:
        # PostgreSQL sends a whole result at once unless it is read through a server-side
        # (named) cursor; the other drivers stream with fetchmany. A cursor's plan is made
        # for its first rows (cursor_tuple_fraction): for a join that can be a nested loop
        # hundreds of times slower, so a small result is read without one.
        streamed = stream and self.backend == "postgresql"
        named = {"name": f"ess_read_{next(_cursor_ids)}"} if streamed else {}
        cursor = self._connection.cursor(**named)
        try:
            if params:
                cursor.execute(sql, tuple(params))
            else:
                cursor.execute(sql)
            if self.backend != "sqlite" and sql not in self._widths:
                described = cursor.description or ()
                self._widths[sql] = {d[0]: _declared_width(d) for d in described}
                self._scales[sql] = {d[0]: _declared_scale(d) for d in described}
            while batch := cursor.fetchmany(size):
                watchdog.disarm()
                yield [tuple(r) for r in batch]
                watchdog.arm()
        finally:
            cursor.close()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of a small query (a lookup), planned for the whole result."""
        return [row for chunk in self.chunks(sql, params, stream=False) for row in chunk]


def _declared_width(column: Sequence[Any]) -> int | None:
    # DB-API description: (name, type_code, display_size, internal_size, ...). psycopg gives
    # a varchar(n)'s n as display_size, pyodbc as both.
    for size in (column[2], column[3]):
        if isinstance(size, int) and size > 0:
            return size
    return None


def _declared_scale(column: Sequence[Any]) -> int | None:
    # DB-API description: (..., precision, scale, null_ok); a decimal(12,4)'s scale is 4.
    scale = column[5] if len(column) > 5 else None
    return scale if isinstance(scale, int) and scale >= 0 else None


def is_query_timeout(exc: BaseException) -> bool:
    """True when a query was ended for taking too long (by the driver, the server or us)."""
    if isinstance(exc, PayrollReadError):
        return exc.timed_out
    state = sqlstate(exc)
    if state is not None:
        return state in _QUERY_TIMEOUT_STATES
    return bool(_QUERY_TIMEOUT_TEXT.search(str(exc)))


@contextmanager
def payroll_reader(block: PayrollDatabase) -> Iterator[PayrollReader]:
    """A read-only reader on the payroll database; errors come out as PayrollReadError."""
    try:
        opener = _odbc_reader if block.connection_kind == "odbc" else _sqlalchemy_reader
        with opener(block) as reader:
            yield reader
    except PayrollReadError:
        raise
    except Exception as exc:
        secret = block.connection_string.get_secret_value()
        reason = scrub(describe(exc), connection_secrets(block.connection_kind, secret))
        raise PayrollReadError(
            f"payroll database {block.database_name}: {reason}",
            transient=is_transient(exc),
            cause_name=type(exc).__name__,
            timed_out=is_query_timeout(exc),
        ) from None


@contextmanager
def _sqlalchemy_reader(block: PayrollDatabase) -> Iterator[PayrollReader]:
    url = make_url(block.connection_string.get_secret_value())
    timeout = block.query_timeout_seconds
    backend = url.get_backend_name()
    kwargs: dict[str, Any] = {"hide_parameters": True}
    if backend == "sqlite":
        path = url.database or ""
        if not path or path == ":memory:":
            raise PermanentFault(f"payroll database {block.database_name}: SQLite needs a file")
        # mode=ro: the sync must never write to payroll (generator/CONTRACT.md).
        kwargs["creator"] = lambda: sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, check_same_thread=False
        )
    elif backend == "postgresql":
        kwargs["connect_args"] = {
            "options": f"-c default_transaction_read_only=on -c statement_timeout={timeout * 1000}"
        }
    engine = create_engine(url, **kwargs)
    try:
        with engine.connect() as conn:
            driver = conn.connection.driver_connection
            own_timeout: float | None = None
            if backend == "mssql":
                driver.timeout = timeout  # type: ignore[union-attr]  # pyodbc: SQL_ATTR_QUERY_TIMEOUT
            elif backend != "postgresql":
                own_timeout = float(timeout)
            yield PayrollReader(
                block.database_name,
                getattr(engine.dialect.dbapi, "paramstyle", "qmark"),
                driver,
                backend=backend,
                cancel=cancel_hook(driver),
                own_timeout_seconds=own_timeout,
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
    own_timeout: float | None = None
    try:
        try:
            # Enforced by the driver where it can (SQL Server's does): a hung query ends.
            connection.timeout = block.query_timeout_seconds
        except pyodbc.Error:
            own_timeout = float(block.query_timeout_seconds)
        cursors: list[Any] = []

        def cancel() -> None:
            for cursor in list(cursors):
                cursor.cancel()

        original_cursor = connection.cursor

        def tracked_cursor() -> Any:
            cursor = original_cursor()
            cursors.append(cursor)
            return cursor

        reader = PayrollReader(
            block.database_name,
            "qmark",
            _TrackedConnection(tracked_cursor),
            backend="odbc",
            cancel=cancel,
            own_timeout_seconds=own_timeout,
        )
        yield reader
    finally:
        connection.close()


class _TrackedConnection:
    """A pyodbc connection whose cursors can be cancelled (SQLCancel) from another thread."""

    def __init__(self, cursor: Callable[[], Any]) -> None:
        self.cursor = cursor

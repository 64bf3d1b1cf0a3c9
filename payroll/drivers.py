"""What differs between kinds of payroll database: opening read-only, timeouts, cursors.

One driver is chosen per block when a reader opens (`driver_for`); the reader then asks it,
rather than testing a backend name at every step.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine
from sqlalchemy.engine import URL, make_url

from jobs.context import cancel_hook
from payroll.faults import PermanentFault

if TYPE_CHECKING:
    from blocks.payroll_database import PayrollDatabase

_cursor_ids = itertools.count(1)
CONNECT_TIMEOUT_SECONDS = 30
"""How long a payroll server may take to answer a new connection: ODBC's login timeout, and
PostgreSQL's connect_timeout (libpq counts whole seconds, two at least) unless the URL sets
its own."""

_SNAPSHOT_NAME = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")
"""What pg_export_snapshot names a snapshot: `00000003-0000001B-1` (PostgreSQL 10 on)."""


@dataclass(frozen=True)
class Session:
    """An open read-only payroll connection, as the reader uses it."""

    connection: Any  # a DB-API connection: only .cursor() is used
    paramstyle: str
    cancel: Callable[[], object]
    # None: the server or the driver ends a query past the limit; else our watchdog does.
    own_timeout_seconds: float | None


class Driver:
    """How one kind of payroll database is opened and read."""

    # SQLite declares no column widths or scales: nothing to read from its descriptions.
    declares_columns: bool = True

    def open(self, block: PayrollDatabase) -> AbstractContextManager[Session]:
        """A read-only session on the block's database, closed on exit."""
        raise NotImplementedError

    def cursor(self, connection: Any, streamed: bool) -> Any:
        """A cursor for one query; `streamed` asks for rows to be fetched as they are read."""
        return connection.cursor()

    def end_reads(self, connection: Any) -> None:
        """End the read transaction of a session kept open for more reads: it holds no lock
        and no snapshot in between (an autocommit ODBC connection has none to end)."""
        rollback = getattr(connection, "rollback", None)
        if callable(rollback):
            rollback()

    def params(self, params: Sequence[Any]) -> Sequence[Any]:
        """Query parameters as this driver stores their values."""
        return params

    def begin_snapshot(self, connection: Any) -> bool:
        """Make the reads that follow see one moment of payroll; False where it cannot."""
        # SQL Server gives a snapshot only where ALLOW_SNAPSHOT_ISOLATION is on, which a
        # read-only login cannot check or set: each read sees its own moment there.
        return False

    def share_snapshot(self, connection: Any) -> str | None:
        """After begin_snapshot: the name another connection joins this snapshot by
        (join_snapshot), so a query beside this connection's reads sees the same moment;
        None where this kind cannot share one."""
        return None

    def join_snapshot(self, connection: Any, name: str) -> None:
        """Make the reads that follow see the snapshot another connection shared."""
        raise NotImplementedError(f"{type(self).__name__} shares no snapshot")

    def balance_digests(self) -> str | None:
        """SQL giving each employee's (employee_id, balance rows, digest) in id order,
        computed by the database itself, `{salt}` where the salt's placeholder goes; None
        where this kind cannot.

        Only used within a snapshot (begin_snapshot), so the digests and the balances read
        after them are of one moment.
        """
        return None


class SqlAlchemyUrl(Driver):
    """A payroll database named by a SQLAlchemy URL; the limit is kept by our watchdog."""

    def __init__(self, url: URL) -> None:
        self.url = url

    def engine_options(self, block: PayrollDatabase) -> dict[str, Any]:
        """create_engine options that make the connection read-only where the driver can."""
        return {}

    def set_timeout(self, driver_connection: Any, seconds: int) -> float | None:
        """Give the driver the query limit; the seconds our watchdog must keep, or None."""
        return float(seconds)

    @contextmanager
    def open(self, block: PayrollDatabase) -> Iterator[Session]:
        """A read-only session through a one-connection engine, disposed on exit."""
        engine = create_engine(self.url, hide_parameters=True, **self.engine_options(block))
        try:
            with engine.connect() as conn:
                driver = conn.connection.driver_connection
                yield Session(
                    driver,
                    getattr(engine.dialect.dbapi, "paramstyle", "qmark"),
                    cancel_hook(driver),
                    self.set_timeout(driver, block.query_timeout_seconds),
                )
                # Holds no lock longer than one read: end the read transaction at once.
                conn.rollback()
        finally:
            engine.dispose()


class SqliteUrl(SqlAlchemyUrl):
    """A payroll in a SQLite file (trials, the demo), opened mode=ro."""

    declares_columns = False

    def engine_options(self, block: PayrollDatabase) -> dict[str, Any]:
        """Open the file read-only: the sync must never write to payroll (generator/CONTRACT.md)."""
        path = self.url.database or ""
        if not path or path == ":memory:":
            # open_reader names the database: "payroll database NAME: SQLite needs a file".
            raise PermanentFault("SQLite needs a file, not an in-memory database")
        return {"creator": lambda: _open_sqlite(path)}

    def params(self, params: Sequence[Any]) -> Sequence[Any]:
        """Timestamps as text: SQLite keeps payroll's as 'YYYY-MM-DD HH:MM:SS'."""
        return [p.isoformat(" ") if isinstance(p, datetime) else p for p in params]

    def begin_snapshot(self, connection: Any) -> bool:
        """One read transaction: pysqlite opens none for a SELECT on its own."""
        connection.execute("BEGIN")
        return True

    def balance_digests(self) -> str | None:
        """SQLite has no hash function: the connection has ours (_row_hash)."""
        return _balance_digests(_DIGEST.format(hash=f"{_ROW_HASH}({_BALANCE_TEXT})"))


class PostgresUrl(SqlAlchemyUrl):
    """A payroll on PostgreSQL: read-only transactions, the server's statement_timeout."""

    def engine_options(self, block: PayrollDatabase) -> dict[str, Any]:
        """Every transaction read-only, every statement ended by the server past the limit,
        and a connection given up when the server does not answer in time."""
        timeout_ms = block.query_timeout_seconds * 1000
        options = f"-c default_transaction_read_only=on -c statement_timeout={timeout_ms}"
        connect_args: dict[str, Any] = {"options": options}
        # libpq waits for ever on a server that takes the connection and never answers (one
        # frozen, or a firewall that drops its replies), and no job deadline ends a call
        # blocked in the driver. They wait as long as ODBC connections do, unless the URL
        # says otherwise.
        if "connect_timeout" not in self.url.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        return {"connect_args": connect_args}

    def set_timeout(self, driver_connection: Any, seconds: int) -> float | None:
        """None: statement_timeout already ends a long query."""
        return None

    def begin_snapshot(self, connection: Any) -> bool:
        """A REPEATABLE READ transaction: every read sees the moment of the first."""
        connection.rollback()  # SET TRANSACTION must be the transaction's first statement
        cursor = connection.cursor()
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.close()
        return True

    def share_snapshot(self, connection: Any) -> str | None:
        """The transaction's snapshot, exported by name (pg_export_snapshot): it stays
        joinable while this transaction is open. None where the server refuses (an old
        standby): the transaction, which read nothing yet, begins again."""
        cursor = connection.cursor()
        try:
            cursor.execute("SELECT pg_export_snapshot()")
            (name,) = cursor.fetchone()
        except Exception:
            self.begin_snapshot(connection)  # the failed statement aborted the transaction
            return None
        finally:
            cursor.close()
        return str(name)

    def join_snapshot(self, connection: Any, name: str) -> None:
        """A REPEATABLE READ transaction that reads in the exported snapshot `name`."""
        # SET TRANSACTION SNAPSHOT takes a literal, not a parameter: only a name of the
        # form PostgreSQL gives (hex-hex-number) is ever put in it.
        if not _SNAPSHOT_NAME.fullmatch(name):
            raise ValueError(f"not a PostgreSQL snapshot name: {name!r}")
        self.begin_snapshot(connection)
        cursor = connection.cursor()
        try:
            cursor.execute(f"SET TRANSACTION SNAPSHOT '{name}'")
        finally:
            cursor.close()

    def balance_digests(self) -> str | None:
        """PostgreSQL's own 64-bit text hash: a third of the time md5 takes (0.98 s against
        3.1 s for 1.6 million balances, grouped)."""
        # SUM of bigints is a NUMERIC: the digest comes back as a bigint, not a Decimal.
        digest = _DIGEST.format(hash=f"hashtextextended({_BALANCE_TEXT}, 0)")
        return _balance_digests(f"CAST(MOD({digest}, 9223372036854775783) AS BIGINT)")

    def cursor(self, connection: Any, streamed: bool) -> Any:
        """A server-side (named) cursor when streaming, else a client-side one.

        PostgreSQL sends a whole result at once unless it is read through a named cursor.
        A named cursor's plan is made for its first rows (cursor_tuple_fraction): for a
        join that can be a nested loop hundreds of times slower, so a small result is
        read without one.
        """
        if streamed:
            return connection.cursor(name=f"ess_read_{next(_cursor_ids)}")
        return connection.cursor()


class MssqlUrl(SqlAlchemyUrl):
    """A payroll on SQL Server through a mssql+pyodbc URL: the driver keeps the limit."""

    def set_timeout(self, driver_connection: Any, seconds: int) -> float | None:
        """pyodbc's SQL_ATTR_QUERY_TIMEOUT: SQL Server's driver ends a long query."""
        driver_connection.timeout = seconds
        return None


class Odbc(Driver):
    """A payroll read through pyodbc with an ODBC connection string (production)."""

    @contextmanager
    def open(self, block: PayrollDatabase) -> Iterator[Session]:
        """A read-only, autocommit pyodbc connection whose cursors can be cancelled."""
        import pyodbc

        connection = pyodbc.connect(
            block.connection_string.get_secret_value(),
            readonly=True,
            autocommit=True,
            timeout=CONNECT_TIMEOUT_SECONDS,
        )
        tracked = _TrackedConnection(connection)
        own_timeout: float | None = None
        try:
            try:
                # Enforced by the driver where it can (SQL Server's does): a hung query ends.
                connection.timeout = block.query_timeout_seconds
            except pyodbc.Error:
                own_timeout = float(block.query_timeout_seconds)
            yield Session(tracked, "qmark", tracked.cancel, own_timeout)
        finally:
            tracked.close()


class _TrackedConnection:
    """A pyodbc connection whose cursors can be cancelled (SQLCancel) from another thread.

    The job's heartbeat cancels a query past the job's limit while the step's thread, its
    query cancelled, closes the cursor and then the connection. pyodbc is not safe for both
    at once: a cancel that reached a statement as its connection freed it crashed the
    process (a segmentation fault, seen under load). So closing a cursor or the connection
    and cancelling take one lock, and only cursors still open are cancelled.
    """

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._cursors: list[_TrackedCursor] = []
        self._lock = threading.Lock()

    def cursor(self) -> _TrackedCursor:
        """A new cursor, remembered until it is closed so that cancel() reaches it."""
        with self._lock:
            cursor = _TrackedCursor(self._connection.cursor(), self)
            self._cursors.append(cursor)
        return cursor

    def cancel(self) -> None:
        """Cancel whatever the connection's open cursors are running, newest first."""
        with self._lock:
            for cursor in reversed(self._cursors):
                try:
                    cursor.cursor.cancel()
                except Exception:  # its connection gone: nothing of it runs
                    continue

    def close_cursor(self, cursor: _TrackedCursor) -> None:
        """Close one cursor; cancel() no longer reaches it."""
        with self._lock:
            if cursor in self._cursors:
                self._cursors.remove(cursor)
            cursor.cursor.close()

    def close(self) -> None:
        """Close the connection (and with it every cursor still open)."""
        with self._lock:
            self._cursors.clear()
            self._connection.close()


class _TrackedCursor:
    """A pyodbc cursor whose close() goes through its _TrackedConnection."""

    def __init__(self, cursor: Any, owner: _TrackedConnection) -> None:
        self.cursor = cursor
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cursor, name)

    def close(self) -> None:
        """Close the cursor, out of the way of a cancel."""
        self._owner.close_cursor(self)


# One balance as text, every column: any change to a row changes its text. A value that
# prints the same is the same to ESS, which keeps four places (SQLite prints a REAL with 15
# significant digits; a DECIMAL(12,4) has at most 12).
_BALANCE_TEXT = "leave_type_code || '|' || balance || '|' || accrued_to"
# Each employee's digest: the sum of its rows' hashes, its number of rows and a salt (one
# parameter, below 2**40), as one signed 64-bit integer, so the reader takes each row of the
# result as it comes (SQLite's sum of 40-bit hashes stays well inside 64 bits).
_DIGEST = "SUM({hash}) + COUNT(*) * 1000003 + {{salt}}"


def _balance_digests(digest: str) -> str:
    return (
        f"SELECT employee_id, COUNT(*), {digest} FROM leave_balance "
        "GROUP BY employee_id ORDER BY employee_id"
    )


_ROW_HASH = "ess_row_hash"


def _row_hash(text: str | None) -> int | None:
    # 40 bits: SQLite's SUM of 64-bit integers fails on overflow; 2**23 balances an
    # employee fit.
    if text is None:
        return None
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=5).digest(), "big")


def _open_sqlite(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    connection.create_function(_ROW_HASH, 1, _row_hash, deterministic=True)
    return connection


_URL_DRIVERS: dict[str, type[SqlAlchemyUrl]] = {
    "sqlite": SqliteUrl,
    "postgresql": PostgresUrl,
    "mssql": MssqlUrl,
}


def driver_for(block: PayrollDatabase) -> Driver:
    """The driver for a block's connection: ODBC, or by its SQLAlchemy URL's backend."""
    if block.connection_kind == "odbc":
        return Odbc()
    url = make_url(block.connection_string.get_secret_value())
    return _URL_DRIVERS.get(url.get_backend_name(), SqlAlchemyUrl)(url)

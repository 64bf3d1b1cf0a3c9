"""Reading a payroll database, read-only, the same way on SQLite, PostgreSQL and SQL Server."""

from __future__ import annotations

import contextlib
import re
import threading
import weakref
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from core.queries import placeholder
from core.redact import connection_secrets, scrub
from jobs.context import JobContext, cancellable, current_job
from payroll.drivers import Driver, Session, driver_for
from payroll.faults import describe, is_transient, sqlstate

if TYPE_CHECKING:
    from blocks.payroll_database import PayrollDatabase

CHUNK_ROWS = 10_000
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

    def __init__(self, block: PayrollDatabase, driver: Driver, session: Session):
        self.database = block.database_name
        self.paramstyle = session.paramstyle
        self._driver = driver
        self._session = session
        self._block = block
        self._widths: dict[str, dict[str, int | None]] = {}
        self._scales: dict[str, dict[str, int | None]] = {}
        self._reading: weakref.WeakSet[Generator[Any, None, None]] = weakref.WeakSet()

    def close_reads(self) -> None:
        """Close every reading still open (a caller that failed mid-way), cursors first.

        open_reader calls this before the connection closes: a reading left to the garbage
        collector would close its cursor on a connection long gone, and fail there.
        """
        for reading in list(self._reading):
            # A reading is left open by a caller that stopped, most often on an error: a
            # second error closing its cursor (the connection broke) must not replace it.
            with contextlib.suppress(Exception):
                reading.close()

    def beside(self) -> AbstractContextManager[PayrollReader]:
        """Another reader of this database, on a connection of its own while this one's is
        in use: for a query run in another thread beside this reader's reads."""
        return open_reader(self._block)

    @contextmanager
    def _on_payroll(self) -> Iterator[None]:
        """Around a call to payroll's driver: its failure comes out as PayrollReadError."""
        try:
            yield
        except PayrollReadError:
            raise
        except Exception as exc:
            raise read_error(self._block, exc) from None

    def snapshot(self) -> bool:
        """Make every read that follows see one moment of payroll; False where it cannot."""
        with self._on_payroll():
            return self._driver.begin_snapshot(self._session.connection)

    def share_snapshot(self) -> str | None:
        """The name of the snapshot begun (snapshot()), for a reader beside this one to read
        in too (join_snapshot); None where payroll cannot share one: read in turn then."""
        with self._on_payroll():
            return self._driver.share_snapshot(self._session.connection)

    def join_snapshot(self, name: str) -> None:
        """Make every read that follows see the moment another reader shared."""
        with self._on_payroll():
            self._driver.join_snapshot(self._session.connection, name)

    def balance_digests(
        self, salt: int, size: int = CHUNK_ROWS
    ) -> Iterator[list[tuple[Any, ...]]] | None:
        """Each employee's (employee_id, balance rows, digest with `salt`), in id order,
        `size` at a time; None where this kind of payroll cannot compute them."""
        sql = self._driver.balance_digests()
        if sql is None:
            return None
        sql = sql.format(salt=placeholder(self.paramstyle, 0))
        return self.chunks(sql, [salt], size=size)

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
    ) -> Generator[list[tuple[Any, ...]], None, None]:
        """The rows of a query, `size` at a time, never all in memory at once (`stream`)."""
        reading = self._chunks(sql, params, size, stream)
        self._reading.add(reading)
        return reading

    def _chunks(
        self, sql: str, params: Sequence[Any], size: int, stream: bool
    ) -> Generator[list[tuple[Any, ...]], None, None]:
        params = self._driver.params(params)
        watchdog = _Watchdog(self._session.own_timeout_seconds, self._session.cancel)
        with cancellable(self._session.cancel):
            watchdog.arm()
            try:
                yield from self._stream(sql, params, size, watchdog, stream)
            finally:
                watchdog.disarm()

    def _stream(
        self, sql: str, params: Sequence[Any], size: int, watchdog: _Watchdog, stream: bool
    ) -> Iterator[list[tuple[Any, ...]]]:
        with self._on_payroll():
            cursor = self._driver.cursor(self._session.connection, stream)
        try:
            with self._on_payroll():
                if params:
                    cursor.execute(sql, tuple(params))
                else:
                    cursor.execute(sql)
                described = cursor.description or ()
            if self._driver.declares_columns and sql not in self._widths:
                self._widths[sql] = {d[0]: _declared_width(d) for d in described}
                self._scales[sql] = {d[0]: _declared_scale(d) for d in described}
            while True:
                with self._on_payroll():
                    batch = cursor.fetchmany(size)
                if not batch:
                    break
                watchdog.disarm()
                yield [tuple(r) for r in batch]
                watchdog.arm()
        finally:
            with self._on_payroll():
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


def read_error(block: PayrollDatabase, exc: Exception) -> PayrollReadError:
    """PayrollReadError for a failure of payroll's driver: the database named, the driver's
    words with no secret of the block's connection in them."""
    secret = block.connection_string.get_secret_value()
    reason = scrub(describe(exc), connection_secrets(block.connection_kind, secret))
    return PayrollReadError(
        f"payroll database {block.database_name}: {reason}",
        transient=is_transient(exc),
        cause_name=type(exc).__name__,
        timed_out=is_query_timeout(exc),
    )


@contextmanager
def open_reader(block: PayrollDatabase) -> Iterator[PayrollReader]:
    """A read-only reader on the block's database; its failures (connecting, reading,
    closing) come out as PayrollReadError.

    An error of the caller's own (ESS's server refusing a write, a job past its time) comes
    out as it was raised: it is not payroll's, and a message blaming payroll would send
    whoever reads it to the wrong server. Callers use `block.reader()`, which is this.
    """
    caller_failed: BaseException | None = None
    try:
        driver = driver_for(block)
        with _session(driver, block) as session:
            reader = PayrollReader(block, driver, session)
            try:
                yield reader
            except BaseException as exc:
                caller_failed = exc
                raise
            finally:
                reader.close_reads()
    except Exception as exc:
        if caller_failed is None:
            if isinstance(exc, PayrollReadError):
                raise
            raise read_error(block, exc) from None
        # Payroll's connection failing to close after the caller's error: the caller's stays.
        # Raised here, outside the handler, it takes no unscrubbed driver error as context.
    if caller_failed is not None:
        raise caller_failed


def _session(driver: Driver, block: PayrollDatabase) -> AbstractContextManager[Session]:
    """A session for one reader: the job's, kept open for all its steps, or (outside a job)
    one opened for this reader alone."""
    job = current_job()
    if job is None:
        return driver.open(block)
    key = ("payroll session", block.database_name)
    return job.once(key, lambda: _JobSession(driver, block, job)).borrow()


class _JobSession:
    """One payroll connection for every step of a job that reads payroll, instead of one
    each: a connection (a login, a TLS handshake, the driver's first queries) costs more
    than most re-syncs' reads. Each reader ends its read transaction when it is done, so
    nothing is held between steps; a read that fails closes the connection, and the step's
    retry opens a new one. Closed when the job's context ends (JobContext.close)."""

    def __init__(self, driver: Driver, block: PayrollDatabase, job: JobContext) -> None:
        self._driver = driver
        self._block = block
        self._open: contextlib.ExitStack | None = None
        self._session: Session | None = None
        self._busy = False
        self._lock = threading.Lock()
        job.on_close(self.close)

    @contextmanager
    def borrow(self) -> Iterator[Session]:
        with self._lock:
            busy, self._busy = self._busy, True
        if busy:
            # A reader opened while another of the job's is open: a connection of its own,
            # so neither ends the other's transaction.
            with self._driver.open(self._block) as session:
                yield session
            return
        try:
            if self._session is not None and not self._answers(self._session):
                self.close()  # gone since the last step (a restart, a network blip)
            if self._session is None:
                stack = contextlib.ExitStack()
                self._session = stack.enter_context(self._driver.open(self._block))
                self._open = stack
            try:
                yield self._session
                self._driver.end_reads(self._session.connection)
            except BaseException:
                self.close()
                raise
        finally:
            with self._lock:
                self._busy = False

    def _answers(self, session: Session) -> bool:
        """Whether the kept connection still answers a query (within the query limit)."""
        try:
            PayrollReader(self._block, self._driver, session).all("SELECT 1")
            self._driver.end_reads(session.connection)
        except Exception:
            return False
        return True

    def close(self) -> None:
        """Close the connection (a later reader of the job opens a new one)."""
        stack, self._open, self._session = self._open, None, None
        if stack is not None:
            stack.close()

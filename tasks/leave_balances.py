"""The "Retrieving Leave Balances." step: every employee's balances, in one transaction."""

from __future__ import annotations

import logging
from array import array
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import copy_context
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Connection, select

from core.balance_digests import (
    Digests,
    ReadAgain,
    Tally,
    read_again,
    tally_kept,
    types_salt,
)
from core.employees import code_key
from core.leave import (
    BALANCE_COLUMNS,
    PLACES,
    by_whole_employees,
    compare_balances,
    prepare_balances,
)
from core.queries import reads_by_id, select_all
from ess.database import ess_engine
from ess.schema import LOOKUP_TABLES, leave_balance
from ess.store.bulk import BulkWriter, analyze, bind_constants
from ess.store.employees import IN_BATCH
from ess.store.leave_balances import (
    BalanceWriter,
    forget_digests,
    held_balances,
    held_balances_of,
    keep_digests,
    stored_digests,
)
from jobs.context import cancel_hook, cancellable, current_job
from jobs.lease import hold_database
from jobs.retries import STEP_OPTIONS
from payroll.connect import load_payroll
from payroll.source import PayrollReader

_logger = logging.getLogger("ess_sync.leave_balances")
CHUNK = 4_000  # balances a read (whole employees); small chunks stay in the CPU's cache


@dataclass
class LeaveBalancesResult:
    """What the step did."""

    employees: int = 0
    read: int = 0
    """Employees whose balances were read (the rest were unchanged in payroll)."""
    changed: int = 0
    unchanged: int = 0
    unknown_types: dict[str, int] = field(default_factory=dict)
    invalid: list[tuple[int, str, str]] = field(default_factory=list)
    """Balances ESS cannot hold: (payroll employee id, leave type, why)."""

    def count_written(self, writer: BalanceWriter, compared: int, skipped: int = 0) -> None:
        """What a re-sync changed, from its writer: `compared` payroll balances kept and
        compared with ESS's, `skipped` more not read again (unchanged in payroll)."""
        self.changed = writer.deleted + writer.updated + writer.inserted
        self.unchanged = compared - writer.updated - writer.inserted + skipped

    def counted(self) -> dict[str, int]:
        """Each count by its name, as the Web API Log's counts row says them."""
        return {"employees": self.employees, "updated": self.changed, "unchanged": self.unchanged}


@task(
    name="import-leave-balances",
    task_run_name="importing leave balances",
    cache_policy=NO_CACHE,
    **STEP_OPTIONS,
)
def import_leave_balances(database: str) -> LeaveBalancesResult:
    """Bring every employee's leave balances into ESS; only changed balances are written.

    Balances are a snapshot "as at the last pay": one gone from payroll is deleted from
    ESS. A first import copies payroll's balances straight in. Later ones read payroll's
    and ESS's balances side by side in key order, a chunk of whole employees at a time,
    and write only what differs (delete what is gone, update what differs, insert what is
    new). The whole step commits together; a retry starts it again from the top.
    """
    result = LeaveBalancesResult()
    with (
        load_payroll(database).reader() as reader,
        ess_engine().connect() as conn,
        cancellable(cancel_hook(conn.connection.driver_connection)),
        conn.begin(),
    ):
        types = leave_types(conn, database)
        now = datetime.now(UTC)
        step = _Step(conn, database, now, reader, types, result)
        if _no_balances(conn, database):
            with _digests_beside(reader, types) as digests_read:
                _copy(step, digests_read)
        elif (digests := _payroll_digests(reader, types)) is not None and (
            plan := _plan(conn, database, digests)
        ) is not None:
            _compare_changed(step, digests, plan)
        else:
            _compare(step, digests)
        hold_database(conn)  # the balances count only while the job holds its database
    return result


@dataclass(frozen=True)
class _Step:
    """What every part of the step works with."""

    conn: Connection
    database: str
    now: datetime
    reader: PayrollReader
    types: dict[str, str]
    result: LeaveBalancesResult

    def unpacked(
        self,
    ) -> tuple[Connection, str, PayrollReader, dict[str, str], LeaveBalancesResult]:
        return self.conn, self.database, self.reader, self.types, self.result


def _payroll_digests(reader: PayrollReader, types: dict[str, str]) -> Digests | None:
    """Payroll's digest of each employee's balances, taken in the snapshot every read of the
    step then sees; None where payroll gives no snapshot or computes no digest (SQL Server,
    ODBC): then every balance is read and compared, every time."""
    if not reader.snapshot():
        return None
    return _digests_of(reader, types)


@contextmanager
def _digests_beside(
    reader: PayrollReader, types: dict[str, str]
) -> Iterator[Callable[[], Digests | None]]:
    """Payroll's digests for a first import, read beside its copy; called, gives them.

    Payroll computes them in about a second at 1.6 million balances, which a first import
    spent before copying a balance. Where payroll shares its snapshot (PostgreSQL) they are
    read on a connection of their own, in a thread, in the snapshot the copy reads in, while
    the copy runs; elsewhere they are read first, as a re-sync reads them.
    """
    if not reader.snapshot():
        yield lambda: None  # no snapshot, no digests: every re-sync compares everyone
        return
    name = reader.share_snapshot()
    if name is None:
        first = _digests_of(reader, types)
        yield lambda: first
        return

    def read() -> Digests | None:
        with reader.beside() as other:
            other.join_snapshot(name)
            return _digests_of(other, types)

    def digests() -> Digests | None:
        try:
            return beside.result()
        except Exception:
            # Read in turn on the copy's connection, still in its snapshot: a first import
            # never fails for want of a second connection (a login limit, a proxy).
            _logger.warning("Payroll's digests read beside the copy failed; read again")
            return _digests_of(reader, types)

    # The thread runs in the job's context: its query is cancelled with the job's.
    thread = ThreadPoolExecutor(1, thread_name_prefix="ess-digests")
    try:
        beside = thread.submit(copy_context().run, read)
        yield digests
    finally:
        thread.shutdown(wait=True)


def _digests_of(reader: PayrollReader, types: dict[str, str]) -> Digests | None:
    """Payroll's digests, read in the snapshot the reader is in; None where it computes none."""
    chunks = reader.balance_digests(types_salt(types))
    return None if chunks is None else Digests.read(chunks)


def _plan(conn: Connection, database: str, digests: Digests) -> ReadAgain | None:
    """Whom a re-sync reads again, from payroll's digests against those ESS keeps (None:
    ESS keeps none); the employees not read again take ESS's kept counts. ESS's digests are
    read a slice at a time as they are compared, before the balances are read."""
    held = stored_digests(conn, database)
    return None if held is None else read_again(digests, held)


def _keep_every_digest(conn: Connection, database: str, digests: Digests | None) -> None:
    """After reading every balance: keep each employee's digest, or forget them all where
    payroll computes none (an old digest kept would outlive the balances it described)."""
    if digests is None:
        forget_digests(conn, database)
    else:
        keep_digests(conn, database, digests)


def _copy(step: _Step, digests_read: Callable[[], Digests | None]) -> None:
    """A first import: every balance in one COPY; then payroll's digests (`digests_read`,
    read meanwhile) are kept with the balances each employee kept."""
    conn, database, reader, types, result = step.unpacked()
    # The same two values end every row: converted once, added as rows are made.
    constants = bind_constants(
        conn, leave_balance, {"payroll_database": database, "synced_at": step.now}
    )
    columns = [*_BALANCE_FIELDS, *constants]
    tallies: list[Tally | None] = []
    with BulkWriter(conn, leave_balance, columns, converted=tuple(constants), binary=True) as copy:
        for _, read, rows in _prepared(reader, types, tuple(constants.values()), result):
            copy.write(rows)
            result.changed += len(rows)
            tallies.append(tally_kept(rows, read))
    # Millions of rows where there were none: the next re-sync's reads need to know.
    analyze(conn, leave_balance, _PLANNED_COLUMNS)
    digests = digests_read()
    if digests is not None:
        at = 0
        for tally in tallies:
            at = digests.count_tally(tally, at)
    _keep_every_digest(conn, database, digests)
    result.read = result.employees


def _compare(step: _Step, digests: Digests | None) -> None:
    """A re-sync of every balance: payroll's and ESS's side by side, in key order, writing
    only what differs."""
    conn, database, reader, types, result = step.unpacked()
    writer = BalanceWriter(conn, database, step.now)
    kept, at = 0, 0
    after: int | None = None  # the last employee compared
    for upto, read, rows in _prepared(reader, types, (), result):
        held = held_balances(conn, database, after, upto)
        writer.add(compare_balances(rows, held))
        kept += len(rows)
        after = upto
        if digests is not None:
            at = digests.count_kept(rows, read, at)
    writer.delete_after(after)  # employees after payroll's last
    writer.finish()
    _keep_every_digest(conn, database, digests)
    result.read = result.employees
    result.count_written(writer, kept)


def _compare_changed(step: _Step, digests: Digests, plan: ReadAgain) -> None:
    """A re-sync of the employees whose digest changed: payroll's and ESS's balances of
    them side by side, writing only what differs; ESS's balances of employees gone from
    payroll deleted. `plan`: payroll's digests against those the last sync kept."""
    conn, database, reader, types, result = step.unpacked()
    stale = array("i", (digests.ids[at] for at in plan.stale))
    writer = BalanceWriter(conn, database, step.now)
    kept, at = 0, 0
    for employees, read, rows in _prepared_of(reader, types, stale, result):
        held = held_balances_of(conn, database, employees)
        writer.add(compare_balances(rows, held))
        kept += len(rows)
        at = digests.count_kept(rows, read, at)
    for start in range(0, len(plan.gone), CHUNK):
        gone = plan.gone[start : start + CHUNK]
        writer.add(compare_balances([], held_balances_of(conn, database, gone)))
    writer.finish()
    if plan.stale or plan.gone:
        keep_digests(conn, database, digests)
    result.read = result.employees
    result.employees += plan.skipped_employees
    result.count_written(writer, kept, plan.skipped_balances)


def _prepared(
    reader: PayrollReader,
    types: dict[str, str],
    tail: tuple[Any, ...],
    result: LeaveBalancesResult,
) -> Iterator[tuple[int, int, list[Any]]]:
    """Payroll's balances, whole employees at a time, as ESS keeps them, with the chunk's
    last employee id (whether or not any of its balances were kept) and how many payroll
    rows it read; counts go to result."""
    sql = select_all("leave_balance", BALANCE_COLUMNS, order_by=_KEY_ORDER)
    for rows in by_whole_employees(reader.chunks(sql, size=CHUNK)):
        yield int(rows[-1][0]), len(rows), _prepare(reader, sql, rows, types, tail, result)


def _prepared_of(
    reader: PayrollReader, types: dict[str, str], ids: array[int], result: LeaveBalancesResult
) -> Iterator[tuple[list[int], int, list[Any]]]:
    """Payroll's balances of these employees (sorted ids, each with a balance), whole
    employees at a time, as ESS keeps them, with the chunk's employees and how many payroll
    rows it read: dense runs read as key ranges, the rest by IN lists."""
    reads = reads_by_id(
        "leave_balance", BALANCE_COLUMNS, "employee_id", ids, reader.paramstyle, IN_BATCH
    )
    for sql, params, ranged in reads:
        if ranged:
            for rows in by_whole_employees(reader.chunks(sql, params, size=CHUNK)):
                employees = sorted(set(map(itemgetter(0), rows)))
                yield employees, len(rows), _prepare(reader, sql, rows, types, (), result)
            continue
        rows = sorted(reader.all(sql, params), key=itemgetter(0))
        yield params, len(rows), _prepare(reader, sql, rows, types, (), result)


def _prepare(
    reader: PayrollReader,
    sql: str,
    rows: list[tuple[Any, ...]],
    types: dict[str, str],
    tail: tuple[Any, ...],
    result: LeaveBalancesResult,
) -> list[Any]:
    job = current_job()
    if job is not None:
        job.check()
    exact = reader.scales_of(sql).get("balance") == PLACES
    prepared = prepare_balances(rows, types, exact=exact, tail=tail)
    result.employees += prepared.employees
    for code, n in prepared.unknown_types.items():
        result.unknown_types[code] = result.unknown_types.get(code, 0) + n
    result.invalid += prepared.invalid
    return prepared.rows


# Payroll's key: both sides are read in this order (ESS's primary key gives the same).
_KEY_ORDER = ("employee_id", "leave_type_code")
_BALANCE_FIELDS = ("payroll_employee_id", "leave_type_code", "balance", "accrued_to")
# What a re-sync's reads and writes filter on.
_PLANNED_COLUMNS = ("payroll_database", "payroll_employee_id", "leave_type_code")


def _no_balances(conn: Connection, database: str) -> bool:
    found = conn.execute(
        select(leave_balance.c.payroll_employee_id)
        .where(leave_balance.c.payroll_database == database)
        .limit(1)
    ).first()
    return found is None


def leave_types(conn: Connection, database: str) -> dict[str, str]:
    """ESS's in-payroll leave types of a database: each code's key to the type's own code."""
    table = LOOKUP_TABLES["leave_type"]
    codes = conn.execute(
        select(table.c.leave_type_code).where(
            table.c.payroll_database == database, table.c.in_payroll
        )
    ).scalars()
    return {code_key(c): c for c in codes}

"""The "Retrieving Leave Balances." step: every employee's balances, in one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Connection, select

from core.employees import code_key
from core.leave import (
    BALANCE_COLUMNS,
    PLACES,
    by_whole_employees,
    compare_balances,
    prepare_balances,
)
from core.queries import select_all
from ess.database import ess_engine
from ess.schema import LOOKUP_TABLES, leave_balance
from ess.store.bulk import BulkWriter, analyze, bind_constants
from ess.store.leave_balances import BalanceWriter, held_balances
from jobs.context import cancel_hook, cancellable, current_job
from jobs.lease import hold_database
from jobs.retries import STEP_OPTIONS
from payroll.connect import load_payroll
from payroll.source import PayrollReader

CHUNK = 4_000  # balances a read (whole employees); small chunks stay in the CPU's cache


@dataclass
class LeaveBalancesResult:
    """What the step did."""

    employees: int = 0
    changed: int = 0
    unchanged: int = 0
    unknown_types: dict[str, int] = field(default_factory=dict)

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
        if _no_balances(conn, database):
            _copy(conn, database, now, reader, types, result)
        else:
            _compare(conn, database, now, reader, types, result)
        hold_database(conn)  # the balances count only while the job holds its database
    return result


def _copy(
    conn: Connection,
    database: str,
    now: datetime,
    reader: PayrollReader,
    types: dict[str, str],
    result: LeaveBalancesResult,
) -> None:
    """A first import: every balance in one COPY."""
    # The same two values end every row: converted once, added as rows are made.
    constants = bind_constants(
        conn, leave_balance, {"payroll_database": database, "synced_at": now}
    )
    columns = [*_BALANCE_FIELDS, *constants]
    with BulkWriter(conn, leave_balance, columns, converted=tuple(constants), binary=True) as copy:
        for _, rows in _prepared(reader, types, tuple(constants.values()), result):
            copy.write(rows)
            result.changed += len(rows)
    # Millions of rows where there were none: the next re-sync's reads need to know.
    analyze(conn, leave_balance, _PLANNED_COLUMNS)


def _compare(
    conn: Connection,
    database: str,
    now: datetime,
    reader: PayrollReader,
    types: dict[str, str],
    result: LeaveBalancesResult,
) -> None:
    """A re-sync: payroll's and ESS's balances side by side, writing only what differs."""
    writer = BalanceWriter(conn, database, now)
    kept = 0
    after: int | None = None  # the last employee compared
    for upto, rows in _prepared(reader, types, (), result):
        held = held_balances(conn, database, after, upto)
        writer.add(compare_balances(rows, held))
        kept += len(rows)
        after = upto
    writer.delete_after(after)  # employees after payroll's last
    writer.finish()
    result.changed = writer.deleted + writer.updated + writer.inserted
    result.unchanged = kept - writer.updated - writer.inserted


def _prepared(
    reader: PayrollReader,
    types: dict[str, str],
    tail: tuple[Any, ...],
    result: LeaveBalancesResult,
) -> Iterator[tuple[int, list[Any]]]:
    """Payroll's balances, whole employees at a time, as ESS keeps them, with the chunk's
    last employee id (whether or not any of its balances were kept); counts go to result."""
    job = current_job()
    sql = select_all("leave_balance", BALANCE_COLUMNS, order_by=_KEY_ORDER)
    for rows in by_whole_employees(reader.chunks(sql, size=CHUNK)):
        if job is not None:
            job.check()
        exact = reader.scales_of(sql).get("balance") == PLACES
        prepared = prepare_balances(rows, types, exact=exact, tail=tail)
        result.employees += prepared.employees
        for code, n in prepared.unknown_types.items():
            result.unknown_types[code] = result.unknown_types.get(code, 0) + n
        yield int(rows[-1][0]), prepared.rows


# Payroll's key: both sides are read in this order (ESS's unique key gives the same).
_KEY_ORDER = ("employee_id", "leave_type_code")
_BALANCE_FIELDS = ("payroll_employee_id", "leave_type_code", "balance", "accrued_to")
# What a re-sync's reads and writes filter on.
_PLANNED_COLUMNS = ("payroll_database", "payroll_employee_id", "leave_type_code")


def _no_balances(conn: Connection, database: str) -> bool:
    found = conn.execute(
        select(leave_balance.c.id).where(leave_balance.c.payroll_database == database).limit(1)
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

"""The "Retrieving Leave Balances." step: every employee's balances, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Connection, bindparam, delete, select, update

from core.employees import code_key
from core.leave import BALANCE_COLUMNS, BalanceChanges, by_whole_employees, diff_balances
from core.queries import select_all
from ess.database import ess_engine
from ess.schema import LOOKUP_TABLES, leave_balance
from tasks.bulk import analyze, bulk_insert
from tasks.job_context import cancel_hook, cancellable, current_job
from tasks.payroll_source import payroll_reader
from tasks.registry import load_connection
from tasks.retries import STEP_OPTIONS

CHUNK = 20_000
_INSERT_COLUMNS = (
    "payroll_database", "payroll_employee_id", "leave_type_code", "balance", "accrued_to",
    "synced_at",
)  # fmt: skip


@dataclass
class LeaveBalancesResult:
    """What the step did."""

    employees: int = 0
    changed: int = 0
    unchanged: int = 0
    unknown_types: dict[str, int] = field(default_factory=dict)


@task(
    name="import-leave-balances",
    task_run_name="importing leave balances",
    cache_policy=NO_CACHE,
    **STEP_OPTIONS,
)
def import_leave_balances(database: str) -> LeaveBalancesResult:
    """Bring every employee's leave balances into ESS; only changed balances are written.

    Balances are a snapshot "as at the last pay": one gone from payroll is deleted from
    ESS. The whole step commits together; a retry starts it again from the top.
    """
    result = LeaveBalancesResult()
    job = current_job()
    with (
        payroll_reader(load_connection(database)) as reader,
        ess_engine().connect() as conn,
        cancellable(cancel_hook(conn.connection.driver_connection)),
        conn.begin(),
    ):
        types = _leave_types(conn, database)
        sql = select_all("leave_balance", BALANCE_COLUMNS, order_by=("employee_id",))
        low: int | None = None
        for rows in by_whole_employees(reader.chunks(sql, size=CHUNK)):
            if job is not None:
                job.check()
            high = int(rows[-1][0])
            changes = diff_balances(rows, _ess_balances(conn, database, low, high), types)
            _write(conn, database, changes)
            _count(result, changes)
            low = high
        # Employees after the last payroll balance have none left in payroll.
        tail = diff_balances([], _ess_balances(conn, database, low, None), types)
        _write(conn, database, tail)
        _count(result, tail)
        if result.changed > CHUNK:
            analyze(conn, leave_balance)
    return result


def _count(result: LeaveBalancesResult, changes: BalanceChanges) -> None:
    result.employees += len(changes.employees)
    result.changed += changes.changed
    result.unchanged += changes.unchanged
    for code, n in changes.unknown_types.items():
        result.unknown_types[code] = result.unknown_types.get(code, 0) + n


def _leave_types(conn: Connection, database: str) -> dict[str, str]:
    table = LOOKUP_TABLES["leave_type"]
    codes = conn.execute(
        select(table.c.leave_type_code).where(
            table.c.payroll_database == database, table.c.in_payroll
        )
    ).scalars()
    return {code_key(c): c for c in codes}


def _ess_balances(
    conn: Connection, database: str, after: int | None, upto: int | None
) -> dict[tuple[int, str], tuple[int, Decimal, Any]]:
    """ESS's balances of employees with after < payroll id <= upto."""
    query = select(
        leave_balance.c.id,
        leave_balance.c.payroll_employee_id,
        leave_balance.c.leave_type_code,
        leave_balance.c.balance,
        leave_balance.c.accrued_to,
    ).where(leave_balance.c.payroll_database == database)
    if after is not None:
        query = query.where(leave_balance.c.payroll_employee_id > after)
    if upto is not None:
        query = query.where(leave_balance.c.payroll_employee_id <= upto)
    return {(r[1], r[2]): (r[0], r[3], r[4]) for r in conn.execute(query)}


def _write(conn: Connection, database: str, changes: BalanceChanges) -> None:
    now = datetime.now(UTC)
    bulk_insert(
        conn,
        leave_balance,
        _INSERT_COLUMNS,
        [(database, *row, now) for row in changes.inserts],
    )
    if changes.updates:
        conn.execute(
            update(leave_balance)
            .where(leave_balance.c.id == bindparam("ess_id"))
            .values(balance=bindparam("v_balance"), accrued_to=bindparam("v_to"), synced_at=now),
            [{"ess_id": i, "v_balance": b, "v_to": t} for i, b, t in changes.updates],
        )
    if changes.deletes:
        conn.execute(
            delete(leave_balance).where(leave_balance.c.id == bindparam("ess_id")),
            [{"ess_id": i} for i in changes.deletes],
        )

"""The "Retrieving Leave Balances." step: every employee's balances, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import (
    Column,
    Connection,
    Date,
    Index,
    Integer,
    MetaData,
    Table,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from core.employees import code_key
from core.leave import BALANCE_COLUMNS, PLACES, by_whole_employees, prepare_balances
from core.queries import select_all
from ess.database import ess_engine
from ess.schema import LOOKUP_TABLES, leave_balance
from tasks.bulk import BulkWriter, analyze, bind_constants
from tasks.job_context import cancel_hook, cancellable, current_job
from tasks.payroll_source import payroll_reader
from tasks.registry import load_connection
from tasks.retries import STEP_OPTIONS

CHUNK = 4_000  # balances a read (whole employees); small chunks stay in the CPU's cache
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
    ESS. A first import copies payroll's balances straight in; later ones stage them in a
    temporary table and change ESS with three set-based statements (delete what is gone,
    update what differs, insert what is new). The whole step commits together; a retry
    starts it again from the top.
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
        first = _no_balances(conn, database)
        now = datetime.now(UTC)
        if not first:
            _STAGE.drop(conn, checkfirst=True)
            _STAGE.create(conn)
        sql = select_all("leave_balance", BALANCE_COLUMNS, order_by=("employee_id",))
        staged = 0
        tail: tuple[Any, ...] = ()
        if first:
            # The same two values end every row: converted once, added as rows are made.
            constants = bind_constants(
                conn, leave_balance, {"payroll_database": database, "synced_at": now}
            )
            tail = tuple(constants.values())
            writer = BulkWriter(conn, leave_balance, [*_STAGE_COLUMNS, *constants],
                                converted=tuple(constants))  # fmt: skip
        else:
            writer = BulkWriter(conn, _STAGE, _STAGE_COLUMNS)
        with writer:
            for rows in by_whole_employees(reader.chunks(sql, size=CHUNK)):
                if job is not None:
                    job.check()
                exact = reader.scales_of(sql).get("balance") == PLACES
                prepared = prepare_balances(rows, types, exact=exact, tail=tail)
                result.employees += prepared.employees
                for code, n in prepared.unknown_types.items():
                    result.unknown_types[code] = result.unknown_types.get(code, 0) + n
                writer.write(prepared.rows)
                staged += len(prepared.rows)
        if first:
            result.changed = staged
        else:
            _apply_stage(conn, database, now, staged, result)
            _STAGE.drop(conn)
    return result


_STAGE_COLUMNS = ("payroll_employee_id", "leave_type_code", "balance", "accrued_to")
# Payroll's balances for this step, in the step's own connection (a temporary table).
_STAGE = Table(
    "ess_staged_leave_balance",
    MetaData(),
    Column("payroll_employee_id", Integer, nullable=False),
    Column("leave_type_code", leave_balance.c.leave_type_code.type, nullable=False),
    Column("balance", leave_balance.c.balance.type, nullable=False),
    Column("accrued_to", Date, nullable=False),
    prefixes=["TEMPORARY"],
)
_STAGE_KEY = Index(
    "ix_ess_staged_leave_balance_key", _STAGE.c.payroll_employee_id, _STAGE.c.leave_type_code
)
_STAGE.indexes.discard(_STAGE_KEY)  # made by _apply_stage after the load, not with the table


def _apply_stage(
    conn: Connection, database: str, now: datetime, staged: int, result: LeaveBalancesResult
) -> None:
    """Make ESS's balances of the database equal the staged ones, writing only differences.

    One join counts the staged balances ESS already holds and those of them that differ;
    each statement that would change nothing is skipped. A re-sync with no change costs
    that one join, a pay run's (most balances differ) one more for the update.
    """
    ess, stage = leave_balance, _STAGE
    # PostgreSQL joins the staged rows by hashing them; SQLite would look for each ESS row
    # by scanning the whole stage, so it gets an index (built once, after the load).
    if conn.dialect.name != "postgresql":
        _STAGE_KEY.create(conn)
    analyze(conn, stage)
    same_key = and_(
        ess.c.payroll_employee_id == stage.c.payroll_employee_id,
        ess.c.leave_type_code == stage.c.leave_type_code,
    )
    of_database = ess.c.payroll_database == database
    differs = or_(ess.c.balance != stage.c.balance, ess.c.accrued_to != stage.c.accrued_to)
    matched, differing = conn.execute(
        select(func.count(), func.coalesce(func.sum(case((differs, 1), else_=0)), 0))
        .select_from(stage.join(ess, and_(of_database, same_key)))
    ).one()  # fmt: skip
    held = conn.execute(select(func.count()).select_from(ess).where(of_database)).scalar_one()
    deleted = updated = inserted = 0
    if held > matched:  # ESS holds balances payroll no longer has
        deleted = conn.execute(delete(ess).where(of_database, ~exists().where(same_key))).rowcount
    if differing:
        updated = conn.execute(
            update(ess)
            .where(of_database, same_key, differs)
            .values(balance=stage.c.balance, accrued_to=stage.c.accrued_to, synced_at=now)
        ).rowcount
    if staged > matched:  # payroll has balances ESS has not
        new = select(
            literal(database, ess.c.payroll_database.type), *stage.c,
            literal(now, ess.c.synced_at.type),
        ).where(~exists().where(of_database, same_key))  # fmt: skip
        inserted = conn.execute(
            insert(ess).from_select(_INSERT_COLUMNS, new).execution_options(preserve_rowcount=True)
        ).rowcount
    result.changed += deleted + updated + inserted
    result.unchanged += staged - updated - inserted


def _no_balances(conn: Connection, database: str) -> bool:
    found = conn.execute(
        select(leave_balance.c.id).where(leave_balance.c.payroll_database == database).limit(1)
    ).first()
    return found is None


def _leave_types(conn: Connection, database: str) -> dict[str, str]:
    table = LOOKUP_TABLES["leave_type"]
    codes = conn.execute(
        select(table.c.leave_type_code).where(
            table.c.payroll_database == database, table.c.in_payroll
        )
    ).scalars()
    return {code_key(c): c for c in codes}

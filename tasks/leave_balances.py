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
    Integer,
    MetaData,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)

from core.employees import code_key
from core.leave import BALANCE_COLUMNS, PLACES, by_whole_employees, prepare_balances
from core.queries import select_all
from ess.database import ess_engine
from ess.schema import LOOKUP_TABLES, leave_balance
from ess.store.bulk import BulkWriter, analyze, bind_constants
from jobs.context import cancel_hook, cancellable, current_job
from jobs.lease import hold_database
from jobs.retries import STEP_OPTIONS
from payroll.connect import load_payroll

CHUNK = 4_000  # balances a read (whole employees); small chunks stay in the CPU's cache
_INSERT_COLUMNS = (
    "payroll_database",
    "payroll_employee_id",
    "leave_type_code",
    "balance",
    "accrued_to",
    "synced_at",
)


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
    ESS. A first import copies payroll's balances straight in; later ones stage them in a
    temporary table, find what differs with one join, and write only that (delete what is
    gone, update what differs, insert what is new). The whole step commits together; a
    retry starts it again from the top.
    """
    result = LeaveBalancesResult()
    job = current_job()
    with (
        load_payroll(database).reader() as reader,
        ess_engine().connect() as conn,
        cancellable(cancel_hook(conn.connection.driver_connection)),
        conn.begin(),
    ):
        types = leave_types(conn, database)
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
            writer = BulkWriter(
                conn,
                leave_balance,
                [*_STAGE_COLUMNS, *constants],
                converted=tuple(constants),
                binary=True,
            )
        else:
            writer = BulkWriter(conn, _STAGE, _STAGE_COLUMNS, binary=True)
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
            # Millions of rows where there were none: the next re-sync's plans need to know.
            analyze(conn, leave_balance, _PLANNED_COLUMNS)
        else:
            _apply_stage(conn, database, now, staged, result)
            _STAGE.drop(conn)
        hold_database(conn)  # the balances count only while the job holds its database
    return result


_STAGE_COLUMNS = ("payroll_employee_id", "leave_type_code", "balance", "accrued_to")
# What a re-sync's statements filter and join ESS's balances on.
_PLANNED_COLUMNS = ("id", "payroll_database", "payroll_employee_id", "leave_type_code")
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
# What differs between the stage and ESS: ess_id None = new in payroll, payroll_employee_id
# None = gone from payroll, both set = changed.
_DIFF = Table(
    "ess_leave_balance_diff",
    MetaData(),
    Column("ess_id", Integer),
    *(Column(c.name, c.type) for c in _STAGE.c),
    prefixes=["TEMPORARY"],
)


def _apply_stage(
    conn: Connection, database: str, now: datetime, staged: int, result: LeaveBalancesResult
) -> None:
    """Make ESS's balances of the database equal the staged ones, writing only differences.

    One full join of the staged balances with ESS's keeps only what differs (new, changed,
    gone) in a small table; the three writes then read that, not the 8 million-row join
    again. A re-sync with no change costs the one join; a pay run's adds only the writes.
    """
    ess, stage, diff = leave_balance, _STAGE, _DIFF
    analyze(conn, stage)
    of_database = ess.c.payroll_database == database
    held: Any  # ESS's balances of this database, as the join's other side
    if conn.dialect.name == "sqlite":
        # SQLite would materialise a subquery on this side of a full join and scan it once
        # per staged balance. On the table itself it looks each one up by ESS's unique key,
        # then scans ESS (every database's balances) for those nothing matched: the
        # database is filtered in the join, and other databases' balances after it.
        held, own = ess, of_database
    else:
        # PostgreSQL hashes one side. Its scan of ESS reads only this database's balances
        # (by the unique key's first column when they are a small part of ESS).
        held = select(ess.c.id, *(ess.c[name] for name in _STAGE_COLUMNS))
        held, own = held.where(of_database).subquery("held"), true()
    same_key = and_(
        own,
        held.c.payroll_employee_id == stage.c.payroll_employee_id,
        held.c.leave_type_code == stage.c.leave_type_code,
    )
    differs = or_(
        held.c.id.is_(None),  # payroll's balance is new
        and_(
            own,  # not another payroll database's balance
            or_(
                stage.c.payroll_employee_id.is_(None),  # ESS's balance is gone from payroll
                held.c.balance != stage.c.balance,
                held.c.accrued_to != stage.c.accrued_to,
            ),
        ),
    )
    diff.create(conn)
    conn.execute(
        insert(diff).from_select(
            ["ess_id", *_STAGE_COLUMNS],
            select(held.c.id, *stage.c)
            .select_from(stage.join(held, same_key, full=True))
            .where(differs),
        )
    )
    gone = diff.c.payroll_employee_id.is_(None)
    new = diff.c.ess_id.is_(None)
    tally = [func.coalesce(func.sum(case((c, 1), else_=0)), 0) for c in (gone, new)]
    differing, deleted, inserted = conn.execute(
        select(func.count(), *tally).select_from(diff)
    ).one()
    updated = differing - deleted - inserted
    if deleted or updated or inserted:
        analyze(conn, diff)
        if conn.dialect.name == "postgresql":
            # A re-sync's diff is mostly a small part of ESS's balances: looking each up by
            # id beats hashing the diff and scanning all of ESS's (80,000 of 8 million:
            # 0.3 s against 1.6 s), but PostgreSQL's default cost of a random read (4, for
            # spinning disks) makes it choose the scan. With an SSD's (1.1), for this
            # step's transaction only, it looks small diffs up and still hashes large ones
            # (a pay run's, which change most balances).
            conn.exec_driver_sql("SET LOCAL random_page_cost = 1.1")
    if deleted:
        conn.execute(delete(ess).where(ess.c.id.in_(select(diff.c.ess_id).where(gone))))
    if updated:
        conn.execute(
            update(ess)
            .where(ess.c.id == diff.c.ess_id, ~gone)
            .values(balance=diff.c.balance, accrued_to=diff.c.accrued_to, synced_at=now)
        )
    if inserted:
        rows = select(
            literal(database, ess.c.payroll_database.type),
            *(diff.c[name] for name in _STAGE_COLUMNS),
            literal(now, ess.c.synced_at.type),
        ).where(new)
        conn.execute(insert(ess).from_select(_INSERT_COLUMNS, rows))
    diff.drop(conn)
    result.changed += deleted + updated + inserted
    result.unchanged += staged - updated - inserted


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

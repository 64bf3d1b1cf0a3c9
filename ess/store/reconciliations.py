"""ESS's side of a reconciliation: reading what ESS holds in key order, in one snapshot, and
keeping what each reconciliation found (for `ess-sync run --repair` and status)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from core.employees import PAYROLL_OWNED
from core.lookups import LookupSpec
from ess.database import ess_engine
from ess.schema import (
    employee,
    leave_balance,
    reconciliation,
    reconciliation_employee,
    table_of,
)
from ess.store.employees import one_of

Row = tuple[Any, ...]
_cursor_ids = itertools.count()
EMPLOYEE_COLUMNS = ("code_key", "payroll_employee_id", "employee_code", *PAYROLL_OWNED)
"""What ESS's employee stream gives, in this order."""
BALANCE_COLUMNS = ("payroll_employee_id", "leave_type_code", "balance", "accrued_to")


@dataclass(frozen=True)
class Reconciliation:
    """One reconciliation of a payroll database as ESS keeps it."""

    id: int
    database: str
    job_id: int | None
    reconciled_at: datetime
    differences: int
    employees: int
    summary: dict[str, Any]


@contextmanager
def ess_snapshot() -> Iterator[Connection]:
    """An ESS connection reading one consistent snapshot, writing nothing; rolled back after.

    PostgreSQL: a REPEATABLE READ, READ ONLY transaction. SQLite: one read transaction
    (WAL keeps it from blocking a writer, and a writer from changing what it sees).
    """
    engine = ess_engine()
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        elif conn.dialect.name == "sqlite":
            # pysqlite opens no transaction for a SELECT: each would see its own moment.
            conn.exec_driver_sql("BEGIN")
        try:
            yield conn
        finally:
            conn.rollback()


def _stream(conn: Connection, query: Any, size: int) -> Iterator[list[Row]]:
    """The query's rows, `size` at a time, read within the snapshot's transaction."""
    if conn.dialect.name == "postgresql":
        # psycopg's own named cursor: its rows are already the values ESS's types give on
        # PostgreSQL (Decimal, date), without SQLAlchemy's Row and result processors, a
        # third of the time of reading millions of rows.
        compiled = query.compile(dialect=conn.dialect)
        driver: Any = conn.connection.driver_connection  # the snapshot's own connection
        with driver.cursor(name=f"ess_reconcile_{next(_cursor_ids)}") as cursor:
            cursor.execute(str(compiled), compiled.params)
            while batch := cursor.fetchmany(size):
                yield batch
        return
    # SQLite keeps decimals as text and dates as ISO text: SQLAlchemy's types convert them.
    result = conn.execution_options(stream_results=True, yield_per=size).execute(query)
    for part in result.partitions(size):
        yield [tuple(r) for r in part]


def employees_by_payroll_id(conn: Connection, database: str, size: int) -> Iterator[list[Row]]:
    """ESS's in-payroll employees (EMPLOYEE_COLUMNS) in payroll id order, `size` at a time."""
    query = (
        select(*(employee.c[c] for c in EMPLOYEE_COLUMNS))
        .where(employee.c.payroll_database == database, employee.c.in_payroll)
        .order_by(employee.c.payroll_employee_id, employee.c.id)
    )
    return _stream(conn, query, size)


def balances_by_payroll_id(conn: Connection, database: str, size: int) -> Iterator[list[Row]]:
    """ESS's leave balances (BALANCE_COLUMNS) in payroll id order, `size` at a time."""
    query = (
        select(*(leave_balance.c[c] for c in BALANCE_COLUMNS))
        .where(leave_balance.c.payroll_database == database)
        .order_by(leave_balance.c.payroll_employee_id, leave_balance.c.leave_type_code)
    )
    return _stream(conn, query, size)


def lookup_rows(conn: Connection, spec: LookupSpec, database: str) -> list[Row]:
    """ESS's in-payroll rows of one lookup: the spec's columns, key first."""
    table = table_of(spec)
    query = select(*(table.c[c] for c in spec.columns)).where(
        table.c.payroll_database == database, table.c.in_payroll
    )
    return [tuple(r) for r in conn.execute(query)]


def codes_of(conn: Connection, database: str, payroll_ids: Sequence[int]) -> dict[int, str]:
    """The employee code ESS holds for each of these payroll ids."""
    found: dict[int, str] = {}
    ids = sorted(set(payroll_ids))
    for listed in one_of(conn, employee.c.payroll_employee_id, ids):
        rows = conn.execute(
            select(employee.c.payroll_employee_id, employee.c.employee_code).where(
                employee.c.payroll_database == database, listed
            )
        )
        found.update((int(payroll_id), code) for payroll_id, code in rows)
    return found


def record_reconciliation(
    conn: Connection,
    database: str,
    job_id: int | None,
    differences: int,
    summary: dict[str, Any],
    payroll_ids: Iterable[int],
) -> int:
    """Keep one reconciliation and its differing employees (payroll ids); its id."""
    ids = sorted(set(payroll_ids))
    new_id = conn.execute(
        insert(reconciliation)
        .values(
            payroll_database=database,
            job_id=job_id,
            reconciled_at=datetime.now(UTC),
            differences=differences,
            employees=len(ids),
            summary=json.dumps(summary),
        )
        .returning(reconciliation.c.id)
    ).scalar_one()
    for start in range(0, len(ids), 5_000):
        conn.execute(
            insert(reconciliation_employee),
            [
                {
                    "reconciliation_id": new_id,
                    "payroll_database": database,
                    "payroll_employee_id": i,
                }
                for i in ids[start : start + 5_000]
            ],
        )
    return int(new_id)


def last_reconciliation(database: str) -> Reconciliation | None:
    """The newest reconciliation of a payroll database, or None."""
    query = (
        select(reconciliation)
        .where(reconciliation.c.payroll_database == database)
        .order_by(reconciliation.c.id.desc())
        .limit(1)
    )
    with ess_engine().connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        return None
    return Reconciliation(
        row["id"],
        row["payroll_database"],
        row["job_id"],
        row["reconciled_at"],
        row["differences"],
        row["employees"],
        json.loads(row["summary"]),
    )


def reconciled_payroll_ids(conn: Connection, reconciliation_id: int) -> list[int]:
    """The payroll ids of the employees a reconciliation found different."""
    query = (
        select(reconciliation_employee.c.payroll_employee_id)
        .where(reconciliation_employee.c.reconciliation_id == reconciliation_id)
        .order_by(reconciliation_employee.c.payroll_employee_id)
    )
    return list(conn.execute(query).scalars())

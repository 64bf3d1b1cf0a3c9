"""The raw limit: payroll's rows copied with the bare driver into empty ESS-shaped tables.

No diffing, no logging, no Prefect: read with the driver (streamed, fetchmany), write in
bulk (PostgreSQL COPY, SQLite one transaction of executemany). What the sync does beyond
this is its overhead.
"""

from __future__ import annotations

import operator
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from datetime import UTC, datetime
from typing import Any

import psycopg
import sqlalchemy as sa

from bench.payroll import checkpoint_at
from core.employees import ESS_COLUMNS, PAYROLL_COLUMNS
from core.leave import BALANCE_COLUMNS
from core.queries import select_all
from ess.schema import employee, leave_balance, metadata

FETCH_ROWS = 2_000
DATABASE = "raw_payroll"
# ESS keeps these two only masked; the raw copy masks them too (a slice and a concatenation).
_MASKED = {
    "tax_file_number_masked": "tax_file_number",
    "bank_account_masked": "bank_account_number",
}
EMPLOYEE_COLUMNS = (
    "payroll_database",
    "code_key",
    "payroll_employee_id",
    *ESS_COLUMNS,
    "in_payroll",
    "first_imported_at",
    "synced_at",
)
LEAVE_COLUMNS = (
    "payroll_database",
    "payroll_employee_id",
    "leave_type_code",
    "balance",
    "accrued_to",
    "synced_at",
)

Row = tuple[Any, ...]


def _mask(value: Any) -> Any:
    return None if value is None else "*****" + str(value)[-3:]


def employee_rows(chunks: Iterator[Sequence[Row]], now: Any) -> Iterator[list[Row]]:
    """payroll.employee rows (PAYROLL_COLUMNS order) as rows of EMPLOYEE_COLUMNS."""
    sources = [PAYROLL_COLUMNS.index(_MASKED.get(c, c)) for c in ESS_COLUMNS]
    pick = operator.itemgetter(*sources)
    masked = [ESS_COLUMNS.index(c) for c in _MASKED]
    for chunk in chunks:
        out = []
        for row in chunk:
            values = list(pick(row))
            for n in masked:
                values[n] = _mask(values[n])
            out.append((DATABASE, row[1].strip().upper(), row[0], *values, True, now, now))
        yield out


def balance_rows(chunks: Iterator[Sequence[Row]], now: Any) -> Iterator[list[Row]]:
    """payroll.leave_balance rows as rows of LEAVE_COLUMNS."""
    for chunk in chunks:
        yield [(DATABASE, e, code, balance, to, now) for e, code, balance, to in chunk]


def create_ess_tables(ess_url: str) -> None:
    """ESS's employee and leave_balance tables, empty (made again), with keys and indexes."""
    engine = sa.create_engine(ess_url)
    try:
        metadata.drop_all(engine, tables=[employee, leave_balance])
        metadata.create_all(engine, tables=[employee, leave_balance])
    finally:
        engine.dispose()


REPEATS = 3


def raw_copy(payroll_url: str, ess_url: str, repeats: int = REPEATS) -> dict[str, Any]:
    """Copy employees, then balances, `repeats` times into new empty tables; the median
    seconds of each (every run's in `*_runs_s`) and the rows copied.

    The raw limit is the yardstick of every ratio: one run of it varies by 10 to 20 % on a
    shared machine, the median of three much less.
    """
    backend = sa.make_url(payroll_url).get_backend_name()
    copy = _copy_postgresql if backend == "postgresql" else _copy_sqlite
    employees: list[float] = []
    balances: list[float] = []
    for _ in range(repeats):
        create_ess_tables(ess_url)
        checkpoint_at(ess_url)  # as before every measured operation (bench/payroll.py)
        seconds, employee_count = copy(
            payroll_url, ess_url, "employee", PAYROLL_COLUMNS, EMPLOYEE_COLUMNS, employee_rows
        )
        employees.append(seconds)
        seconds, balance_count = copy(
            payroll_url, ess_url, "leave_balance", BALANCE_COLUMNS, LEAVE_COLUMNS, balance_rows
        )
        balances.append(seconds)
    return {
        "employees_s": statistics.median(employees),
        "balances_s": statistics.median(balances),
        "employees_runs_s": employees,
        "balances_runs_s": balances,
        "employee_rows": employee_count,
        "balance_rows": balance_count,
    }


Shape = Callable[[Iterator[Sequence[Row]], Any], Iterator[list[Row]]]


def _conninfo(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _copy_postgresql(
    payroll_url: str,
    ess_url: str,
    table: str,
    columns: Sequence[str],
    ess_columns: Sequence[str],
    shape: Shape,
) -> tuple[float, int]:
    now = datetime.now(UTC).replace(tzinfo=None)
    count = 0
    with (
        psycopg.connect(_conninfo(payroll_url)) as source,
        psycopg.connect(_conninfo(ess_url)) as target,
    ):
        started = time.perf_counter()
        # A named (server-side) cursor streams; a plain one would fetch the whole result.
        with source.cursor(name=f"raw_{table}") as read, target.cursor() as write:
            read.execute(select_all(table, columns, order_by=("employee_id",)))
            names = ", ".join(ess_columns)
            with write.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for rows in shape(_fetch(read), now):
                    for row in rows:
                        copy.write_row(row)
                    count += len(rows)
        target.commit()
        seconds = time.perf_counter() - started
        source.rollback()
    return seconds, count


def _copy_sqlite(
    payroll_url: str,
    ess_url: str,
    table: str,
    columns: Sequence[str],
    ess_columns: Sequence[str],
    shape: Shape,
) -> tuple[float, int]:
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    count = 0
    payroll_path = sa.make_url(payroll_url).database
    ess_path = sa.make_url(ess_url).database
    with (
        closing(sqlite3.connect(f"file:{payroll_path}?mode=ro", uri=True)) as source,
        closing(sqlite3.connect(str(ess_path))) as target,
    ):
        # As ESS's own engine sets it (ess/database.py): the same durability as the sync's.
        target.execute("PRAGMA journal_mode=WAL")
        started = time.perf_counter()
        read = source.execute(select_all(table, columns, order_by=("employee_id",)))
        marks = ", ".join("?" * len(ess_columns))
        insert = f"INSERT INTO {table} ({', '.join(ess_columns)}) VALUES ({marks})"
        with target:  # one transaction
            for rows in shape(_fetch(read), now):
                target.executemany(insert, rows)
                count += len(rows)
        seconds = time.perf_counter() - started
    return seconds, count


def _fetch(cursor: Any) -> Iterator[Sequence[Row]]:
    while rows := cursor.fetchmany(FETCH_ROWS):
        yield rows

"""The payroll side of the benchmark: building it, and changing it as payroll officers would."""

from __future__ import annotations

import contextlib
from datetime import datetime

import sqlalchemy as sa

import generator

LEAVE_TYPES_PER_EMPLOYEE = 8


def build(url: str, employees: int) -> generator.PayrollSummary:
    """Fill an empty database with a generated payroll: every lookup, 8 leave types each."""
    engine = sa.create_engine(url)
    try:
        summary = generator.build_payroll(
            engine, employees=employees, leave_types_per_employee=LEAVE_TYPES_PER_EMPLOYEE
        )
        settle(engine)
        return summary
    finally:
        engine.dispose()


def settle(engine: sa.Engine) -> None:
    """Leave the payroll at rest, as a production one is: vacuumed and analyzed.

    Otherwise whichever reads a freshly loaded PostgreSQL table first (the raw copy) pays
    for writing its rows' hint bits, and the sync's reads after it look faster than they are.
    The same after each change the benchmark makes: an UPDATE of every employee leaves
    200,000 dead row versions and unset hint bits, which PostgreSQL's autovacuum clears
    within a minute on a server where it runs (it is off on the development machine's), and
    which a payroll on SQL Server never has.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        checkpoint(engine)
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def checkpoint(engine: sa.Engine) -> None:
    """Write PostgreSQL's dirty pages now (the whole server's), not during the next timing.

    Before the raw copy and before every measured operation: each starts with nothing of
    the build or of the operation before it left to flush, as syncs minutes apart do. What
    an operation writes itself, it still pays for. A role without the right to CHECKPOINT
    skips it; SQLite has none.
    """
    if engine.dialect.name != "postgresql":
        return
    with (
        engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn,
        contextlib.suppress(sa.exc.DBAPIError),
    ):
        conn.exec_driver_sql("CHECKPOINT")


def checkpoint_at(url: str) -> None:
    """checkpoint() of the server a URL names."""
    engine = sa.create_engine(url)
    try:
        checkpoint(engine)
    finally:
        engine.dispose()


def change_employees(url: str, fraction: float, *, at: datetime, seed: int) -> int:
    """Edit `fraction` of employees through payroll's change feed; how many changed."""
    engine = sa.create_engine(url)
    try:
        changed = len(generator.change_employees(engine, fraction, seed=seed, at=at))
        settle(engine)
        return changed
    finally:
        engine.dispose()


def change_leave_balances(url: str, fraction: float, *, seed: int) -> int:
    """Add an hour to every balance of `fraction` of employees (as a pay run would); how many.

    Every employee has the same number of leave types, so that is `fraction` of balances.
    """
    every = round(1 / fraction)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            changed = conn.execute(
                sa.text(
                    "UPDATE leave_balance SET balance = balance + 1 WHERE employee_id % :every = :k"
                ),
                {"every": every, "k": seed % every},
            )
        settle(engine)
        return int(changed.rowcount)
    finally:
        engine.dispose()

"""Where a sync of changes stops being cheaper than reading everyone (core.plans.FULL_READ_FROM*).

    .venv/bin/python -m bench.threshold --sizes 20000,200000 --fractions 0.05,0.1,0.2,0.3,0.5
    .venv/bin/python -m bench.threshold --sizes 200000 --fractions 0.2,0.3,0.4 --compare-in-python

Payroll and ESS on PostgreSQL (scratch databases, dropped at the end). After a first import,
for each fraction k: k of employees are edited through the change feed, then the employees
step runs back to back as a changes-read and as a full read from the same ESS state (each
timed, rolled back; `--repeat` pairs, the best of each kept), and a full read is committed so
the next fraction starts from an ESS equal to payroll. No Prefect: the step's own code runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from pydantic import SecretStr

from bench.databases import DEFAULT_POSTGRES_URL, ScratchDatabases

NAME = "threshold_payroll"


def _run_step(block: object, ess: sa.Engine, full: bool, commit: bool) -> float:
    import tasks.employees
    from tasks.employees import _import

    # Measured as it would run without the plan choice: a changes-read stays one.
    tasks.employees.FULL_READ_FROM = tasks.employees.FULL_READ_FROM_IN_SERVER = 2.0
    with block.reader() as reader, ess.connect() as conn:  # type: ignore[attr-defined]
        transaction = conn.begin()
        started = time.perf_counter()
        result = _import(reader, conn, NAME, None, full)
        seconds = time.perf_counter() - started
        assert result.mode == ("full" if full else "changes"), result.mode
        if commit:
            transaction.commit()
        else:
            transaction.rollback()
    return seconds


def _import_lookups(block: object) -> None:
    """Every lookup and pay frequency into ESS, as a sync does before its employees: else
    every employee would carry a warning for each lookup code ESS does not know, and writing
    those issues would swamp what is measured."""
    from core.lookups import LOOKUPS, PAY_FREQUENCY
    from core.queries import select_all
    from tasks.lookups.importer import write_lookups

    specs = (*LOOKUPS, PAY_FREQUENCY)
    with block.reader() as reader:  # type: ignore[attr-defined]
        rows = {s.name: reader.all(select_all(s.source_table, s.columns)) for s in specs}
    write_lookups.fn(specs, NAME, rows, as_steps=False)


def measure(size: int, fractions: list[float], repeat: int, admin_url: str) -> list[str]:
    """The table rows of one payroll size."""
    import generator
    from ess.database import dispose_engines, ess_engine, upgrade
    from ess.store import employees as store
    from ess.store.registry import record_registration

    with ScratchDatabases("postgresql", Path(tempfile.gettempdir()), admin_url) as scratch:
        payroll_url = scratch.create(f"payroll_{size}")
        os.environ["ESS_DATABASE_URL"] = scratch.create(f"ess_{size}")
        dispose_engines()
        payroll = sa.create_engine(payroll_url)
        generator.build_payroll(payroll, employees=size, leave_types_per_employee=0)
        with payroll.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        ess = ess_engine()
        upgrade(ess)
        record_registration(NAME, "url", "postgresql://bench")
        from blocks.payroll_database import PayrollDatabase

        block = PayrollDatabase(
            database_name=NAME, connection_kind="url", connection_string=SecretStr(payroll_url)
        )
        _import_lookups(block)
        _run_step(block, ess, full=True, commit=True)
        rows = []
        at = datetime(2030, 1, 1)
        for index, fraction in enumerate(fractions):
            at += timedelta(days=1)
            generator.change_employees(payroll, fraction, seed=10 + index, at=at)
            with ess.begin() as conn:
                store.set_watermark(conn, NAME, at.replace(tzinfo=UTC), None)
            changes, full = [], []
            for _ in range(repeat):
                changes.append(_run_step(block, ess, full=False, commit=False))
                full.append(_run_step(block, ess, full=True, commit=False))
            if index + 1 < len(fractions):
                _run_step(block, ess, full=True, commit=True)
            c, f = min(changes), min(full)
            rows.append(
                f"| {size:,} | {fraction:.0%} | {c:.2f} | {f:.2f} | {c / f:.2f} |"
                f" {' '.join(f'{x:.2f}' for x in changes)} / {' '.join(f'{x:.2f}' for x in full)} |"
            )
            print(rows[-1], flush=True)
        payroll.dispose()
        dispose_engines()
    return rows


def main(argv: list[str]) -> int:
    """Measure and print a Markdown table."""
    parser = argparse.ArgumentParser(prog="python -m bench.threshold")
    parser.add_argument("--sizes", default="20000,200000")
    parser.add_argument("--fractions", default="0.05,0.1,0.2,0.3,0.5")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument(
        "--compare-in-python",
        action="store_true",
        help="a full read compares in Python, as into an ESS on SQLite or SQL Server",
    )
    args = parser.parse_args(argv)
    if args.compare_in_python:
        from ess.store import employees as store

        store.compares_in_server = lambda conn: False
    fractions = [float(f) for f in args.fractions.split(",")]
    print("| employees | changed | changes-read s | full read s | ratio | runs (changes / full) |")
    print("|---|---|---|---|---|---|", flush=True)
    for size in (int(s) for s in args.sizes.split(",")):
        measure(size, fractions, args.repeat, args.postgres_url)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The reconcile job's reads: payroll and ESS, one snapshot each, compared in key-ordered chunks.

Both sides are read in payroll id order and merged (two sorted streams, one chunk of each at
a time), so memory stays flat however many employees there are. Every difference goes to a
spool file as it is found; the summary keeps counts and a few examples.
"""

from __future__ import annotations

import os
import tempfile
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import Any

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Connection

from core.changes import match_key, normalise_row
from core.employee_rows import prepare_rows
from core.employees import PAYROLL_COLUMNS, PAYROLL_OWNED, duplicate_codes
from core.leave import BALANCE_COLUMNS, by_whole_employees, prepare_balances
from core.lookups import LOOKUPS, PAY_FREQUENCY
from core.queries import SELECT_DUPLICATE_CODES, select_all
from core.reconcile import (
    CODE,
    EMPLOYEE,
    KEY,
    Rejected,
    TableReport,
    balance_key,
    compare,
    frame,
    lookup_key,
    same_rows,
)
from ess.database import ess_engine
from ess.store import reconciliations as store
from ess.store.employees import lookup_codes
from ess.store.leave_balances import forget_digests
from jobs.context import current_job
from jobs.lease import hold_database
from jobs.read_ahead import read_ahead
from payroll.connect import load_payroll
from payroll.source import PayrollReader
from tasks.leave_balances import leave_types

CHUNK = 10_000  # balances a chunk (four values each)
# Employees a chunk, as the sync reads them: a chunk of 10,000 (45 values each, held as
# payroll's rows, their prepared columns and ESS's rows at once) peaked 110 MB above the warm
# process; 2,000 (the size the sync reads in) held it to about 25 MB.
EMPLOYEE_CHUNK = 2_000
SHOWN = 100  # differences kept with the summary, for the CLI and --json


@dataclass
class Snapshot:
    """Both sides, each read at one moment, and what the comparison has found so far."""

    database: str
    reader: PayrollReader
    ess: Connection
    spool: str
    """A CSV file (0600) of every difference, DIFFERENCE_COLUMNS."""
    tables: list[TableReport] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    employees: set[int] = field(default_factory=set)
    """Payroll ids of the employees that differ (for `ess-sync run --repair`)."""
    shown: list[dict[str, str]] = field(default_factory=list)
    payroll_snapshot: bool = False

    @property
    def differences(self) -> int:
        """Every difference found so far."""
        return sum(t.differences for t in self.tables)

    def keep(self, report: TableReport, differences: pd.DataFrame | None = None) -> None:
        """Add a chunk's findings: its differences to the spool, its counts to the table's."""
        if differences is not None and len(differences):
            header = not os.path.getsize(self.spool)
            differences.to_csv(self.spool, mode="a", header=header, index=False)
            room = SHOWN - len(self.shown)
            if room > 0:
                self.shown += [
                    {str(k): str(v) for k, v in r.items()}
                    for r in differences.head(room).to_dict("records")
                ]
        mine = next((t for t in self.tables if t.table == report.table), None)
        if mine is None:
            self.tables.append(report)
        else:
            mine.merge(report)

    def summary(self) -> dict[str, Any]:
        """What the reconciliation found, as plain JSON values (no payroll value in clear)."""
        return {
            "tables": [t.to_json() for t in self.tables],
            "samples": {t.table: t.samples for t in self.tables},
            "rejected": [r.__dict__ for r in self.rejected],
            "differences": self.differences,
            "employees": len(self.employees),
            "shown": self.shown,
            "payroll_snapshot": self.payroll_snapshot,
        }


@contextmanager
def snapshot(database: str) -> Iterator[Snapshot]:
    """Open payroll and ESS, each in one read-only snapshot, and an empty spool file."""
    descriptor, spool = tempfile.mkstemp(prefix="ess-reconcile-", suffix=".csv")
    os.close(descriptor)
    try:
        with ExitStack() as stack:
            reader = stack.enter_context(load_payroll(database).reader())
            ess = stack.enter_context(store.ess_snapshot())
            taken = reader.snapshot()
            yield Snapshot(database, reader, ess, spool, payroll_snapshot=taken)
    finally:
        os.unlink(spool)


def _check() -> None:
    job = current_job()
    if job is not None:
        job.check()


@task(name="reconcile-lookups", task_run_name="reconciling lookups", cache_policy=NO_CACHE)
def reconcile_lookups(snap: Snapshot) -> list[TableReport]:
    """Compare every lookup and pay frequency, row by row (they are small)."""
    reports = []
    for spec in (*LOOKUPS, PAY_FREQUENCY):
        width = len(spec.key)
        payroll_rows: dict[str, tuple[Any, ...]] = {}
        for raw in snap.reader.all(select_all(spec.source_table, spec.columns, spec.key)):
            row = normalise_row(raw)
            # A key payroll holds twice: the first row is the one a sync keeps.
            payroll_rows.setdefault(lookup_key(match_key(row, width)), row)
        ess_rows = [normalise_row(r) for r in store.lookup_rows(snap.ess, spec, snap.database)]
        columns = [KEY, CODE, EMPLOYEE, *spec.columns]
        payroll = frame(
            ((k, "/".join(map(str, r[:width])), None, *r) for k, r in payroll_rows.items()),
            columns,
        )
        ess = frame(
            (
                (lookup_key(match_key(r, width)), "/".join(map(str, r[:width])), None, *r)
                for r in ess_rows
            ),
            columns,
        )
        found = compare(spec.ess_table, payroll, ess, spec.columns)
        snap.keep(found.report, found.differences)
        reports.append(found.report)
    return reports


@task(name="reconcile-employees", task_run_name="reconciling employees", cache_policy=NO_CACHE)
def reconcile_employees(snap: Snapshot) -> TableReport:
    """Compare every employee's payroll-owned fields, a chunk of payroll ids at a time."""
    lookups = lookup_codes(snap.ess, snap.database)
    shared = duplicate_codes(snap.reader.all(SELECT_DUPLICATE_CODES))
    sql = select_all("employee", PAYROLL_COLUMNS, order_by=("employee_id",))
    report = TableReport("employee")
    ess_rows = store.employees_by_payroll_id(snap.ess, snap.database, EMPLOYEE_CHUNK)
    with (
        read_ahead(snap.reader.chunks(sql, size=EMPLOYEE_CHUNK)) as payroll_rows,
        read_ahead(ess_rows) as ess_read,
    ):
        for chunk, held in _merged(payroll_rows, ess_read, 1):
            _check()
            report.merge(_compare_employees(snap, chunk, held, lookups, sql, shared))
    return report


def _compare_employees(
    snap: Snapshot,
    chunk: list[tuple[Any, ...]],
    held: list[tuple[Any, ...]],
    lookups: Any,
    sql: str,
    shared: Any,
) -> TableReport:
    """One chunk of payroll's employees against ESS's rows for the same payroll ids."""
    columns = [KEY, CODE, EMPLOYEE, *PAYROLL_OWNED]
    rows = prepare_rows(chunk, lookups, snap.reader.widths_of(sql))
    # Judged as a sync would judge payroll now, not by what the last sync held back.
    held_back = set(rows.rejected_keys) | (set(rows.codes) & set(shared))
    snap.rejected += [
        Rejected(i.employee_code, i.field, i.reason) for i in rows.issues if i.rejected
    ]
    snap.rejected += [
        Rejected(key, "employee_code", "is held by more than one payroll employee")
        for key in rows.codes
        if key in shared
    ]
    owned = [rows.columns[c] for c in PAYROLL_OWNED]
    payroll = [
        (k, code, pid, *values)
        for k, pid, code, *values in zip(
            rows.keys, rows.payroll_ids, rows.columns["employee_code"], *owned, strict=True
        )
        if k not in held_back
    ]
    # ESS keeps what it had for an employee held back: not a difference, listed apart.
    ess = [(k, c, p, *v) for k, p, c, *v in held if k not in held_back]
    if same_rows(payroll, ess, 1):
        return _in_step(snap, "employee", len(payroll), len(ess))
    found = compare("employee", frame(payroll, columns), frame(ess, columns), PAYROLL_OWNED)
    snap.keep(found.report, found.differences)
    snap.employees.update(found.employees)
    return found.report


@task(
    name="reconcile-leave-balances",
    task_run_name="reconciling leave balances",
    cache_policy=NO_CACHE,
)
def reconcile_leave_balances(snap: Snapshot) -> TableReport:
    """Compare every leave balance, whole employees at a time."""
    types = leave_types(snap.ess, snap.database)
    # In ESS's order (its primary key's, as payroll's): a chunk in step is then equal as it
    # comes, not only once both sides are sorted (0.4 s of a reconcile of 1.6 M balances).
    sql = select_all("leave_balance", BALANCE_COLUMNS, order_by=("employee_id", "leave_type_code"))
    report = TableReport("leave_balance")
    ess_rows = store.balances_by_payroll_id(snap.ess, snap.database, CHUNK)
    # ESS's side stays on this thread: a difference looks its codes up on the same connection.
    with read_ahead(by_whole_employees(snap.reader.chunks(sql, size=CHUNK))) as chunks:
        report = _compare_balances(snap, chunks, ess_rows, types, report)
    return report


def _compare_balances(
    snap: Snapshot,
    chunks: Iterator[list[tuple[Any, ...]]],
    ess_rows: Iterator[list[tuple[Any, ...]]],
    types: Any,
    report: TableReport,
) -> TableReport:
    """Each chunk of payroll's balances against ESS's for the same employees."""
    columns = [KEY, CODE, EMPLOYEE, "balance", "accrued_to"]
    for chunk, held in _merged(chunks, ess_rows, 0):
        _check()
        prepared = prepare_balances(chunk, types)
        if same_rows(prepared.rows, held, 2):
            report.merge(_in_step(snap, "leave_balance", len(prepared.rows), len(held)))
            continue
        payroll = frame(
            ((balance_key(p, t), f"{p}/{t}", p, b, d) for p, t, b, d in prepared.rows), columns
        )
        ess = frame(((balance_key(p, t), f"{p}/{t}", p, b, d) for p, t, b, d in held), columns)
        found = compare("leave_balance", payroll, ess, ("balance", "accrued_to"))
        differences = found.differences
        if len(differences):
            # People know an employee by code, not payroll id: name them as ESS does.
            codes = store.codes_of(snap.ess, snap.database, sorted(found.employees))
            differences["code"] = [_balance_code(c, codes) for c in differences["code"]]
            _rename_samples(found.report, codes)
        snap.keep(found.report, differences)
        snap.employees.update(found.employees)
        report.merge(found.report)
    return report


def _in_step(snap: Snapshot, table: str, in_payroll: int, in_ess: int) -> TableReport:
    """A chunk found the same on both sides: only its counts to keep (no frame is made: an
    empty one cost 1 ms, 3% of a reconcile of 200,000 employees in 261 chunks)."""
    found = TableReport(table, in_payroll, in_ess)
    snap.keep(found)
    return found


def _balance_code(shown: str, codes: dict[int, str]) -> str:
    payroll_id, _, leave_type = shown.partition("/")
    return f"{codes.get(int(payroll_id), '#' + payroll_id)}/{leave_type}"


def _rename_samples(report: TableReport, codes: dict[int, str]) -> None:
    report.samples = {f: [_balance_code(c, codes) for c in s] for f, s in report.samples.items()}


@task(name="record-reconciliation", task_run_name="recording", cache_policy=NO_CACHE)
def record(snap: Snapshot, job_id: int | None) -> int:
    """Keep the reconciliation in ESS (its own short write, while the job holds its database)."""
    with ess_engine().begin() as conn:
        new_id = store.record_reconciliation(
            conn, snap.database, job_id, snap.differences, snap.summary(), snap.employees
        )
        if any(t.table == "leave_balance" and t.differences for t in snap.tables):
            # A leave re-sync reads only what payroll changed: with ESS's balances differing,
            # the next one reads and compares every balance again, and heals the difference.
            forget_digests(conn, snap.database)
        hold_database(conn)
    return new_id


def _merged(
    payroll: Iterator[list[tuple[Any, ...]]],
    ess: Iterator[list[tuple[Any, ...]]],
    at: int,
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Pair each payroll chunk (ordered by payroll id) with ESS's rows (batches, payroll id
    at `at`) up to its last id; ESS's rows after payroll's last come last, with no payroll
    rows. Cut by bisection: no Python step per row."""
    key = itemgetter(at)
    pending: list[tuple[Any, ...]] = []
    more = True
    for chunk in payroll:
        upto = int(chunk[-1][0])
        while more and (not pending or key(pending[-1]) <= upto):
            batch = next(ess, None)
            more = batch is not None
            pending += batch or ()
        cut = bisect_right(pending, upto, key=key)
        held, pending = pending[:cut], pending[cut:]
        yield chunk, held
    for rest in chain([pending], ess):
        for start in range(0, len(rest), CHUNK):
            yield [], rest[start : start + CHUNK]

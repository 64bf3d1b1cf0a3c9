"""The "Importing employees." step: payroll's changed employees into ESS, in one transaction."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Connection

from core.employee_changes import (
    EmployeesResult,
    HeldEmployee,
    ManagerScope,
    payroll_time,
    plan_chunk,
)
from core.employee_rows import prepare_rows
from core.employees import PAYROLL_COLUMNS, EmployeeCounts, Issue, duplicate_codes
from core.queries import (
    SELECT_DUPLICATE_CODES,
    SELECT_FEED_END,
    select_all,
    select_changed_since,
    select_duplicates_of_changed,
    select_where_in,
)
from ess.database import ess_engine
from ess.store import employees as store
from ess.store.employees import IN_BATCH
from ess.store.registry import load_connection
from jobs.context import cancel_hook, cancellable, current_job
from jobs.retries import STEP_OPTIONS
from payroll.source import PayrollReader, payroll_reader

# Payroll's clock is not ours and a change can commit after a later one is stamped:
# re-read this much of the feed before the watermark. Re-reading changes nothing.
FEED_OVERLAP = timedelta(minutes=15)
CHUNK = 2_000  # employees a read: a chunk's rows stay in the CPU's cache as they are prepared

_Chunks = Iterator[tuple[list[tuple[Any, ...]], Mapping[str, int | None]]]
"""Payroll rows a chunk at a time, each with payroll's declared widths of the columns."""


@task(
    name="import-employees",
    task_run_name="importing employees",
    cache_policy=NO_CACHE,
    **STEP_OPTIONS,
)
def import_employees(
    database: str, job_id: int | None = None, full: bool = False, preview: bool = False
) -> EmployeesResult:
    """Bring payroll's changed employees (or all, with full) into ESS.

    Every write of the step and the new watermark commit together; a preview runs the same
    code and rolls back. Safe to retry: re-reading a change changes nothing.
    """
    block = load_connection(database)
    engine = ess_engine()
    with (
        payroll_reader(block) as reader,
        engine.connect() as conn,
        cancellable(cancel_hook(conn.connection.driver_connection)),
    ):
        transaction = conn.begin()
        try:
            result = _import(reader, conn, database, job_id, full)
        except BaseException:
            transaction.rollback()
            raise
        if preview:
            transaction.rollback()
        else:
            transaction.commit()
    return result


def _import(
    reader: PayrollReader, conn: Connection, database: str, job_id: int | None, full: bool
) -> EmployeesResult:
    """Read payroll a chunk at a time, plan each chunk against ESS, write the plan."""
    watermark = store.watermark(conn, database)
    lookups = store.lookup_codes(conn, database)
    # A first import finds ESS empty: nothing to compare, every row is an insert.
    ess_empty = not store.has_employees(conn, database)
    everyone = full or watermark is None
    feed_since = None if everyone or watermark is None else watermark - FEED_OVERLAP
    if feed_since is None:
        new_watermark = _feed_end(reader) or watermark
        changed_ids: set[int] = set()
        chunks = _all_employees(reader)
    else:
        changed_ids, feed_end = _changed_since(reader, feed_since)
        new_watermark = max(feed_end, watermark) if feed_end and watermark else watermark
        chunks = _employees_by_id(reader, sorted(changed_ids))
    duplicates = cache(lambda: _duplicate_codes(reader, feed_since))
    counts, scope = EmployeeCounts(), ManagerScope(everyone)
    issues: list[Issue] = []
    processed: set[int] = set()  # payroll ids a sync of changes read
    read, written, high = 0, 0, None
    job = current_job()
    with ExitStack() as writing:
        # Nothing to compare with: no query runs between the inserts, so one COPY takes
        # every chunk while the next is read and prepared (ess/store/bulk.py).
        writer = writing.enter_context(store.first_import_writer(conn)) if ess_empty else None
        for chunk, widths in chunks:
            if job is not None:
                job.check()
            read, upto = read + len(chunk), int(chunk[-1][0])
            if not everyone:
                processed.update(int(r[0]) for r in chunk)
            rows = prepare_rows(chunk, lookups, widths)
            held = {} if ess_empty else _held(conn, database, rows.keys, everyone, high, upto)
            plan = plan_chunk(chunk, rows, held, duplicates, high, ranged=everyone)
            store.write_plan(conn, database, plan, writer)
            counts.merge(plan.counts)
            issues += plan.issues
            scope.note(plan)
            scope.joined([k for _, k in plan.removed])
            written += len(plan.inserts) + len(plan.updates) + len(plan.removed)
            high = upto
    # Employees after the last payroll row (a full sync) or in the feed but no longer in
    # payroll (a sync of changes) are gone from payroll.
    if everyone:
        gone = [] if ess_empty else _in_payroll(store.held_in_range(conn, database, high, None))
    else:
        gone = store.in_payroll_by_payroll_id(conn, database, sorted(changed_ids - processed))
    store.mark_removed(conn, gone)
    counts.removed += len(gone)
    scope.joined([k for _, k in gone])
    if ess_empty and written > IN_BATCH:
        store.analyze_first_import(conn)
    issues += store.missing_managers(conn, database, scope)
    read_ids = None if everyone else frozenset(processed)
    store.record_issues(conn, database, job_id, issues, read_ids)
    store.set_watermark(conn, database, new_watermark)
    mode = "full" if everyone else "changes"
    return EmployeesResult(
        counts, tuple(issues), mode, read, new_watermark, read_ids or frozenset()
    )


def _held(
    conn: Connection, database: str, keys: list[str], ranged: bool, after: int | None, upto: int
) -> dict[str, HeldEmployee]:
    """What ESS holds for a chunk: by id range when reading everyone, else by code key."""
    if not ranged:
        return store.held(conn, database, keys)
    found = store.held_in_range(conn, database, after, upto)
    # An employee whose payroll id changed is found by code.
    found.update(store.held(conn, database, [k for k in keys if k not in found]))
    return found


def _in_payroll(held: Mapping[str, HeldEmployee]) -> list[tuple[int, str]]:
    return [(h.ess_id, h.code_key) for h in held.values() if h.in_payroll]


def _feed_end(reader: PayrollReader) -> datetime | None:
    [(end,)] = reader.all(SELECT_FEED_END)
    return payroll_time(end)


def _changed_since(reader: PayrollReader, since: datetime) -> tuple[set[int], datetime | None]:
    """Payroll ids in the change feed since `since`, and the feed's last time."""
    ids: set[int] = set()
    end: datetime | None = None
    sql = select_changed_since(reader.paramstyle)
    for chunk in reader.chunks(sql, [since.replace(tzinfo=None)]):
        for employee_id, changed_at in chunk:
            ids.add(int(employee_id))
            moment = payroll_time(changed_at)
            if moment is not None and (end is None or moment > end):
                end = moment
    return ids, end


def _duplicate_codes(reader: PayrollReader, feed_since: datetime | None) -> dict[str, list[int]]:
    """Payroll's duplicated codes: of the feed's employees since `feed_since`, or all."""
    if feed_since is None:
        pairs = reader.all(SELECT_DUPLICATE_CODES)
    else:
        sql = select_duplicates_of_changed(reader.paramstyle)
        pairs = reader.all(sql, [feed_since.replace(tzinfo=None)])
    return duplicate_codes(pairs)


def _all_employees(reader: PayrollReader) -> _Chunks:
    sql = select_all("employee", PAYROLL_COLUMNS, order_by=("employee_id",))
    for chunk in reader.chunks(sql, size=CHUNK):
        yield chunk, reader.widths_of(sql)


def _employees_by_id(reader: PayrollReader, ids: list[int]) -> _Chunks:
    for start in range(0, len(ids), IN_BATCH):
        batch = ids[start : start + IN_BATCH]
        sql = select_where_in(
            "employee", PAYROLL_COLUMNS, "employee_id", len(batch), reader.paramstyle
        )
        rows = reader.all(sql, batch)
        if rows:
            yield rows, reader.widths_of(sql)

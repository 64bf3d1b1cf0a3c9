"""The "Importing employees." step: payroll's changed employees into ESS, in one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import repeat
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Connection, bindparam, delete, exists, insert, select, update

from core.employees import (
    ESS_COLUMNS,
    LOOKUP_FIELDS,
    PAYROLL_COLUMNS,
    PAYROLL_OWNED,
    EmployeeCounts,
    Issue,
    LookupCodes,
    PreparedRows,
    code_key,
    duplicate_codes,
    duplicate_issue,
    is_newly_terminated,
    parse_date,
    prepare_rows,
)
from core.queries import (
    SELECT_DUPLICATE_CODES,
    SELECT_FEED_END,
    select_all,
    select_changed_since,
    select_duplicates_of_changed,
    select_where_in,
)
from ess.database import ess_engine
from ess.schema import LOOKUP_TABLES, employee, employee_issue, manages, payroll_database
from ess.store.bulk import BulkWriter, analyze, bind_constants, bulk_insert, bulk_update
from jobs.context import cancel_hook, cancellable, current_job
from jobs.retries import STEP_OPTIONS
from payroll.connect import load_payroll
from payroll.source import PayrollReader

# Payroll's clock is not ours and a change can commit after a later one is stamped:
# re-read this much of the feed before the watermark. Re-reading changes nothing.
FEED_OVERLAP = timedelta(minutes=15)
# What the sync's and ESS's queries of employees filter and join on (ess.schema.manages,
# the code and payroll-id lookups): a first import analyzes these columns only, in a
# fifth of the time all of them take.
PLANNED_COLUMNS = ("payroll_database", "code_key", "payroll_employee_id", "in_payroll",
                   "manager_code")  # fmt: skip
# SQL Server takes at most 2,100 parameters in one statement.
IN_BATCH = 1000
CHUNK = 2_000  # employees a read: a chunk's rows stay in the CPU's cache as they are prepared
_LOOKUP_CODE_COLUMN = {
    "gender": "gender_code",
    "state": "state_code",
    "country": "country_code",
    "employment_type": "employment_type_code",
    "job_classification": "classification_code",
    "cost_account": "account_code",
    "location": "location_code",
    "pay_point": "pay_point_code",
    "pay_frequency": "frequency_code",
    "super_fund": "fund_code",
}


@dataclass
class EmployeesResult:
    """What the step did (or, in a preview, would do)."""

    counts: EmployeeCounts
    issues: list[Issue] = field(default_factory=list)
    mode: str = "changes"
    read: int = 0
    watermark: datetime | None = None
    processed_ids: set[int] = field(default_factory=set)
    """Payroll ids read by a sync of changes (a full sync reads everyone and keeps none)."""


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
    block = load_payroll(database)
    engine = ess_engine()
    with (
        block.reader() as reader,
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
    watermark = conn.execute(
        select(payroll_database.c.employee_watermark).where(payroll_database.c.name == database)
    ).scalar_one_or_none()
    lookups = _lookup_codes(conn, database)
    result = EmployeesResult(EmployeeCounts())
    # A first import finds ESS empty: nothing to compare, every row is an insert.
    ess_empty = (
        conn.execute(
            select(employee.c.id).where(employee.c.payroll_database == database).limit(1)
        ).first()
        is None
    )
    state = _ChunkState(database, job_id, lookups, ess_empty, reader)
    if full or watermark is None:
        result.mode = "full"
        state.everyone = True
        result.watermark = _feed_end(reader) or watermark
        rows = _all_employees(reader, state)
        changed_ids: set[int] = set()
    else:
        state.feed_since = watermark - FEED_OVERLAP
        changed_ids, feed_end = _changed_since(reader, state.feed_since)
        result.watermark = max(feed_end, watermark) if feed_end else watermark
        rows = _employees_by_id(reader, sorted(changed_ids), result.processed_ids, state)
    job = current_job()
    with ExitStack() as writing:
        if ess_empty:
            # Nothing to compare with: no query runs between the inserts, so one COPY
            # takes every chunk while the next is read and prepared (ess/store/bulk.py).
            columns = [*INSERT_COLUMNS, *_FIXED]
            state.writer = writing.enter_context(
                BulkWriter(conn, employee, columns, converted=_FIXED)
            )
        for chunk in rows:
            if job is not None:
                job.check()
            result.read += len(chunk)
            _import_chunk(conn, state, chunk, result, ranged=result.mode == "full")
    state.writer = None
    if result.mode == "full":
        # Employees after the last payroll row are gone from payroll.
        if not ess_empty:
            gone = [(r["id"], r["code_key"])
                    for r in _existing_range(conn, database, state.high, None).values()
                    if r["in_payroll"]]  # fmt: skip
            _mark_removed(conn, gone, result.counts, state)
    else:
        gone_ids = sorted(changed_ids - result.processed_ids)
        _mark_removed(
            conn, _ess_ids_for_payroll_ids(conn, database, gone_ids), result.counts, state
        )
    if ess_empty and state.written > IN_BATCH:
        # The table went from nothing to everyone inside this transaction, where autovacuum
        # cannot see it: refresh the planner's statistics for the queries that follow. Later
        # syncs change a few rows; autovacuum analyzes once a tenth of the table changed.
        analyze(conn, employee, PLANNED_COLUMNS)
    result.issues += _missing_managers(conn, database, state)
    _record_issues(conn, database, job_id, result)
    conn.execute(
        update(payroll_database)
        .where(payroll_database.c.name == database)
        .values(employee_watermark=result.watermark)
    )
    return result


@dataclass
class _ChunkState:
    """What the chunks of one step share."""

    database: str
    job_id: int | None
    lookups: LookupCodes
    ess_empty: bool
    reader: PayrollReader
    duplicates: dict[str, list[int]] | None = None
    high: int | None = None
    written: int = 0
    writer: BulkWriter | None = None
    """Inserts into an empty ESS (one COPY for the whole step on PostgreSQL)."""
    widths: dict[str, int | None] = field(default_factory=dict)
    """Payroll's declared widths of the employee columns (see PayrollReader.widths_of)."""
    read_keys: set[str] = field(default_factory=set)
    """Code keys of employees read by a sync of changes (a full sync checks everyone)."""
    touched_keys: set[str] = field(default_factory=set)
    """Code keys of employees added or removed by a sync of changes."""
    everyone: bool = False
    feed_since: datetime | None = None
    """Where a sync of changes reads payroll's change feed from; None when it reads everyone."""

    def duplicate_codes(self) -> dict[str, list[int]]:
        """Payroll's duplicated codes, read once when a row is first written.

        A sync of changes reads only the codes of employees in the feed it reads from
        `feed_since`; any other sync every duplicated code.
        """
        if self.duplicates is None:
            if self.feed_since is None:
                pairs = self.reader.all(SELECT_DUPLICATE_CODES)
            else:
                sql = select_duplicates_of_changed(self.reader.paramstyle)
                pairs = self.reader.all(sql, [self.feed_since.replace(tzinfo=None)])
            self.duplicates = duplicate_codes(pairs)
        return self.duplicates

    def read(self, keys: list[str]) -> None:
        """Remember employees read (their manager warnings are found again)."""
        if not self.everyone:
            self.read_keys.update(keys)

    def touch(self, keys: list[str], joined_or_left: bool) -> None:
        """Remember written employees; those added or removed change their reports' managers."""
        self.written += len(keys)
        if not self.everyone:
            self.read_keys.update(keys)
            if joined_or_left:
                self.touched_keys.update(keys)


def _lookup_codes(conn: Connection, database: str) -> LookupCodes:
    codes: dict[str, dict[str, str]] = {}
    for lookup in set(LOOKUP_FIELDS.values()):
        table = LOOKUP_TABLES[lookup]
        column = table.c[_LOOKUP_CODE_COLUMN[lookup]]
        own = conn.execute(
            select(column).where(table.c.payroll_database == database, table.c.in_payroll)
        ).scalars()
        codes[lookup] = {code_key(c): c for c in own}
    return LookupCodes(codes)


def _feed_end(reader: PayrollReader) -> datetime | None:
    [(end,)] = reader.all(SELECT_FEED_END)
    return _payroll_time(end)


def _payroll_time(value: Any) -> datetime | None:
    # Payroll's clock, kept as it reads (naive); stored marked UTC only because ESS stores
    # every instant that way. It is compared with payroll's own times, never with ours.
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _changed_since(reader: PayrollReader, since: datetime) -> tuple[set[int], datetime | None]:
    ids: set[int] = set()
    end: datetime | None = None
    sql = select_changed_since(reader.paramstyle)
    for chunk in reader.chunks(sql, [since.replace(tzinfo=None)]):
        for employee_id, changed_at in chunk:
            ids.add(int(employee_id))
            moment = _payroll_time(changed_at)
            if moment is not None and (end is None or moment > end):
                end = moment
    return ids, end


def _all_employees(reader: PayrollReader, state: _ChunkState) -> Iterator[list[tuple[Any, ...]]]:
    sql = select_all("employee", PAYROLL_COLUMNS, order_by=("employee_id",))
    for chunk in reader.chunks(sql, size=CHUNK):
        state.widths = reader.widths_of(sql)
        yield chunk


def _employees_by_id(
    reader: PayrollReader, ids: list[int], found: set[int], state: _ChunkState
) -> Iterator[list[tuple[Any, ...]]]:
    for start in range(0, len(ids), IN_BATCH):
        batch = ids[start : start + IN_BATCH]
        sql = select_where_in(
            "employee", PAYROLL_COLUMNS, "employee_id", len(batch), reader.paramstyle
        )
        rows = reader.all(sql, batch)
        found.update(int(r[0]) for r in rows)
        state.widths = reader.widths_of(sql)
        if rows:
            yield rows


def _import_chunk(
    conn: Connection,
    state: _ChunkState,
    chunk: list[tuple[Any, ...]],
    result: EmployeesResult,
    ranged: bool,
) -> None:
    """Diff one chunk of payroll rows against ESS and write what changed."""
    counts = result.counts
    database = state.database
    low, high = state.high, int(chunk[-1][0])
    prepared = prepare_rows(chunk, state.lookups, state.widths)
    existing: dict[str, dict[str, Any]] = {}
    if not state.ess_empty:
        if ranged:
            existing = _existing_range(conn, database, low, high)
            missing = [k for k in prepared.keys if k not in existing]
            existing.update(_existing(conn, database, missing))
        else:
            existing = _existing(conn, database, prepared.keys)
    owned = prepared.owned() if existing else []
    changed = [
        n for n, key in enumerate(prepared.keys)
        if (current := existing.get(key)) is None
        or not current["in_payroll"] or current["owned"] != owned[n]
    ] if existing else list(range(len(prepared)))  # fmt: skip
    duplicates = state.duplicate_codes() if changed or prepared.rejected_keys else {}
    if duplicates:
        changed = _reject_duplicates(prepared, chunk, duplicates, result, changed)
    result.issues += prepared.issues
    for key in prepared.rejected_keys:
        counts.note("rejected", key)
    counts.unchanged += len(prepared) - len(changed)
    now = datetime.now(UTC)
    inserts: list[int] = []
    updates: list[tuple[Any, ...]] = []
    codes = prepared.columns["employee_code"]
    ends = prepared.columns["termination_date"]
    if not existing:
        inserts = changed
        counts.note_all("added", [codes[n] for n in changed[:10]] if changed else [])
        counts.added += len(changed) - min(len(changed), 10)
    for n in changed if existing else ():
        current = existing.get(prepared.keys[n])
        if current is None:
            inserts.append(n)
            counts.note("added", codes[n])
        else:
            updates.append(_update_row(current["id"], prepared, n, now))
            old_end = parse_date(current["termination_date"])
            kind = "terminated" if is_newly_terminated(old_end, ends[n]) else "updated"
            counts.note(kind, codes[n])
    state.read(prepared.codes)
    if ranged and existing:
        seen = {int(r[0]) for r in chunk}
        gone = [(r["id"], r["code_key"]) for r in existing.values()
                if r["in_payroll"] and r["payroll_employee_id"] not in seen
                and (low is None or r["payroll_employee_id"] > low)]  # fmt: skip
        _mark_removed(conn, gone, counts, state)
    if inserts:
        fixed = dict(zip(_FIXED, (database, True, now, now), strict=True))
        fixed = bind_constants(conn, employee, fixed)
        rows = _insert_rows(prepared, inserts, fixed)
        if state.writer is not None:
            state.writer.write(rows)
        else:
            bulk_insert(conn, employee, [*INSERT_COLUMNS, *fixed], rows, converted=_FIXED)
    if updates:
        bulk_update(conn, employee, "id", UPDATED_COLUMNS, updates)
    inserted = set(inserts)
    state.touch([prepared.keys[n] for n in inserts], joined_or_left=True)
    state.touch([prepared.keys[n] for n in changed if n not in inserted], joined_or_left=False)
    state.high = high


def _reject_duplicates(
    prepared: PreparedRows,
    chunk: list[tuple[Any, ...]],
    duplicates: dict[str, list[int]],
    result: EmployeesResult,
    changed: list[int],
) -> list[int]:
    """Reject every row whose code another payroll employee also holds; the rows still changed."""
    for row, key in zip(chunk, prepared.codes, strict=True):
        if key in duplicates:
            result.issues.append(duplicate_issue(str(row[1]).strip(), duplicates[key], int(row[0])))
    prepared.issues = [i for i in prepared.issues if code_key(i.employee_code) not in duplicates]
    keep = [n for n, k in enumerate(prepared.keys) if k not in duplicates]
    if len(keep) == len(prepared):
        return changed
    prepared.rejected_keys += [k for k in prepared.keys if k in duplicates]
    was_changed = set(changed)
    prepared.keep(keep)
    return [m for m, n in enumerate(keep) if n in was_changed]


def _existing(conn: Connection, database: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(keys), IN_BATCH):
        rows = conn.execute(
            select(*_EXISTING).where(
                employee.c.payroll_database == database,
                employee.c.code_key.in_(keys[start : start + IN_BATCH]),
            )
        )
        found.update(_by_key(rows))
    return found


def _existing_range(
    conn: Connection, database: str, after: int | None, upto: int | None
) -> dict[str, dict[str, Any]]:
    """ESS's employees whose payroll id is in (after, upto]: one index range, no key list."""
    query = select(*_EXISTING).where(employee.c.payroll_database == database)
    if after is not None:
        query = query.where(employee.c.payroll_employee_id > after)
    if upto is not None:
        query = query.where(employee.c.payroll_employee_id <= upto)
    return _by_key(conn.execute(query))


def _by_key(rows: Any) -> dict[str, dict[str, Any]]:
    """ESS rows of _EXISTING by code key, their payroll-owned values as one tuple."""
    return {
        r[1]: {"id": r[0], "code_key": r[1], "payroll_employee_id": r[2], "in_payroll": r[3],
               "termination_date": r[4], "owned": tuple(r[_KNOWN:])}
        for r in rows
    }  # fmt: skip


_KNOWN = 5
_EXISTING = (
    employee.c.id,
    employee.c.code_key,
    employee.c.payroll_employee_id,
    employee.c.in_payroll,
    employee.c.termination_date,
    *(employee.c[c] for c in PAYROLL_OWNED),
)
INSERT_COLUMNS = ("code_key", "payroll_employee_id", *ESS_COLUMNS)
"""An insert's columns from payroll; _FIXED follow, the same for every row of a chunk."""
_FIXED = ("payroll_database", "in_payroll", "first_imported_at", "synced_at")
UPDATED_COLUMNS = (*PAYROLL_OWNED, "payroll_employee_id", "in_payroll", "synced_at")


def _insert_rows(
    prepared: PreparedRows, picked: list[int], fixed: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """Rows of INSERT_COLUMNS and the fixed columns for the prepared rows at `picked`."""
    columns = [prepared.columns[c] for c in ESS_COLUMNS]
    keys, ids = prepared.keys, prepared.payroll_ids
    if len(picked) < len(prepared):
        keys, ids = [keys[n] for n in picked], [ids[n] for n in picked]
        columns = [[v[n] for n in picked] for v in columns]
    return list(zip(keys, ids, *columns, *map(repeat, fixed.values())))  # noqa: B905


def _update_row(ess_id: int, prepared: PreparedRows, n: int, now: datetime) -> tuple[Any, ...]:
    """The ESS id and UPDATED_COLUMNS of prepared row n, for bulk_update."""
    # Only payroll-owned fields: what the employee edited in ESS stays (CONTRACT.md).
    columns = prepared.columns
    return (ess_id, *(columns[c][n] for c in PAYROLL_OWNED), prepared.payroll_ids[n], True, now)


def _ess_ids_for_payroll_ids(
    conn: Connection, database: str, payroll_ids: list[int]
) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for start in range(0, len(payroll_ids), IN_BATCH):
        found += conn.execute(
            select(employee.c.id, employee.c.code_key).where(
                employee.c.payroll_database == database,
                employee.c.in_payroll,
                employee.c.payroll_employee_id.in_(payroll_ids[start : start + IN_BATCH]),
            )
        ).tuples()
    return found


def _mark_removed(
    conn: Connection, gone: list[tuple[int, str]], counts: EmployeeCounts, state: _ChunkState
) -> None:
    """Mark employees (ESS id, code key) no longer in payroll."""
    if not gone:
        return
    conn.execute(
        update(employee).where(employee.c.id == bindparam("ess_id")).values(in_payroll=False),
        [{"ess_id": i} for i, _ in gone],
    )
    counts.removed += len(gone)
    state.touch([k for _, k in gone], joined_or_left=True)


def _has_manager(of: Any) -> Any:
    """SQL: the employee `of` (a table or alias of employee) names an in-payroll manager."""
    return exists().where(manages(employee.alias("manager"), of))


def _missing_managers(conn: Connection, database: str, state: _ChunkState) -> list[Issue]:
    """A warning for each employee in scope whose manager is not an employee of this payroll.

    ESS finds an employee's manager by code when it reads them (ess/store/reads.py), so
    nothing is written here. A full sync looks at everyone; a sync of changes at the
    employees it read, and those whose manager it added or removed.
    """
    scope: list[Any] = [employee.c.payroll_database == database, employee.c.in_payroll]
    if state.everyone:
        return _managers_missing(conn, scope)
    issues: list[Issue] = []
    read, touched = sorted(state.read_keys), sorted(state.touched_keys)
    for start in range(0, len(read), IN_BATCH):
        part = employee.c.code_key.in_(read[start : start + IN_BATCH])
        issues += _managers_missing(conn, [*scope, part])
    for start in range(0, len(touched), IN_BATCH):
        part = employee.c.manager_code.in_(touched[start : start + IN_BATCH])
        issues += _managers_missing(conn, [*scope, part])
    unique = {(i.payroll_employee_id, i.field): i for i in issues}
    return sorted(unique.values(), key=lambda i: i.payroll_employee_id or 0)


def _managers_missing(conn: Connection, scope: list[Any]) -> list[Issue]:
    missing = conn.execute(
        select(employee.c.employee_code, employee.c.payroll_employee_id, employee.c.manager_code)
        .where(*scope, employee.c.manager_code.is_not(None), ~_has_manager(employee))
        .order_by(employee.c.payroll_employee_id)
    ).all()
    return [
        Issue(code, payroll_id, "manager_code", manager_code,
              "names no employee of this payroll; imported without a manager", False)
        for code, payroll_id, manager_code in missing
    ]  # fmt: skip


def _record_issues(
    conn: Connection, database: str, job_id: int | None, result: EmployeesResult
) -> None:
    """Replace the issues of every employee this sync read with what it found now."""
    of_database = employee_issue.c.payroll_database == database
    if result.mode == "full":
        conn.execute(delete(employee_issue).where(of_database))
    else:
        read = sorted(result.processed_ids | {i.payroll_employee_id or 0 for i in result.issues})
        for start in range(0, len(read), IN_BATCH):
            conn.execute(
                delete(employee_issue).where(
                    of_database,
                    employee_issue.c.payroll_employee_id.in_(read[start : start + IN_BATCH]),
                )
            )
        # A manager added by this sync resolves employees it did not read.
        resolved = exists().where(
            employee.c.payroll_database == database,
            employee.c.payroll_employee_id == employee_issue.c.payroll_employee_id,
            _has_manager(employee),
        )
        conn.execute(
            delete(employee_issue).where(
                of_database, employee_issue.c.field == "manager_code", resolved
            )
        )
    if not result.issues:
        return
    now = datetime.now(UTC)
    unique = {(i.payroll_employee_id, i.field): i for i in result.issues}
    conn.execute(
        insert(employee_issue),
        [
            {
                "payroll_database": database,
                "employee_code": i.employee_code[:100],
                "payroll_employee_id": i.payroll_employee_id,
                "field": i.field,
                "value": None if i.value is None else i.value[:100],
                "reason": i.reason,
                "rejected": i.rejected,
                "job_id": job_id,
                "first_seen_at": now,
                "last_seen_at": now,
            }
            for i in unique.values()
        ],
    )

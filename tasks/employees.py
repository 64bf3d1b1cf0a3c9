"""The "Importing employees." step: payroll's changed employees into ESS, in one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Connection, bindparam, delete, exists, insert, select, update

from core.employees import (
    ESS_COLUMNS,
    LOOKUP_FIELDS,
    PAYROLL_COLUMNS,
    PAYROLL_OWNED,
    Employee,
    EmployeeCounts,
    Issue,
    LookupCodes,
    code_key,
    duplicate_codes,
    duplicate_issue,
    is_newly_terminated,
    parse_date,
    prepare_employee,
)
from core.queries import (
    SELECT_DUPLICATE_CODES,
    SELECT_FEED_END,
    select_all,
    select_changed_since,
    select_where_in,
)
from ess.database import ess_engine
from ess.schema import LOOKUP_TABLES, employee, employee_issue, payroll_database
from tasks.bulk import analyze, bulk_insert
from tasks.job_context import cancel_hook, cancellable, current_job
from tasks.payroll_source import PayrollReader, payroll_reader
from tasks.registry import load_connection
from tasks.retries import STEP_OPTIONS

# Payroll's clock is not ours and a change can commit after a later one is stamped:
# re-read this much of the feed before the watermark. Re-reading changes nothing.
FEED_OVERLAP = timedelta(minutes=15)
# SQL Server takes at most 2,100 parameters in one statement.
IN_BATCH = 1000
CHUNK = 10_000
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
    unchanged_ids: list[int] = field(default_factory=list)


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
        result.watermark = _feed_end(reader) or watermark
        rows = _all_employees(reader)
        changed_ids: set[int] = set()
        found: set[int] = set()
    else:
        changed_ids, feed_end = _changed_since(reader, watermark - FEED_OVERLAP)
        result.watermark = max(feed_end, watermark) if feed_end else watermark
        found = set()
        rows = _employees_by_id(reader, sorted(changed_ids), found)
    job = current_job()
    for chunk in rows:
        if job is not None:
            job.check()
        result.read += len(chunk)
        _import_chunk(conn, state, chunk, result, ranged=result.mode == "full")
    if result.mode == "full":
        # Employees after the last payroll row are gone from payroll.
        gone = [r["id"] for r in _existing_range(conn, database, state.high, None).values()
                if r["in_payroll"]]  # fmt: skip
        _mark_removed(conn, gone, result.counts)
    else:
        gone = _ess_ids_for_payroll_ids(conn, database, sorted(changed_ids - found))
        _mark_removed(conn, gone, result.counts)
    if state.written > IN_BATCH:
        analyze(conn, employee)
    result.issues += _resolve_managers(conn, database, state)
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
    touched_ids: list[int] = field(default_factory=list)
    touched_keys: list[str] = field(default_factory=list)
    checked_ids: list[int] = field(default_factory=list)
    checked_all: bool = False

    def duplicate_codes(self) -> dict[str, list[int]]:
        """Payroll's duplicated codes, read once, and only when a row is to be written."""
        if self.duplicates is None:
            self.duplicates = duplicate_codes(self.reader.all(SELECT_DUPLICATE_CODES))
        return self.duplicates

    def check(self, ess_ids: list[int]) -> None:
        """Remember employees whose manager must be checked (all of them, past a batch)."""
        if not self.checked_all:
            self.checked_ids += ess_ids
            self.checked_all = len(self.checked_ids) > IN_BATCH


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


def _all_employees(reader: PayrollReader) -> Iterator[list[tuple[Any, ...]]]:
    yield from reader.chunks(select_all("employee", PAYROLL_COLUMNS, order_by=("employee_id",)))


def _employees_by_id(
    reader: PayrollReader, ids: list[int], found: set[int]
) -> Iterator[list[tuple[Any, ...]]]:
    for start in range(0, len(ids), IN_BATCH):
        batch = ids[start : start + IN_BATCH]
        sql = select_where_in(
            "employee", PAYROLL_COLUMNS, "employee_id", len(batch), reader.paramstyle
        )
        rows = reader.all(sql, batch)
        found.update(int(r[0]) for r in rows)
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
    prepared: list[tuple[tuple[Any, ...], Employee | None, list[Issue]]] = []
    for row in chunk:
        emp, issues = prepare_employee(row, state.lookups)
        prepared.append((row, emp, issues))
    result.processed_ids.update(int(r[0]) for r in chunk)
    existing: dict[str, dict[str, Any]] = {}
    if not state.ess_empty:
        if ranged:
            existing = _existing_range(conn, database, low, high)
            missing = [e.code_key for _, e, _ in prepared if e and e.code_key not in existing]
            existing.update(_existing(conn, database, missing))
        else:
            keys = [e.code_key for _, e, _ in prepared if e is not None]
            existing = _existing(conn, database, keys)
    if any(_would_write(e, existing) for _, e, _ in prepared):
        duplicates = state.duplicate_codes()
    else:
        duplicates = {}
    now = datetime.now(UTC)
    inserts: list[tuple[Any, ...]] = []
    updates: list[dict[str, Any]] = []
    seen_payroll_ids: set[int] = set()
    for row, emp, issues in prepared:
        key = code_key(row[1])
        seen_payroll_ids.add(int(row[0]))
        if key in duplicates:
            result.issues.append(duplicate_issue(str(row[1]).strip(), duplicates[key], int(row[0])))
            counts.note("rejected", key)
            continue
        result.issues += issues
        if emp is None:
            counts.note("rejected", key)
            continue
        current = existing.get(key)
        if current is None:
            inserts.append(_insert_row(database, emp, now))
            state.touched_keys.append(emp.code_key)
            counts.note("added", emp.values["employee_code"])
        elif current["payroll_hash"] != emp.payroll_hash or not current["in_payroll"]:
            updates.append(_update_row(current["id"], emp, now))
            state.touched_ids.append(current["id"])
            old_end = parse_date(current["termination_date"])
            new_end = emp.values["termination_date"]
            kind = "terminated" if is_newly_terminated(old_end, new_end) else "updated"
            counts.note(kind, emp.values["employee_code"])
        else:
            counts.unchanged += 1
            state.check([current["id"]])
    if ranged:
        gone = [r["id"] for r in existing.values()
                if r["in_payroll"] and r["payroll_employee_id"] not in seen_payroll_ids
                and (low is None or r["payroll_employee_id"] > low)]  # fmt: skip
        _mark_removed(conn, gone, counts)
    bulk_insert(conn, employee, INSERT_COLUMNS, inserts)
    if updates:
        conn.execute(
            update(employee)
            .where(employee.c.id == bindparam("ess_id"))
            .values({c: bindparam(f"v_{c}") for c in UPDATED_COLUMNS}),
            updates,
        )
    state.written += len(inserts) + len(updates)
    state.high = high


def _would_write(emp: Employee | None, existing: dict[str, dict[str, Any]]) -> bool:
    if emp is None:
        return True  # a rejected row may be a duplicate: its log row should say so
    current = existing.get(emp.code_key)
    return current is None or current["payroll_hash"] != emp.payroll_hash


def _existing(conn: Connection, database: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(keys), IN_BATCH):
        rows = conn.execute(
            select(*_EXISTING).where(
                employee.c.payroll_database == database,
                employee.c.code_key.in_(keys[start : start + IN_BATCH]),
            )
        ).mappings()
        found.update({r["code_key"]: dict(r) for r in rows})
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
    return {r["code_key"]: dict(r) for r in conn.execute(query).mappings()}


_EXISTING = (
    employee.c.id,
    employee.c.code_key,
    employee.c.payroll_employee_id,
    employee.c.payroll_hash,
    employee.c.in_payroll,
    employee.c.termination_date,
)
INSERT_COLUMNS = (
    "payroll_database", "code_key", "payroll_employee_id", *ESS_COLUMNS, "in_payroll",
    "payroll_hash", "first_imported_at", "synced_at",
)  # fmt: skip
UPDATED_COLUMNS = (*PAYROLL_OWNED, "payroll_employee_id", "payroll_hash", "in_payroll", "synced_at")


def _insert_row(database: str, emp: Employee, now: datetime) -> tuple[Any, ...]:
    values = emp.values
    return (
        database, emp.code_key, emp.payroll_employee_id, *[values.get(c) for c in ESS_COLUMNS],
        True, emp.payroll_hash, now, now,
    )  # fmt: skip


def _update_row(ess_id: int, emp: Employee, now: datetime) -> dict[str, Any]:
    # Only payroll-owned fields: what the employee edited in ESS stays (CONTRACT.md).
    return {
        "ess_id": ess_id,
        **{f"v_{c}": emp.values.get(c) for c in PAYROLL_OWNED},
        "v_payroll_employee_id": emp.payroll_employee_id,
        "v_payroll_hash": emp.payroll_hash,
        "v_in_payroll": True,
        "v_synced_at": now,
    }


def _ess_ids_for_payroll_ids(conn: Connection, database: str, payroll_ids: list[int]) -> list[int]:
    ids: list[int] = []
    for start in range(0, len(payroll_ids), IN_BATCH):
        ids += (
            conn.execute(
                select(employee.c.id).where(
                    employee.c.payroll_database == database,
                    employee.c.in_payroll,
                    employee.c.payroll_employee_id.in_(payroll_ids[start : start + IN_BATCH]),
                )
            )
            .scalars()
            .all()
        )
    return ids


def _mark_removed(conn: Connection, ess_ids: list[int], counts: EmployeeCounts) -> None:
    if not ess_ids:
        return
    conn.execute(
        update(employee).where(employee.c.id == bindparam("ess_id")).values(in_payroll=False),
        [{"ess_id": i} for i in ess_ids],
    )
    counts.removed += len(ess_ids)


def _resolve_managers(conn: Connection, database: str, state: _ChunkState) -> list[Issue]:
    """Point written employees (and those whose manager was written) at their manager.

    Returns a warning for each employee read by this sync whose manager does not exist.
    """
    manager = employee.alias("manager")
    is_manager = (
        (manager.c.payroll_database == employee.c.payroll_database)
        & (manager.c.code_key == employee.c.manager_code)
        & manager.c.in_payroll
    )
    written = len(state.touched_ids) + len(state.touched_keys)
    scope: list[Any] = [employee.c.payroll_database == database]
    if written + len(state.checked_ids) <= IN_BATCH and not state.checked_all:
        keys = state.touched_keys + [
            k for k in conn.execute(
                select(employee.c.code_key).where(employee.c.id.in_(state.touched_ids))
            ).scalars()
        ]  # fmt: skip
        if not keys and not state.checked_ids:
            return []
        scope.append(
            employee.c.code_key.in_(keys)
            | employee.c.id.in_(state.checked_ids)
            | employee.c.manager_code.in_(keys)
        )
    if written:
        # Set-based (UPDATE ... FROM on PostgreSQL and SQLite): one statement, not a row each.
        conn.execute(
            update(employee)
            .where(*scope, is_manager, employee.c.manager_id.is_distinct_from(manager.c.id))
            .values(manager_id=manager.c.id)
        )
        conn.execute(
            update(employee)
            .where(*scope, employee.c.manager_id.is_not(None), ~exists().where(is_manager))
            .values(manager_id=None)
        )
    missing = conn.execute(
        select(
            employee.c.employee_code, employee.c.payroll_employee_id, employee.c.manager_code
        ).where(*scope, employee.c.manager_code.is_not(None), employee.c.manager_id.is_(None))
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
        resolved = select(employee.c.payroll_employee_id).where(
            employee.c.payroll_database == database, employee.c.manager_id.is_not(None)
        )
        conn.execute(
            delete(employee_issue).where(
                of_database,
                employee_issue.c.field == "manager_code",
                employee_issue.c.payroll_employee_id.in_(resolved),
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

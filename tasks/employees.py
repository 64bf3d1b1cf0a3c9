"""The "Importing employees." step: payroll's changed employees into ESS, in one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Connection, bindparam, delete, insert, select, update

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
    counts = EmployeeCounts()
    result = EmployeesResult(counts)
    seen_keys: set[str] | None = None
    if full or watermark is None:
        result.mode = "full"
        result.watermark = _feed_end(reader) or watermark
        rows = _all_employees(reader)
        seen_keys = set()
        changed_ids: set[int] = set()
        found: set[int] = set()
    else:
        changed_ids, feed_end = _changed_since(reader, watermark - FEED_OVERLAP)
        result.watermark = max(feed_end, watermark) if feed_end else watermark
        found = set()
        rows = _employees_by_id(reader, sorted(changed_ids), found)
    duplicates: dict[str, list[int]] | None = None
    touched: list[int] = []
    job = current_job()
    for chunk in rows:
        if job is not None:
            job.check()
        if duplicates is None:
            duplicates = duplicate_codes(reader.all(SELECT_DUPLICATE_CODES))
        result.read += len(chunk)
        touched += _import_chunk(conn, database, job_id, chunk, lookups, duplicates, result)
        if seen_keys is not None:
            seen_keys.update(code_key(r[1]) for r in chunk)
    if seen_keys is not None:
        gone_ids = _ess_ids_not_in(conn, database, seen_keys)
    else:
        gone_ids = _ess_ids_for_payroll_ids(conn, database, sorted(changed_ids - found))
    _mark_removed(conn, gone_ids, counts)
    result.issues += _resolve_managers(conn, database, touched, result.unchanged_ids)
    _record_issues(conn, database, job_id, result)
    conn.execute(
        update(payroll_database)
        .where(payroll_database.c.name == database)
        .values(employee_watermark=result.watermark)
    )
    return result


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
    database: str,
    job_id: int | None,
    chunk: list[tuple[Any, ...]],
    lookups: LookupCodes,
    duplicates: dict[str, list[int]],
    result: EmployeesResult,
) -> list[int]:
    counts = result.counts
    good: dict[str, Employee] = {}
    for row in chunk:
        key = code_key(row[1])
        if key in duplicates:
            result.issues.append(duplicate_issue(str(row[1]).strip(), duplicates[key], int(row[0])))
            counts.note("rejected", key)
            continue
        prepared, issues = prepare_employee(row, lookups)
        result.issues += issues
        if prepared is None:
            counts.note("rejected", key)
        else:
            good[prepared.code_key] = prepared
    result.processed_ids.update(int(r[0]) for r in chunk)
    existing = _existing(conn, database, list(good))
    now = datetime.now(UTC)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    touched: list[int] = []
    for key, emp in good.items():
        current = existing.get(key)
        if current is None:
            inserts.append(_insert_row(database, emp, now))
            counts.note("added", emp.values["employee_code"])
        elif current["payroll_hash"] != emp.payroll_hash or not current["in_payroll"]:
            updates.append(_update_row(current["id"], emp, now))
            touched.append(current["id"])
            old_end = parse_date(current["termination_date"])
            kind = (
                "terminated"
                if is_newly_terminated(old_end, emp.values["termination_date"])
                else "updated"
            )
            counts.note(kind, emp.values["employee_code"])
        else:
            counts.unchanged += 1
            result.unchanged_ids.append(current["id"])
    if inserts:
        conn.execute(insert(employee), inserts)
        touched += _ids_for_keys(conn, database, [r["code_key"] for r in inserts])
    if updates:
        conn.execute(
            update(employee)
            .where(employee.c.id == bindparam("ess_id"))
            .values(
                {
                    c: bindparam(f"v_{c}")
                    for c in (
                        *PAYROLL_OWNED,
                        "payroll_employee_id",
                        "payroll_hash",
                        "in_payroll",
                        "synced_at",
                    )
                }
            ),
            updates,
        )
    return touched


def _existing(conn: Connection, database: str, keys: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(keys), IN_BATCH):
        rows = conn.execute(
            select(
                employee.c.id,
                employee.c.code_key,
                employee.c.payroll_hash,
                employee.c.in_payroll,
                employee.c.termination_date,
            ).where(
                employee.c.payroll_database == database,
                employee.c.code_key.in_(keys[start : start + IN_BATCH]),
            )
        ).mappings()
        found.update({r["code_key"]: dict(r) for r in rows})
    return found


def _ids_for_keys(conn: Connection, database: str, keys: list[str]) -> list[int]:
    return [r["id"] for r in _existing(conn, database, keys).values()]


def _insert_row(database: str, emp: Employee, now: datetime) -> dict[str, Any]:
    return {
        "payroll_database": database,
        "code_key": emp.code_key,
        "payroll_employee_id": emp.payroll_employee_id,
        **{c: emp.values.get(c) for c in ESS_COLUMNS},
        "in_payroll": True,
        "payroll_hash": emp.payroll_hash,
        "first_imported_at": now,
        "synced_at": now,
    }


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


def _ess_ids_not_in(conn: Connection, database: str, keys: set[str]) -> list[int]:
    rows = conn.execute(
        select(employee.c.id, employee.c.code_key).where(
            employee.c.payroll_database == database, employee.c.in_payroll
        )
    )
    return [ess_id for ess_id, key in rows if key not in keys]


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


def _resolve_managers(
    conn: Connection, database: str, touched: list[int], unchanged: list[int]
) -> list[Issue]:
    """Point touched employees, and those whose manager was touched, at their manager.

    Returns a warning for each employee read by this sync whose manager does not exist.
    """
    checked = touched + unchanged
    if not checked:
        return []
    manager = employee.alias("manager")
    manager_id = (
        select(manager.c.id)
        .where(
            manager.c.payroll_database == employee.c.payroll_database,
            manager.c.code_key == employee.c.manager_code,
            manager.c.in_payroll,
        )
        .scalar_subquery()
    )
    scope: list[Any] = [employee.c.payroll_database == database]
    if len(checked) <= IN_BATCH:
        codes = conn.execute(select(employee.c.code_key).where(employee.c.id.in_(touched)))
        scope.append(
            employee.c.id.in_(checked) | employee.c.manager_code.in_(codes.scalars().all())
        )
    if touched:
        conn.execute(update(employee).where(*scope).values(manager_id=manager_id))
    missing = conn.execute(
        select(
            employee.c.employee_code, employee.c.payroll_employee_id, employee.c.manager_code
        ).where(*scope, employee.c.manager_code.is_not(None), employee.c.manager_id.is_(None))
    ).all()
    return [
        Issue(
            code,
            payroll_id,
            "manager_code",
            manager_code,
            "names no employee of this payroll; imported without a manager",
            False,
        )
        for code, payroll_id, manager_code in missing
    ]


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

"""The one importer every lookup uses: read payroll's table, diff it against ESS, write the diff."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Connection, bindparam, insert, select, update

from core.changes import ChangeCounts, Changes, EssRow, compute_changes
from core.lookups import LookupSpec
from core.messages import duplicate_keys, imported
from core.queries import select_all
from ess.database import ess_engine
from ess.schema import LOOKUP_TABLES
from ess.store.log import WARNING, write_log
from jobs.context import cancel_hook, cancellable
from jobs.retries import STEP_OPTIONS
from payroll.connect import load_payroll


@task(
    name="import-lookup",
    task_run_name="importing {spec.name}",
    cache_policy=NO_CACHE,
    **STEP_OPTIONS,
)
def import_lookup(
    spec: LookupSpec, database: str, job_id: int | None = None, preview: bool = False
) -> ChangeCounts:
    """Bring one lookup of one payroll database into ESS; only changed rows are written.

    Safe to retry: the whole diff commits in one transaction or not at all. A preview
    computes the same diff and writes nothing.
    """
    return _apply(spec, database, read_rows(spec, database), job_id, preview)


@task(
    name="import-lookups",
    task_run_name="importing lookups",
    cache_policy=NO_CACHE,
    **STEP_OPTIONS,
)
def import_lookups(
    specs: tuple[LookupSpec, ...],
    database: str,
    job_id: int | None = None,
    preview: bool = False,
) -> list[ChangeCounts]:
    """Import several lookups over one payroll connection, each in its own transaction.

    Each lookup's counts row is logged as it commits, so a person watching sees progress.
    A failure names the lookup it happened in (`exc.step`). Safe to retry: a lookup already
    imported finds nothing left to change.
    """
    results: list[ChangeCounts] = []
    current = specs[0] if specs else None
    try:
        with load_payroll(database).reader() as reader:
            for current in specs:
                counts = _apply(current, database, reader.all(_select(current)), job_id, preview)
                if not preview:
                    write_log(database, imported(current.name, counts), job_id=job_id)
                results.append(counts)
    except Exception as exc:
        if current is not None:
            exc.step = f"Importing {current.name}"  # type: ignore[attr-defined]
        raise
    return results


@task(
    name="read-lookups",
    task_run_name="reading {names}",
    cache_policy=NO_CACHE,
    **STEP_OPTIONS,
)
def read_lookups(
    specs: tuple[LookupSpec, ...], database: str, names: str = ""
) -> dict[str, list[tuple[Any, ...]]]:
    """Read several lookups from payroll (small tables) in one connection."""
    with load_payroll(database).reader() as reader:
        return {s.name: reader.all(_select(s)) for s in specs}


@task(
    name="write-lookup",
    task_run_name="updating {spec.name}",
    cache_policy=NO_CACHE,
    **STEP_OPTIONS,
)
def write_lookup(
    spec: LookupSpec, database: str, rows: list[tuple[Any, ...]], job_id: int | None = None
) -> ChangeCounts:
    """Write rows already read from payroll into ESS's copy of one lookup."""
    return _apply(spec, database, rows, job_id, preview=False)


def read_rows(spec: LookupSpec, database: str) -> list[tuple[Any, ...]]:
    """One lookup's rows as payroll holds them now."""
    with load_payroll(database).reader() as reader:
        return reader.all(_select(spec))


def _select(spec: LookupSpec) -> str:
    return select_all(spec.source_table, spec.columns, order_by=spec.key)


def _apply(
    spec: LookupSpec,
    database: str,
    source: list[tuple[Any, ...]],
    job_id: int | None,
    preview: bool,
) -> ChangeCounts:
    with ess_engine().begin() as conn, cancellable(cancel_hook(conn.connection.driver_connection)):
        changes = compute_changes(source, _ess_rows(conn, spec, database), len(spec.key))
        if not preview:
            _write(conn, spec, database, changes)
    if changes.duplicates and not preview:
        write_log(
            database, duplicate_keys(spec.name, changes.duplicates), job_id=job_id, level=WARNING
        )
    return changes.counts


def _ess_rows(conn: Connection, spec: LookupSpec, database: str) -> list[EssRow]:
    table = LOOKUP_TABLES[spec.ess_table]
    columns = [table.c[c] for c in spec.columns]
    rows = conn.execute(
        select(table.c.id, table.c.in_payroll, *columns).where(table.c.payroll_database == database)
    )
    return [EssRow(r[0], bool(r[1]), tuple(r[2:])) for r in rows]


def _write(conn: Connection, spec: LookupSpec, database: str, changes: Changes) -> None:
    if changes.is_empty:
        return
    table = LOOKUP_TABLES[spec.ess_table]
    now = datetime.now(UTC)
    if changes.inserts:
        conn.execute(
            insert(table),
            [
                {
                    "payroll_database": database,
                    "in_payroll": True,
                    "synced_at": now,
                    **dict(zip(spec.columns, row, strict=True)),
                }
                for row in changes.inserts
            ],
        )
    if changes.updates:
        params: list[dict[str, Any]] = [
            {"ess_id": ess_id, **{f"v_{c}": v for c, v in zip(spec.columns, row, strict=True)}}
            for ess_id, row in changes.updates
        ]
        conn.execute(
            update(table)
            .where(table.c.id == bindparam("ess_id"))
            .values(
                in_payroll=True,
                synced_at=now,
                **{c: bindparam(f"v_{c}") for c in spec.columns},
            ),
            params,
        )
    if changes.deactivations:
        conn.execute(
            update(table)
            .where(table.c.id == bindparam("ess_id"))
            .values(in_payroll=False, synced_at=now),
            [{"ess_id": i} for i in changes.deactivations],
        )

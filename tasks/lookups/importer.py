"""The one importer every lookup uses: read payroll's tables, diff each against ESS, write the diff.

import_lookups reads and writes any list of specs in one task run (one step, one set of
Prefect API calls); read_lookups and write_lookups do each half, for a flow that says what
it is doing between reading payroll and writing ESS (Sync balances for Leave Report logs both).
"""

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
from core.results import StepFailed
from ess.database import ess_engine
from ess.schema import table_of
from ess.store.log import INFO, WARNING, insert_log
from jobs.context import cancel_hook, cancellable
from jobs.lease import hold_database
from jobs.log import echo
from jobs.retries import STEP_OPTIONS
from payroll.connect import load_payroll

Rows = list[tuple[Any, ...]]


# Any: Prefect types this callback as a Protocol no plain function satisfies.
def _run_name(verb: str) -> Any:
    def name(parameters: dict[str, Any]) -> str:
        specs = parameters["specs"]
        # The eleven lookups read as "lookups" in the Prefect UI and in retry messages.
        shown = " and ".join(s.name for s in specs) if len(specs) <= 2 else "lookups"
        return f"{verb} {shown}"

    return name


@task(
    name="read-lookups",
    task_run_name=_run_name("reading"),
    cache_policy=NO_CACHE,
    **STEP_OPTIONS,
)
def read_lookups(
    specs: tuple[LookupSpec, ...], database: str, as_steps: bool = True
) -> dict[str, Rows]:
    """Read several lookups (small tables) from payroll over one connection, by spec name.

    With `as_steps` each lookup is a step of the Web API Log: a failure names it
    (StepFailed: `Importing <lookup>`). Reading writes nothing, so a retry is safe.
    """
    return _read(specs, database, as_steps)


@task(
    name="write-lookups",
    task_run_name=_run_name("writing"),
    cache_policy=NO_CACHE,
    **STEP_OPTIONS,
)
def write_lookups(
    specs: tuple[LookupSpec, ...],
    database: str,
    rows: dict[str, Rows],
    job_id: int | None = None,
    preview: bool = False,
    as_steps: bool = True,
) -> list[ChangeCounts]:
    """Bring each lookup's rows, as read from payroll, into ESS: only changed rows are written.

    Each lookup commits in its own transaction. With `as_steps` each lookup is a step of
    the Web API Log: its counts row is written as it commits (so a person watching sees
    progress) and a failure names it. A preview computes the same diffs and writes nothing.
    Safe to retry: a lookup already written finds nothing left to change.
    """
    return _write(specs, database, rows, job_id, preview, as_steps)


@task(
    name="import-lookups",
    task_run_name=_run_name("importing"),
    cache_policy=NO_CACHE,
    **STEP_OPTIONS,
)
def import_lookups(
    specs: tuple[LookupSpec, ...],
    database: str,
    job_id: int | None = None,
    preview: bool = False,
) -> list[ChangeCounts]:
    """Read the lookups over one payroll connection, then write each in its own transaction.

    What read_lookups then write_lookups do, as one step of the Web API Log in one task
    run: each lookup's counts row is written as it commits, and a failure names the lookup.
    A retry reads payroll again and finds nothing left to change in what was written.
    """
    return _write(specs, database, _read(specs, database, True), job_id, preview, True)


def _read(specs: tuple[LookupSpec, ...], database: str, as_steps: bool) -> dict[str, Rows]:
    rows: dict[str, Rows] = {}
    # A failure before the first lookup (payroll unreachable) is the first lookup's.
    current = specs[0] if specs else None
    try:
        with load_payroll(database).reader() as reader:
            for current in specs:
                rows[current.name] = reader.all(_select(current))
    except Exception as exc:
        # The job's failure row says which lookup failed (`Importing country failed: ...`).
        if as_steps and current is not None:
            raise StepFailed(f"Importing {current.name}", exc) from exc
        raise
    return rows


def _write(
    specs: tuple[LookupSpec, ...],
    database: str,
    rows: dict[str, Rows],
    job_id: int | None,
    preview: bool,
    as_steps: bool,
) -> list[ChangeCounts]:
    results: list[ChangeCounts] = []
    current = None
    try:
        for current in specs:
            results.append(_apply(current, database, rows[current.name], job_id, preview, as_steps))
    except Exception as exc:
        # The job's failure row says which lookup failed (`Importing country failed: ...`).
        if as_steps and current is not None:
            raise StepFailed(f"Importing {current.name}", exc) from exc
        raise
    return results


def _select(spec: LookupSpec) -> str:
    return select_all(spec.source_table, spec.columns, order_by=spec.key)


def _apply(
    spec: LookupSpec,
    database: str,
    source: Rows,
    job_id: int | None,
    preview: bool,
    as_steps: bool,
) -> ChangeCounts:
    """Diff one lookup against ESS and write the diff; its Web API Log rows (a duplicate
    code's warning, and as a step its counts) commit in the same transaction, so the log
    never says what was not written, and a lookup costs one transaction, not two or three."""
    said: list[tuple[str, str]] = []
    with ess_engine().begin() as conn, cancellable(cancel_hook(conn.connection.driver_connection)):
        changes = compute_changes(source, _ess_rows(conn, spec, database), len(spec.key))
        if not preview and not changes.is_empty:
            _write_changes(conn, spec, database, changes)
            hold_database(conn)  # the writes count only while the job holds its database
        if not preview:
            if changes.duplicates:
                said.append((duplicate_keys(spec.name, changes.duplicates), WARNING))
            if as_steps:
                said.append((imported(spec.name, changes.counts), INFO))
        for message, level in said:
            # A lookup that changed nothing commits only its log rows: no wait for the disk.
            insert_log(
                conn, database, message, job_id=job_id, level=level, durable=not changes.is_empty
            )
    for message, level in said:
        echo(message, level)
    return changes.counts


def _ess_rows(conn: Connection, spec: LookupSpec, database: str) -> list[EssRow]:
    table = table_of(spec)
    columns = [table.c[c] for c in spec.columns]
    rows = conn.execute(
        select(table.c.id, table.c.in_payroll, *columns).where(table.c.payroll_database == database)
    )
    return [EssRow(r[0], bool(r[1]), tuple(r[2:])) for r in rows]


def _write_changes(conn: Connection, spec: LookupSpec, database: str, changes: Changes) -> None:
    if changes.is_empty:
        return
    table = table_of(spec)
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

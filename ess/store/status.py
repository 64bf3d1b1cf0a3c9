"""What support asks first: per database, the last successful sync, the last job's result and
when a schedule runs it next."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from core.schedules import next_scheduled_run
from ess.plain import Reader, reading, utc, utc_or_none
from ess.store.schedules import read_schedules


@dataclass(frozen=True)
class DatabaseStatus:
    """One payroll database's sync status."""

    database: str
    last_sync_from_payroll: datetime | None
    last_leave_balance_sync: datetime | None
    last_job_id: int | None
    last_job_kind: str | None
    last_job_status: str | None
    last_job_started_at: datetime | None
    last_job_finished_at: datetime | None
    last_job_message: str | None
    last_job_flow_run_id: str | None = None
    next_scheduled_run: datetime | None = None
    """The soonest run of its switched-on schedules (`ess-sync schedule`), in their timezone."""
    last_reconciled_at: datetime | None = None
    """When `ess-sync reconcile` (or Check against payroll) last compared it with payroll."""
    last_reconciliation_differences: int | None = None


def database_statuses() -> list[DatabaseStatus]:
    """The status of every registered payroll database."""
    with reading() as db:
        rows = db.rows(
            "SELECT d.name, d.last_sync_from_payroll, d.last_leave_balance_sync, j.id, j.kind,"
            " j.status, j.started_at, j.finished_at, j.message, j.flow_run_id"
            " FROM payroll_database d"
            " LEFT OUTER JOIN (SELECT payroll_database, MAX(id) AS job_id FROM sync_job"
            " GROUP BY payroll_database) latest ON latest.payroll_database = d.name"
            " LEFT OUTER JOIN sync_job j ON j.id = latest.job_id"
            " ORDER BY d.name"
        )
        schedules, reconciled = read_schedules(db), _last_reconciliations(db)
    now = datetime.now(UTC)
    statuses = []
    for row in rows:
        name, synced, leave_synced, job_id, kind, status, started, finished, message, run = row
        when, differences = reconciled.get(name, (None, None))
        statuses.append(
            DatabaseStatus(
                database=name,
                last_sync_from_payroll=utc_or_none(synced),
                last_leave_balance_sync=utc_or_none(leave_synced),
                last_job_id=job_id,
                last_job_kind=kind,
                last_job_status=status,
                last_job_started_at=utc_or_none(started),
                last_job_finished_at=utc_or_none(finished),
                last_job_message=message,
                last_job_flow_run_id=run,
                next_scheduled_run=next_scheduled_run(schedules.get(name, []), now),
                last_reconciled_at=when,
                last_reconciliation_differences=differences,
            )
        )
    return statuses


def _last_reconciliations(db: Reader) -> dict[str, tuple[datetime, int]]:
    """Per payroll database: when it was last reconciled and how many differences it had."""
    rows = db.rows(
        "SELECT payroll_database, reconciled_at, differences FROM reconciliation"
        " WHERE id IN (SELECT MAX(id) FROM reconciliation GROUP BY payroll_database)"
    )
    return {name: (utc(when), count) for name, when, count in rows}

"""What support asks first: per database, the last successful sync, the last job's result and
when a schedule runs it next."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import func, select

from core.schedules import next_scheduled_run
from ess.database import ess_engine
from ess.schema import payroll_database, sync_job
from ess.store.reconciliations import last_reconciliations
from ess.store.schedules import all_schedules


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
    latest = (
        select(sync_job.c.payroll_database, func.max(sync_job.c.id).label("job_id"))
        .group_by(sync_job.c.payroll_database)
        .subquery()
    )
    query = (
        select(
            payroll_database.c.name,
            payroll_database.c.last_sync_from_payroll,
            payroll_database.c.last_leave_balance_sync,
            sync_job.c.id,
            sync_job.c.kind,
            sync_job.c.status,
            sync_job.c.started_at,
            sync_job.c.finished_at,
            sync_job.c.message,
            sync_job.c.flow_run_id,
        )
        .select_from(payroll_database)
        .outerjoin(latest, latest.c.payroll_database == payroll_database.c.name)
        .outerjoin(sync_job, sync_job.c.id == latest.c.job_id)
        .order_by(payroll_database.c.name)
    )
    with ess_engine().connect() as conn:
        statuses = [DatabaseStatus(*row) for row in conn.execute(query)]
    schedules, now = all_schedules(), datetime.now(UTC)
    reconciled = last_reconciliations()
    return [
        replace(
            s,
            next_scheduled_run=next_scheduled_run(schedules.get(s.database, []), now),
            last_reconciled_at=reconciled.get(s.database, (None, None))[0],
            last_reconciliation_differences=reconciled.get(s.database, (None, None))[1],
        )
        for s in statuses
    ]

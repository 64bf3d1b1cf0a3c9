"""What ESS says of the jobs Prefect's flow runs took: for reconciling Prefect's slots."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select

from core.slots import JOB_DEAD, JOB_ENDED, JOB_LIVE
from ess.database import ess_engine
from ess.schema import sync_job
from ess.settings import settings
from ess.store.clock import db_now, last_beat
from ess.store.jobs import ABANDONED, RUNNING


def jobs_of_runs(flow_run_ids: Collection[str]) -> dict[str, tuple[int, str]]:
    """Each of these flow runs that took an ESS job: (job id, live, dead or ended).

    Dead: still running by its row, but its heartbeat is older than the lease (its process
    died), or already declared abandoned. Judged by ESS's own clock, as take_job judges it.
    """
    if not flow_run_ids:
        return {}
    lease = settings().job_lease_seconds
    with ess_engine().connect() as conn:
        beat = last_beat(conn.dialect.name)
        rows = conn.execute(
            select(
                sync_job.c.flow_run_id, sync_job.c.id, sync_job.c.status, beat >= db_now(-lease)
            ).where(sync_job.c.flow_run_id.in_(list(flow_run_ids)))
        ).all()
    found: dict[str, tuple[int, str]] = {}
    for run_id, job_id, status, fresh in rows:
        if status == RUNNING:
            found[run_id] = (job_id, JOB_LIVE if fresh else JOB_DEAD)
        else:
            found[run_id] = (job_id, JOB_DEAD if status == ABANDONED else JOB_ENDED)
    return found


def lease_left(database: str) -> float | None:
    """Seconds until the lease of the job running on the database runs out, by ESS's clock.

    None when no job is running there; zero or less when its process died (it stopped
    renewing the lease), which is when ESS calls the database free.
    """
    lease = settings().job_lease_seconds
    with ess_engine().connect() as conn:
        row = conn.execute(
            select(last_beat(conn.dialect.name), db_now()).where(
                sync_job.c.payroll_database == database, sync_job.c.status == RUNNING
            )
        ).first()
    if row is None:
        return None
    beat, now = row
    return float(lease - (now - beat).total_seconds())

"""Keeping Prefect's view honest: a run whose job was abandoned is marked Crashed."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import select

from ess.database import ess_engine
from ess.schema import sync_job
from ess.store.jobs import ABANDONED

_logger = logging.getLogger("ess_sync.prefect_runs")
_LIVE = {"RUNNING", "PENDING", "SCHEDULED", "PAUSED"}


def crash_abandoned_runs(database: str, within: timedelta = timedelta(days=1)) -> list[str]:
    """Mark Crashed the Prefect flow runs of jobs abandoned recently that still look alive."""
    since = datetime.now(UTC) - within
    with ess_engine().connect() as conn:
        run_ids = (
            conn.execute(
                select(sync_job.c.flow_run_id).where(
                    sync_job.c.payroll_database == database,
                    sync_job.c.status == ABANDONED,
                    sync_job.c.flow_run_id.is_not(None),
                    sync_job.c.finished_at >= since,
                )
            )
            .scalars()
            .all()
        )
    if not run_ids:
        return []
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    crashed: list[str] = []
    with get_client(sync_client=True) as client:
        for run_id in run_ids:
            try:
                run = client.read_flow_run(UUID(run_id))
                if run.state is None or run.state.type.value not in _LIVE:
                    continue
                client.set_flow_run_state(
                    UUID(run_id),
                    Crashed(message="Its process died: the job's heartbeat stopped."),
                    force=True,
                )
                crashed.append(str(run_id))
            except Exception as exc:  # a run Prefect no longer knows needs nothing
                _logger.warning("Could not mark flow run crashed: %s", type(exc).__name__)
    return crashed

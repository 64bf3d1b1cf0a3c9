"""Sync from Payroll: one payroll database's lookups and pay frequency into ESS."""

from __future__ import annotations

import time
from typing import Any

from prefect import flow
from prefect.runtime import flow_run
from prefect.states import Cancelled, State

from core import messages
from core.lookups import LOOKUPS, PAY_FREQUENCY
from tasks.cache_steps import clear_cache
from tasks.faults import describe
from tasks.jobs import (
    COMPLETED,
    FAILED,
    SYNC_FROM_PAYROLL,
    JobAlreadyRunning,
    finish_job,
    heartbeat,
    refused,
    take_job,
)
from tasks.lookups.importer import import_lookup
from tasks.registry import get_database
from tasks.web_api_log import write_log


@flow(name="sync-from-payroll", log_prints=True)
def sync_from_payroll(database: str, full: bool = False) -> dict[str, Any] | State[Any]:
    """Bring one payroll database's changes into ESS, step by step, as the Web API Log shows.

    Args:
        database: the payroll database's registered name, e.g. acme_payroll.
        full: read every employee rather than payroll's change feed (the repair path).
    """
    get_database(database)
    try:
        job = take_job(database, SYNC_FROM_PAYROLL, flow_run_id=flow_run.get_id())
    except JobAlreadyRunning as busy:
        return Cancelled(message=refused(database, busy.running))

    started = time.monotonic()
    summary: dict[str, Any] = {}
    step = "Clearing cache"
    with heartbeat(job):
        try:
            write_log(database, messages.CLEARING_CACHE, job_id=job.id)
            removed = clear_cache(database)
            write_log(database, messages.cache_cleared(removed), job_id=job.id)

            write_log(database, messages.IMPORTING_LOOKUPS, job_id=job.id)
            for spec in LOOKUPS:
                step = f"Importing {spec.name}"
                counts = import_lookup(spec, database, job.id)
                summary[spec.name] = counts.__dict__
                write_log(database, messages.imported(spec.name, counts), job_id=job.id)

            step = "Importing pay frequency"
            write_log(database, messages.IMPORTING_PAY_FREQUENCY, job_id=job.id)
            counts = import_lookup(PAY_FREQUENCY, database, job.id)
            summary[PAY_FREQUENCY.name] = counts.__dict__
            write_log(database, messages.imported(PAY_FREQUENCY.name, counts), job_id=job.id)
        except Exception as exc:
            reason = f"{step} failed: {describe(exc)}"
            finish_job(job, FAILED, messages.job_failed(reason), level="error", summary=summary)
            raise
    summary["seconds"] = round(time.monotonic() - started, 3)
    finish_job(job, COMPLETED, messages.JOB_COMPLETED, summary=summary)
    return {"job_id": job.id, "database": database, "status": COMPLETED, "steps": summary}


if __name__ == "__main__":
    import sys

    sync_from_payroll(database=sys.argv[1], full="--full" in sys.argv[2:])

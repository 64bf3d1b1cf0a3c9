"""The "Clearing cache." step."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from ess.store.cache import ess_cache_store
from jobs.context import current_job
from jobs.retries import STEP_OPTIONS


@task(name="clear-cache", task_run_name="clearing cache", cache_policy=NO_CACHE, **STEP_OPTIONS)
def clear_cache(database: str) -> int:
    """Empty the ESS cache of one payroll database; returns how many entries went."""
    job = current_job()
    if job is not None:
        job.check()  # a job whose heartbeat found its database taken clears nothing
    return ess_cache_store().clear(database)

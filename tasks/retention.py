"""Keeping the Web API Log to its retention period, a batch at a time."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import ColumnElement, delete, func, select

from ess.database import ess_engine
from ess.schema import sync_job, web_api_log
from ess.store.jobs import RUNNING

BATCH = 5_000


def _expired(cutoff: datetime) -> ColumnElement[bool]:
    running = select(sync_job.c.id).where(sync_job.c.status == RUNNING)
    # A running job's rows stay whatever their age: support reads them while it runs.
    return (web_api_log.c.logged_at < cutoff) & (
        web_api_log.c.job_id.is_(None) | web_api_log.c.job_id.not_in(running)
    )


def count_expired(cutoff: datetime) -> int:
    """How many rows are older than the cutoff (and not a running job's)."""
    with ess_engine().connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(web_api_log).where(_expired(cutoff))
            ).scalar_one()
        )


@task(name="purge-web-api-log", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def purge_web_api_log(cutoff: datetime, batch: int = BATCH) -> int:
    """Delete rows older than the cutoff in short transactions; returns how many went.

    Each batch commits on its own, so a running sync's log writes wait at most one batch.
    Safe to retry: a deleted row is not deleted twice.
    """
    removed = 0
    while True:
        with ess_engine().begin() as conn:
            ids = select(web_api_log.c.id).where(_expired(cutoff)).order_by(web_api_log.c.id)
            batch_ids = conn.execute(ids.limit(batch)).scalars().all()
            if not batch_ids:
                return removed
            conn.execute(delete(web_api_log).where(web_api_log.c.id.in_(batch_ids)))
        removed += len(batch_ids)

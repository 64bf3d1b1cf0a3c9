"""Keeping a job's hold on its database: a heartbeat thread renews the lease in ESS and
enforces the job's deadline, and every step proves the hold inside its own transaction."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from ess.settings import settings
from ess.store.jobs import Job, hold, renew_lease
from jobs.context import JobContext, current_job

_logger = logging.getLogger("ess_sync.heartbeat")


def hold_database(conn: Connection) -> None:
    """Just before a step commits: the job still holds its database, or LostLease.

    Outside a job (a preview, a test calling a task alone) there is nothing to hold.
    """
    job = current_job()
    if job is None or job.job_id is None:
        return
    job.check()
    hold(conn, job.job_id)


@contextmanager
def heartbeat(job: Job, context: JobContext | None = None) -> Iterator[None]:
    """Renew the job's lease in the background while the block runs; enforce its deadline.

    A beat that finds another job holds the database marks the job lost, which stops its
    open queries and its next step. A beat that cannot be written is logged and tried again:
    on SQLite a step's own long write holds the lock the beat needs, and that step proves
    its hold (and renews the lease) when it commits.
    """
    stop = threading.Event()
    every = max(0.5, settings().job_lease_seconds / 4)

    def beat() -> None:
        next_beat = time.monotonic() + every
        while not stop.wait(0.25):
            if context is not None and context.overdue() and not context.timed_out.is_set():
                context.expire()
            if time.monotonic() < next_beat:
                continue
            next_beat = time.monotonic() + every
            try:
                held = renew_lease(job)
            except Exception as exc:
                _logger.warning(
                    "Job %s's heartbeat could not be written (%s); it will try again.",
                    job.id,
                    type(exc).__name__,
                )
                continue
            if not held:
                _logger.warning("Job %s no longer holds %s.", job.id, job.payroll_database)
                if context is not None:
                    context.lose()
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-job-{job.id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)

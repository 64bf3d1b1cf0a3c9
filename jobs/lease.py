"""Keeping a job's hold on its database: a heartbeat thread renews the lease in ESS and
enforces the job's deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from ess.settings import settings
from ess.store.jobs import Job, renew_lease
from jobs.context import JobContext


@contextmanager
def heartbeat(job: Job, context: JobContext | None = None) -> Iterator[None]:
    """Renew the job's lease in the background while the block runs; enforce its deadline."""
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
                renew_lease(job)
            except Exception:  # a missed beat is retried at the next one
                continue

    thread = threading.Thread(target=beat, name=f"heartbeat-job-{job.id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)

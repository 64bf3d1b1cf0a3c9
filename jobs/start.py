"""The one way a job starts outside Prefect's scheduler: the CLI and the page both call
start_job(); it takes the database first, so a second request is refused at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from core.messages import job_failed
from core.results import JobResult
from ess.store.jobs import (
    FAILED,
    EssBusy,
    Job,
    JobAlreadyRunning,
    finish_job,
    live_job,
    refused,
    running_job,
    take_job,
)
from jobs.kinds import JobKind, database_tag
from jobs.lease import heartbeat

COMPLETED, NOT_STARTED, CANCELLED = "completed", "not_started", "cancelled"


@dataclass(frozen=True)
class Outcome:
    """How a request to run a job ended."""

    status: str
    """completed, failed, timed_out, not_started (another job holds the database), cancelled."""
    message: str
    job_id: int | None = None
    result: JobResult | None = None

    @property
    def ok(self) -> bool:
        """True when the job (or preview) completed."""
        return self.status in (COMPLETED, "preview")


def start_job(kind: JobKind, database: str, **parameters: Any) -> Outcome:
    """Take the database for a job of this kind, run its flow here, and say how it ended.

    Refused at once, with the `Job Not Started` row written, when another job holds the
    database: twenty clicks do not become twenty flow runs.
    """
    try:
        job = take_job(database, kind.name)
    except JobAlreadyRunning as busy:
        return Outcome(NOT_STARTED, refused(database, busy.running))
    except EssBusy as busy:  # nothing can be logged in ESS: it is what is busy
        return Outcome(NOT_STARTED, str(busy))
    with heartbeat(job), _failed_if_never_started(job):
        flow = kind.flow_function()
        with tagged(database):
            state = flow(database=database, job_id=job.id, return_state=True, **parameters)
    return _outcome(state, job.id)


def preview_job(kind: JobKind, database: str, **parameters: Any) -> Outcome:
    """What a job would change, computed and not written; refused while a job runs."""
    running = live_job(database)
    if running is not None:
        return Outcome(NOT_STARTED, str(JobAlreadyRunning(running)))
    flow = kind.flow_function()
    with tagged(database):
        state = flow(database=database, preview=True, return_state=True, **parameters)
    return _outcome(state, None)


@contextmanager
def tagged(database: str) -> Iterator[None]:
    """Flow runs started in the block are created with the database's tag.

    The flow would otherwise add it with one more call to the Prefect API.
    """
    from prefect import tags  # the flow has imported Prefect by now

    with tags(database_tag(database)):
        yield


def _outcome(state: Any, job_id: int | None) -> Outcome:
    if state.is_completed():
        result: JobResult = state.result()
        return Outcome(result.status, result.message, job_id, result)
    if state.is_cancelled():
        return Outcome(NOT_STARTED, state.message or "Job Not Started.", job_id)
    status = "timed_out" if state.name == "TimedOut" else FAILED
    return Outcome(status, state.message or "The job failed.", job_id)


@contextmanager
def _failed_if_never_started(job: Job) -> Iterator[None]:
    """End the job we took if the flow never ran it (Prefect could not start, Ctrl-C)."""
    try:
        yield
    finally:
        held = running_job(job.payroll_database)
        if held is not None and held.id == job.id and held.flow_run_id is None:
            reason = "the sync could not start (see the command's output)"
            finish_job(job, FAILED, job_failed(reason), level="error")

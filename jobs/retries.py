"""How every step retries: transient faults only, exponential backoff with jitter, each logged."""

from __future__ import annotations

from typing import Any

from prefect.tasks import exponential_backoff

from core import messages
from core.results import StepFailed
from ess.settings import settings
from ess.store.jobs import lost_at
from ess.store.log import WARNING
from jobs.context import JobContext, current_job
from jobs.log import log
from payroll.faults import is_transient


def _cause(exc: BaseException) -> tuple[bool, str]:
    if isinstance(exc, StepFailed) and exc.__cause__ is not None:
        exc = exc.__cause__
    transient = getattr(exc, "transient", None)
    if transient is None:
        transient = is_transient(exc)
    return bool(transient), str(getattr(exc, "cause_name", type(exc).__name__))


def _lost(job: JobContext) -> bool:
    """True when another job holds the database now: asked of ESS, not left to the heartbeat.

    The fault being retried may be the one the job that took over caused, ending this
    job's sessions (ess/store/jobs.py), and this job's heartbeat may not have beaten since.
    """
    if job.lost.is_set():
        return True
    if job.job_id is None:
        return False
    try:
        taken = lost_at(job.job_id) is not None
    except Exception:  # ESS itself unreachable: the retry will find out
        return False
    if taken:
        job.lose()
    return taken


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's retry_condition_fn: retry a transient fault, and say so in the Web API Log."""
    try:
        state.result()
    except Exception as exc:
        transient, cause = _cause(exc)
    else:
        return False
    job = current_job()
    if not transient or (job is not None and (job.overdue() or _lost(job))):
        return False
    if job is not None:
        attempt = int(task_run.run_count) + 1
        total = int(task.retries) + 1
        log(
            job.database,
            messages.retrying(task_run.name, attempt, total, cause),
            job_id=job.job_id,
            level=WARNING,
        )
    return True


def step_options() -> dict[str, Any]:
    """Task options every sync step shares, from the settings of the moment."""
    config = settings()
    return {
        "retries": config.retries,
        "retry_delay_seconds": exponential_backoff(backoff_factor=config.retry_delay_seconds)
        if config.retry_delay_seconds
        else 0,
        "retry_jitter_factor": 0.5,
        "retry_condition_fn": retry_transient,
    }


STEP_OPTIONS = step_options()
"""The options at import; flows apply step_options() again per run (settings may change)."""


def confirm_timeout_seconds() -> int:
    """How long a run with confirm=True waits for "Yes, sync changes" before it gives up."""
    return settings().confirm_timeout_seconds

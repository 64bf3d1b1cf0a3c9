"""What every sync flow does around its steps: hold the job, watch its time, report the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prefect.runtime import flow_run
from prefect.states import Cancelled, Failed, State

from core import messages
from ess.store.log import ERROR, INFO, write_log
from ess.store.registry import job_limit_seconds
from jobs.context import JobContext, job_context
from jobs.lease import (
    COMPLETED,
    FAILED,
    TIMED_OUT,
    JobAlreadyRunning,
    adopt_job,
    finish_job,
    heartbeat,
    refused,
    take_job,
)
from jobs.reporting import JobReport
from orchestration.runs import crash_abandoned_runs
from payroll.faults import describe
from payroll.source import is_query_timeout

Say = Callable[..., None]
Steps = Callable[[int, Say, dict[str, Any], JobReport], None]


def run_as_job(
    database: str, kind: str, job_id: int | None, steps: Steps, step_count: int
) -> dict[str, Any] | State[Any]:
    """Take (or adopt) the database's job, run the steps, and end the job as they ended.

    A second request ends Cancelled; a job past its limit ends TimedOut; any other
    failure ends `Job Failed: <step> failed: <reason>` and fails the flow run.
    """
    if job_id is not None:
        job = adopt_job(job_id, database, kind, flow_run.get_id())
    else:
        try:
            job = take_job(database, kind, flow_run_id=flow_run.get_id())
        except JobAlreadyRunning as busy:
            return Cancelled(message=refused(database, busy.running))
    crash_abandoned_runs(database)

    def say(message: str, level: str = INFO) -> None:
        write_log(database, message, job_id=job.id, level=level)

    report = JobReport(kind, database, step_count)
    summary: dict[str, Any] = {"step": "Starting"}
    started = time.monotonic()
    context = JobContext(database, job.id, job_limit_seconds(database))
    try:
        with job_context(context), heartbeat(job, context):
            try:
                steps(job.id, say, summary, report)
            except Exception as exc:
                summary["seconds"] = round(time.monotonic() - started, 3)
                if context.overdue() or is_query_timeout(exc):
                    message = messages.job_timed_out(context.elapsed)
                    _end(job, TIMED_OUT, message, summary, report)
                    return Failed(name="TimedOut", message=message)
                step = getattr(exc, "step", summary["step"])
                reason = f"{step} failed: {describe(exc)}"
                _end(job, FAILED, messages.job_failed(reason), summary, report)
                raise
        summary["seconds"] = round(time.monotonic() - started, 3)
        _end(job, COMPLETED, messages.JOB_COMPLETED, summary, report)
    finally:
        report.close()  # every artifact written before the flow run ends
    summary.pop("step", None)
    return {"job_id": job.id, "database": database, "status": COMPLETED, "steps": summary}


def _end(job: Any, status: str, message: str, summary: dict[str, Any], report: JobReport) -> None:
    if status == COMPLETED:
        summary.pop("step", None)
    finish_job(job, status, message, level=INFO if status == COMPLETED else ERROR,
               summary=summary)  # fmt: skip
    report.publish(job.id, message, summary)

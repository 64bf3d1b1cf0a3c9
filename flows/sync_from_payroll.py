"""Sync from Payroll: one payroll database's lookups, pay frequency and employees into ESS."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prefect import flow
from prefect.runtime import flow_run
from prefect.states import Cancelled, Failed, State

from core import messages
from core.lookups import LOOKUPS, PAY_FREQUENCY
from tasks.cache_steps import clear_cache
from tasks.employees import import_employees
from tasks.faults import describe
from tasks.job_context import JobContext, job_context
from tasks.jobs import (
    COMPLETED,
    FAILED,
    SYNC_FROM_PAYROLL,
    TIMED_OUT,
    JobAlreadyRunning,
    adopt_job,
    finish_job,
    heartbeat,
    refused,
    running_job,
    take_job,
)
from tasks.lookups.importer import import_lookup
from tasks.payroll_source import is_query_timeout
from tasks.registry import get_database, job_limit_seconds
from tasks.retries import step_options
from tasks.web_api_log import ERROR, INFO, WARNING, write_log

Say = Callable[[str, str], None]


@flow(name="sync-from-payroll")
def sync_from_payroll(
    database: str, full: bool = False, preview: bool = False, job_id: int | None = None
) -> dict[str, Any] | State[Any]:
    """Bring one payroll database's changes into ESS, step by step, as the Web API Log shows.

    Args:
        database: the payroll database's registered name, e.g. acme_payroll.
        full: read every employee rather than payroll's change feed (the repair path).
        preview: compute what each step would change and write nothing but one log row.
        job_id: leave empty; set by `ess-sync run`, which takes the job before Prefect starts.
    """
    get_database(database)
    if preview:
        return _preview(database, full)
    if job_id is not None:
        job = adopt_job(job_id, database, SYNC_FROM_PAYROLL, flow_run.get_id())
    else:
        try:
            job = take_job(database, SYNC_FROM_PAYROLL, flow_run_id=flow_run.get_id())
        except JobAlreadyRunning as busy:
            return Cancelled(message=refused(database, busy.running))

    def say(message: str, level: str = INFO) -> None:
        write_log(database, message, job_id=job.id, level=level)

    started = time.monotonic()
    summary: dict[str, Any] = {}
    context = JobContext(database, job.id, job_limit_seconds(database))
    with job_context(context), heartbeat(job, context):
        try:
            summary["step"] = "Clearing cache"
            say(messages.CLEARING_CACHE)
            say(messages.cache_cleared(clear_cache.with_options(**step_options())(database)))
            _import_steps(database, job.id, full, False, say, summary)
        except Exception as exc:
            if context.overdue() or is_query_timeout(exc):
                message = messages.job_timed_out(context.elapsed)
                finish_job(job, TIMED_OUT, message, level=ERROR, summary=summary)
                return Failed(name="TimedOut", message=message)
            reason = f"{summary['step']} failed: {describe(exc)}"
            finish_job(job, FAILED, messages.job_failed(reason), level=ERROR, summary=summary)
            raise
    del summary["step"]
    summary["seconds"] = round(time.monotonic() - started, 3)
    finish_job(job, COMPLETED, messages.JOB_COMPLETED, summary=summary)
    return {"job_id": job.id, "database": database, "status": COMPLETED, "steps": summary}


def _import_steps(
    database: str, job_id: int | None, full: bool, preview: bool, say: Say, summary: dict[str, Any]
) -> None:
    lookup_step = import_lookup.with_options(**step_options())
    say(messages.IMPORTING_LOOKUPS, INFO)
    for spec in LOOKUPS:
        summary["step"] = f"Importing {spec.name}"
        counts = lookup_step(spec, database, job_id, preview)
        summary[spec.name] = counts.__dict__
        say(messages.imported(spec.name, counts), INFO)

    summary["step"] = "Importing pay frequency"
    say(messages.IMPORTING_PAY_FREQUENCY, INFO)
    counts = lookup_step(PAY_FREQUENCY, database, job_id, preview)
    summary[PAY_FREQUENCY.name] = counts.__dict__
    say(messages.imported(PAY_FREQUENCY.name, counts), INFO)

    summary["step"] = "Importing employees"
    say(messages.IMPORTING_EMPLOYEES, INFO)
    result = import_employees.with_options(**step_options())(database, job_id, full, preview)
    # One row per distinct problem: two employees sharing a code make one row naming both.
    issues = {i.message(): i.rejected for i in result.issues}
    for message, rejected in list(issues.items())[: messages.ISSUES_SHOWN]:
        say(message, ERROR if rejected else WARNING)
    if len(issues) > messages.ISSUES_SHOWN:
        say(messages.more_issues(len(issues) - messages.ISSUES_SHOWN, database), WARNING)
    if result.counts.removed:
        say(messages.employees_removed(result.counts.removed), INFO)
    say(messages.imported_employees(result.counts), INFO)
    summary["employees"] = {
        "added": result.counts.added,
        "updated": result.counts.updated,
        "terminated": result.counts.terminated,
        "unchanged": result.counts.unchanged,
        "rejected": result.counts.rejected,
        "removed": result.counts.removed,
        "mode": result.mode,
        "samples": result.counts.samples,
    }


def _preview(database: str, full: bool) -> dict[str, Any] | State[Any]:
    """What a sync would change, written nowhere but one log row."""
    running = running_job(database)
    if running is not None:
        return Cancelled(message=str(JobAlreadyRunning(running)))
    lines: list[str] = []
    summary: dict[str, Any] = {}
    _import_steps(database, None, full, True, lambda m, _level: lines.append(m), summary)
    summary.pop("step", None)
    write_log(database, messages.PREVIEW_ONLY)
    return {"database": database, "status": "preview", "lines": lines, "steps": summary}


if __name__ == "__main__":
    import sys

    sync_from_payroll(database=sys.argv[1], full="--full" in sys.argv[2:])

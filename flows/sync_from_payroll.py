"""Sync from Payroll: one payroll database's lookups, pay frequency and employees into ESS."""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow, pause_flow_run
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import FlowPauseTimeout
from prefect.input import RunInput
from prefect.states import Cancelled, State
from pydantic.json_schema import SkipJsonSchema

from core import messages
from core.lookups import LOOKUPS, PAY_FREQUENCY, LookupSpec
from core.results import JobResult
from core.steps import (
    CLEARING_CACHE,
    IMPORTING_EMPLOYEES,
    IMPORTING_LOOKUPS,
    IMPORTING_PAY_FREQUENCY,
)
from ess.store.jobs import JobAlreadyRunning, live_job
from ess.store.log import ERROR, INFO, WARNING
from ess.store.reconciliations import last_reconciliation
from flows.runs import (
    LOCAL_RESULT_STORAGE,
    RESULTS_NOT_PERSISTED,
    refuse_unregistered,
    run_name,
    tag_with_database,
)
from jobs.kinds import SYNC_FROM_PAYROLL
from jobs.log import log
from jobs.reporting import artifact_key, literal
from jobs.retries import confirm_timeout_seconds, step_options
from jobs.runner import JobSteps, run_as_job, run_preview
from payroll.connect import prefetch_payroll
from tasks.cache import clear_cache
from tasks.employees import import_employees
from tasks.lookups.importer import import_lookups

YES = "Yes, sync changes"
NO = "No, do not sync"


class SyncConfirmation(RunInput):
    """The question a confirmed run asks in the Prefect UI after showing its preview."""

    answer: Literal["Yes, sync changes", "No, do not sync"] = "No, do not sync"


@flow(
    name="sync-from-payroll",
    flow_run_name=run_name("sync"),
    persist_result=RESULTS_NOT_PERSISTED,
    result_storage=LOCAL_RESULT_STORAGE,
)
def sync_from_payroll(
    database: str,
    full: bool = False,
    preview: bool = False,
    confirm: bool = False,
    repair: bool = False,
    job_id: SkipJsonSchema[int | None] = None,
) -> JobResult | State[Any]:
    """Bring one payroll database's changes into ESS, step by step, as the Web API Log shows.

    Args:
        database: the payroll database's registered name, e.g. acme_payroll.
        full: read every employee rather than payroll's change feed (the repair path).
        preview: compute what each step would change and write nothing but one log row.
        confirm: show the preview, wait for "Yes, sync changes" in the Prefect UI, then sync.
        repair: re-import only the employees the last reconciliation found different.
        job_id: leave empty; set by `ess-sync run`, which takes the job before Prefect starts.
    """
    refusal = refuse_unregistered(database)
    if refusal is not None:
        return refusal
    tag_with_database(database)
    if preview:
        return _preview(database, full)
    if confirm:
        refusal = _ask_to_confirm(database, full)
        if refusal is not None:
            return refusal

    def steps(job: JobSteps) -> None:
        prefetch_payroll(database)
        with job.step(CLEARING_CACHE):
            job.say(messages.cache_cleared(clear_cache.with_options(**step_options())(database)))
        _import_steps(job, database, full, repair)

    return run_as_job(SYNC_FROM_PAYROLL, database, job_id, steps)


def _import_steps(job: JobSteps, database: str, full: bool, repair: bool = False) -> None:
    """The import steps; a preview runs them too, computing and writing nothing."""
    options = step_options()
    with job.step(IMPORTING_LOOKUPS):
        _import_lookups(job, LOOKUPS, database, options)

    with job.step(IMPORTING_PAY_FREQUENCY):
        _import_lookups(job, (PAY_FREQUENCY,), database, options)

    with job.step(IMPORTING_EMPLOYEES):
        reconciliation = None
        if repair:
            reconciliation = last_reconciliation(database)
            if reconciliation is None or not reconciliation.employees:
                found = reconciliation.id if reconciliation else None
                job.say(messages.nothing_to_repair(database, found))
                return
            job.say(messages.repairing(reconciliation.employees, reconciliation.id))
        result = import_employees.with_options(**options)(
            database, job.id, full, job.preview, reconciliation.id if reconciliation else None
        )
        if result.full_read_reason:
            job.say(result.full_read_reason, WARNING if result.full_read_warns else INFO)
        # One row per distinct problem: two employees sharing a code make one row naming both.
        issues = {i.message(): i.rejected for i in result.issues}
        for message, rejected in list(issues.items())[: messages.ISSUES_SHOWN]:
            job.say(message, ERROR if rejected else WARNING)
        if len(issues) > messages.ISSUES_SHOWN:
            job.say(messages.more_issues(len(issues) - messages.ISSUES_SHOWN, database), WARNING)
        if result.counts.removed:
            job.say(messages.employees_removed(result.counts.removed))
        job.say(messages.imported_employees(result.counts))
        job.record("employees", result.counts)


def _import_lookups(
    job: JobSteps, specs: tuple[LookupSpec, ...], database: str, options: dict[str, Any]
) -> None:
    """Read the lookups over one payroll connection, then write each in its own transaction.

    One task run: the task writes each lookup's counts row as it commits; a preview only
    says them.
    """
    all_counts = import_lookups.with_options(**options)(specs, database, job.id, job.preview)
    for spec, counts in zip(specs, all_counts, strict=True):
        job.record(spec.name, counts)
        if job.preview:
            job.say(messages.imported(spec.name, counts))


def _preview(database: str, full: bool) -> JobResult | State[Any]:
    """What a sync would change, written nowhere but one log row."""
    running = live_job(database)
    if running is not None:
        return Cancelled(message=str(JobAlreadyRunning(running)))
    return run_preview(SYNC_FROM_PAYROLL, database, lambda job: _import_steps(job, database, full))


def _ask_to_confirm(database: str, full: bool) -> State[Any] | None:
    """Publish the preview, pause for an answer in the Prefect UI; a refusal ends the run."""
    preview = _preview(database, full)
    if isinstance(preview, State):
        return preview
    shown = preview_markdown(preview)
    create_markdown_artifact(
        shown,
        key=artifact_key(SYNC_FROM_PAYROLL.name, "preview", database),
        description=f"What a sync of {database} would change",
    )
    # The preview is also the question's description: the Prefect UI shows it above the
    # answer, where the decision is made (the artifact alone sits on another tab).
    question = SyncConfirmation.with_initial_data(description=shown)
    try:
        reply = pause_flow_run(wait_for_input=question, timeout=confirm_timeout_seconds())
    except FlowPauseTimeout:
        reply = None
    if reply is not None and reply.answer == YES:
        return None
    log(database, messages.SYNC_CANCELLED)
    return Cancelled(message=messages.SYNC_CANCELLED)


def preview_markdown(preview: JobResult) -> str:
    """The preview as the Prefect UI shows it before asking to confirm."""
    lines = [f"# Preview: sync of {literal(preview.database)}", "", "Nothing has changed yet.", ""]
    lines += ["| Step | Would change |", "|---|---|"]
    for step in preview.steps:
        lines.append(f"| {literal(step.name)} | {literal(step.shown())} |")
        lines += [
            f"| | {literal(f'{kind}: ' + ', '.join(codes))} |" for kind, codes in step.samples
        ]
    lines += ["", f'Answer "{YES}" to apply these changes.']
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    sync_from_payroll(database=sys.argv[1], full="--full" in sys.argv[2:])

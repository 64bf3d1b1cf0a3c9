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
from core.lookups import LOOKUPS, PAY_FREQUENCY
from ess.store.log import ERROR, INFO, WARNING, write_log
from jobs.lease import SYNC_FROM_PAYROLL, JobAlreadyRunning, live_job
from jobs.reporting import JobReport, artifact_key
from jobs.retries import confirm_timeout_seconds, step_options
from jobs.runner import Say, run_as_job
from payroll.connect import ensure_registered
from tasks.cache import clear_cache
from tasks.employees import import_employees
from tasks.lookups.importer import import_lookup, import_lookups

YES = "Yes, sync changes"
NO = "No, do not sync"
STEP_COUNT = 4  # cache, lookups, pay frequency, employees


class SyncConfirmation(RunInput):
    """The question a confirmed run asks in the Prefect UI after showing its preview."""

    answer: Literal["Yes, sync changes", "No, do not sync"] = "No, do not sync"


@flow(name="sync-from-payroll")
def sync_from_payroll(
    database: str,
    full: bool = False,
    preview: bool = False,
    confirm: bool = False,
    job_id: SkipJsonSchema[int | None] = None,
) -> dict[str, Any] | State[Any]:
    """Bring one payroll database's changes into ESS, step by step, as the Web API Log shows.

    Args:
        database: the payroll database's registered name, e.g. acme_payroll.
        full: read every employee rather than payroll's change feed (the repair path).
        preview: compute what each step would change and write nothing but one log row.
        confirm: show the preview, wait for "Yes, sync changes" in the Prefect UI, then sync.
        job_id: leave empty; set by `ess-sync run`, which takes the job before Prefect starts.
    """
    ensure_registered(database)
    if preview:
        return _preview(database, full)
    if confirm:
        refusal = _ask_to_confirm(database, full)
        if refusal is not None:
            return refusal

    def steps(job: int, say: Say, summary: dict[str, Any], report: JobReport) -> None:
        summary["step"] = "Clearing cache"
        say(messages.CLEARING_CACHE)
        say(messages.cache_cleared(clear_cache.with_options(**step_options())(database)))
        report.step_done()
        _import_steps(database, full, job, say, summary, report)

    return run_as_job(database, SYNC_FROM_PAYROLL, job_id, steps, STEP_COUNT)


def _import_steps(
    database: str,
    full: bool,
    job_id: int | None,
    say: Say,
    summary: dict[str, Any],
    report: JobReport | None,
) -> None:
    """The import steps; without a job id they only preview (compute, write nothing)."""
    preview = job_id is None
    options = step_options()
    say(messages.IMPORTING_LOOKUPS, INFO)
    summary["step"] = "Importing lookups"
    # One task for the eleven lookups: one payroll connection, each lookup still its own
    # transaction and its own counts row (written by the task as each one commits).
    all_counts = import_lookups.with_options(**options)(LOOKUPS, database, job_id, preview)
    for spec, counts in zip(LOOKUPS, all_counts, strict=True):
        summary[spec.name] = counts.__dict__
        if preview:
            say(messages.imported(spec.name, counts), INFO)
    if report:
        report.step_done()

    summary["step"] = "Importing pay frequency"
    say(messages.IMPORTING_PAY_FREQUENCY, INFO)
    counts = import_lookup.with_options(**options)(PAY_FREQUENCY, database, job_id, preview)
    summary[PAY_FREQUENCY.name] = counts.__dict__
    say(messages.imported(PAY_FREQUENCY.name, counts), INFO)
    if report:
        report.step_done()

    summary["step"] = "Importing employees"
    say(messages.IMPORTING_EMPLOYEES, INFO)
    result = import_employees.with_options(**options)(database, job_id, full, preview)
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
        "samples": result.counts.samples,
    }
    if report:
        report.step_done()


def _preview(database: str, full: bool) -> dict[str, Any] | State[Any]:
    """What a sync would change, written nowhere but one log row."""
    running = live_job(database)
    if running is not None:
        return Cancelled(message=str(JobAlreadyRunning(running)))
    lines: list[str] = []
    summary: dict[str, Any] = {}

    def collect(message: str, level: str = INFO) -> None:
        lines.append(message)

    _import_steps(database, full, None, collect, summary, None)
    summary.pop("step", None)
    write_log(database, messages.PREVIEW_ONLY)
    return {"database": database, "status": "preview", "lines": lines, "steps": summary}


def _ask_to_confirm(database: str, full: bool) -> State[Any] | None:
    """Publish the preview, pause for an answer in the Prefect UI; a refusal ends the run."""
    preview = _preview(database, full)
    if isinstance(preview, State):
        return preview
    create_markdown_artifact(
        preview_markdown(database, preview),
        key=artifact_key(SYNC_FROM_PAYROLL, "preview", database),
        description=f"What a sync of {database} would change",
    )
    try:
        reply = pause_flow_run(wait_for_input=SyncConfirmation, timeout=confirm_timeout_seconds())
    except FlowPauseTimeout:
        reply = None
    if reply is not None and reply.answer == YES:
        return None
    write_log(database, messages.SYNC_CANCELLED)
    return Cancelled(message=messages.SYNC_CANCELLED)


def preview_markdown(database: str, preview: dict[str, Any]) -> str:
    """The preview as the Prefect UI shows it before asking to confirm."""
    lines = [f"# Preview: sync of {database}", "", "Nothing has changed yet.", "",
             "| Step | Would change |", "|---|---|"]  # fmt: skip
    for step, counts in preview["steps"].items():
        if isinstance(counts, dict):
            shown = ", ".join(f"{n} {k}" for k, n in counts.items() if isinstance(n, int))
            lines.append(f"| {step} | {shown} |")
            for kind, codes in (counts.get("samples") or {}).items():
                lines.append(f"| | {kind}: {', '.join(codes)} |")
    lines += ["", f'Answer "{YES}" to apply these changes.']
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    sync_from_payroll(database=sys.argv[1], full="--full" in sys.argv[2:])

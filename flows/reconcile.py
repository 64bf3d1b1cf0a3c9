"""Reconcile: does ESS match payroll for one database, and where not? Read-only on both sides."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from prefect import flow
from prefect.states import State
from pydantic.json_schema import SkipJsonSchema

from core import messages
from core.results import JobResult
from core.steps import RECONCILING_EMPLOYEES, RECONCILING_LEAVE_BALANCES, RECONCILING_LOOKUPS
from flows.runs import (
    LOCAL_RESULT_STORAGE,
    RESULTS_NOT_PERSISTED,
    refuse_unregistered,
    run_name,
    tag_with_database,
)
from jobs.kinds import RECONCILE
from jobs.runner import JobSteps, run_as_job
from payroll.connect import prefetch_payroll
from tasks.reconcile import (
    reconcile_employees,
    reconcile_leave_balances,
    reconcile_lookups,
    record,
    snapshot,
)
from tasks.reconcile_export import export_report


@flow(
    name="reconcile",
    flow_run_name=run_name("reconcile"),
    persist_result=RESULTS_NOT_PERSISTED,
    result_storage=LOCAL_RESULT_STORAGE,
)
def reconcile(
    database: str,
    output: str | None = None,
    job_id: SkipJsonSchema[int | None] = None,
) -> JobResult | State[Any]:
    """Compare every lookup, employee and leave balance of payroll with ESS; change nothing.

    Args:
        database: the payroll database's registered name, e.g. acme_payroll.
        output: a .csv, .xlsx or .html file to write every difference to (on the machine
            that runs the flow).
        job_id: leave empty; set by `ess-sync reconcile`, which takes the job first.
    """
    refusal = refuse_unregistered(database)
    if refusal is not None:
        return refusal
    tag_with_database(database)

    def steps(job: JobSteps) -> None:
        prefetch_payroll(database)
        with ExitStack() as stack:
            with job.step(RECONCILING_LOOKUPS):
                # One snapshot of each side for every step: the tables agree with each other.
                snap = stack.enter_context(snapshot(database))
                for report in reconcile_lookups(snap):
                    job.record(report.table, report)
            with job.step(RECONCILING_EMPLOYEES):
                job.record("employee", reconcile_employees(snap))
            with job.step(RECONCILING_LEAVE_BALANCES):
                job.record("leave_balance", reconcile_leave_balances(snap))
            record(snap, job.id)
            if output:
                export_report(snap.spool, snap.summary(), output)
            job.say(messages.reconciled(snap.differences, len(snap.employees)))

    return run_as_job(RECONCILE, database, job_id, steps)


if __name__ == "__main__":
    import sys

    reconcile(database=sys.argv[1], output=sys.argv[2] if len(sys.argv) > 2 else None)

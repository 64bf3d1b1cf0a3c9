"""Sync balances for Leave Report: leave types and reasons, then every employee's balances."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.states import State
from pydantic.json_schema import SkipJsonSchema

from core import messages
from core.lookups import LEAVE_LOOKUPS
from core.results import JobResult
from core.steps import GETTING_LEAVE_LOOKUPS, RETRIEVING_LEAVE_BALANCES, UPDATING_LEAVE_LOOKUPS
from ess.store.log import WARNING
from flows.runs import (
    LOCAL_RESULT_STORAGE,
    RESULTS_NOT_PERSISTED,
    refuse_unregistered,
    run_name,
    tag_with_database,
)
from jobs.kinds import SYNC_LEAVE_BALANCES
from jobs.retries import step_options
from jobs.runner import JobSteps, run_as_job
from payroll.connect import prefetch_payroll
from tasks.leave_balances import import_leave_balances
from tasks.lookups.importer import read_lookups, write_lookups


@flow(
    name="sync-leave-balances",
    flow_run_name=run_name("leave"),
    persist_result=RESULTS_NOT_PERSISTED,
    result_storage=LOCAL_RESULT_STORAGE,
)
def sync_leave_balances(
    database: str, job_id: SkipJsonSchema[int | None] = None
) -> JobResult | State[Any]:
    """Refresh leave types, leave reasons and every employee's leave balances in ESS.

    Args:
        database: the payroll database's registered name, e.g. acme_payroll.
        job_id: leave empty; set by `ess-sync leave-balances`, which takes the job first.
    """
    refusal = refuse_unregistered(database)
    if refusal is not None:
        return refusal
    tag_with_database(database)
    options = step_options()

    def steps(job: JobSteps) -> None:
        prefetch_payroll(database)
        with job.step(GETTING_LEAVE_LOOKUPS):
            rows = read_lookups.with_options(**options)(LEAVE_LOOKUPS, database, as_steps=False)

        with job.step(UPDATING_LEAVE_LOOKUPS):
            write = write_lookups.with_options(**options)
            all_counts = write(LEAVE_LOOKUPS, database, rows, job.id, as_steps=False)
            for spec, counts in zip(LEAVE_LOOKUPS, all_counts, strict=True):
                job.record(spec.name, counts)

        with job.step(RETRIEVING_LEAVE_BALANCES):
            result = import_leave_balances.with_options(**options)(database)
            if result.unknown_types:
                job.say(messages.unknown_leave_types(result.unknown_types), WARNING)
            if result.invalid:
                job.say(messages.invalid_leave_balances(result.invalid), WARNING)
            job.say(
                messages.imported_leave_balances(
                    result.employees, result.changed, result.unchanged, result.read
                )
            )
            job.record("leave balances", result)

    return run_as_job(SYNC_LEAVE_BALANCES, database, job_id, steps)


if __name__ == "__main__":
    import sys

    sync_leave_balances(database=sys.argv[1])

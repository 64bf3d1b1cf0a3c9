"""Sync balances for Leave Report: leave types and reasons, then every employee's balances."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.states import State
from pydantic.json_schema import SkipJsonSchema

from core import messages
from core.lookups import LEAVE_LOOKUPS
from ess.store.log import WARNING
from jobs.lease import SYNC_LEAVE_BALANCES
from jobs.reporting import JobReport
from jobs.retries import step_options
from jobs.runner import Say, run_as_job
from payroll.connect import ensure_registered
from tasks.leave_balances import import_leave_balances
from tasks.lookups.importer import read_lookups, write_lookup


@flow(name="sync-leave-balances")
def sync_leave_balances(
    database: str, job_id: SkipJsonSchema[int | None] = None
) -> dict[str, Any] | State[Any]:
    """Refresh leave types, leave reasons and every employee's leave balances in ESS.

    Args:
        database: the payroll database's registered name, e.g. acme_payroll.
        job_id: leave empty; set by `ess-sync leave-balances`, which takes the job first.
    """
    ensure_registered(database)

    def steps(job: int, say: Say, summary: dict[str, Any], report: JobReport) -> None:
        options = step_options()
        summary["step"] = "Getting leave types and reasons"
        say(messages.START_GET_LEAVE_LOOKUPS)
        names = " and ".join(s.name for s in LEAVE_LOOKUPS)
        rows = read_lookups.with_options(**options)(LEAVE_LOOKUPS, database, names)
        say(messages.GOT_LEAVE_LOOKUPS)
        report.step_done()

        summary["step"] = "Updating leave types and reasons"
        say(messages.UPDATING_LEAVE_LOOKUPS)
        for spec in LEAVE_LOOKUPS:
            counts = write_lookup.with_options(**options)(spec, database, rows[spec.name], job)
            summary[spec.name] = counts.__dict__
        say(messages.UPDATED_LEAVE_LOOKUPS)
        report.step_done()

        summary["step"] = "Retrieving leave balances"
        say(messages.RETRIEVING_LEAVE_BALANCES)
        result = import_leave_balances.with_options(**options)(database)
        if result.unknown_types:
            say(messages.unknown_leave_types(result.unknown_types), WARNING)
        say(messages.imported_leave_balances(result.employees, result.changed, result.unchanged))
        summary["leave balances"] = {
            "employees": result.employees,
            "updated": result.changed,
            "unchanged": result.unchanged,
        }
        report.step_done()

    return run_as_job(database, SYNC_LEAVE_BALANCES, job_id, steps, 3)


if __name__ == "__main__":
    import sys

    sync_leave_balances(database=sys.argv[1])

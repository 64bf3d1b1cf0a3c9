"""The steps of each job as the Web API Log shows them: a name for failures, the row written
when the step starts, and for some steps the row written when it ends."""

from __future__ import annotations

from dataclasses import dataclass

from core import messages


@dataclass(frozen=True)
class Step:
    """One step of a job."""

    name: str
    """How a failure names it: `Job Failed: <name> failed: <reason>`."""
    message: str
    """The Web API Log row written as the step starts."""
    done: str | None = None
    """The row written when the step ends well, if it has one."""


CLEARING_CACHE = Step("Clearing cache", messages.CLEARING_CACHE)
IMPORTING_LOOKUPS = Step("Importing lookups", messages.IMPORTING_LOOKUPS)
IMPORTING_PAY_FREQUENCY = Step("Importing pay frequency", messages.IMPORTING_PAY_FREQUENCY)
IMPORTING_EMPLOYEES = Step("Importing employees", messages.IMPORTING_EMPLOYEES)
SYNC_FROM_PAYROLL = (
    CLEARING_CACHE,
    IMPORTING_LOOKUPS,
    IMPORTING_PAY_FREQUENCY,
    IMPORTING_EMPLOYEES,
)

GETTING_LEAVE_LOOKUPS = Step(
    "Getting leave types and reasons",
    messages.START_GET_LEAVE_LOOKUPS,
    done=messages.GOT_LEAVE_LOOKUPS,
)
UPDATING_LEAVE_LOOKUPS = Step(
    "Updating leave types and reasons",
    messages.UPDATING_LEAVE_LOOKUPS,
    done=messages.UPDATED_LEAVE_LOOKUPS,
)
RETRIEVING_LEAVE_BALANCES = Step("Retrieving leave balances", messages.RETRIEVING_LEAVE_BALANCES)
SYNC_LEAVE_BALANCES = (GETTING_LEAVE_LOOKUPS, UPDATING_LEAVE_LOOKUPS, RETRIEVING_LEAVE_BALANCES)

RECONCILING_LOOKUPS = Step("Reconciling lookups", messages.RECONCILING_LOOKUPS)
RECONCILING_EMPLOYEES = Step("Reconciling employees", messages.RECONCILING_EMPLOYEES)
RECONCILING_LEAVE_BALANCES = Step("Reconciling leave balances", messages.RECONCILING_LEAVE_BALANCES)
RECONCILE = (RECONCILING_LOOKUPS, RECONCILING_EMPLOYEES, RECONCILING_LEAVE_BALANCES)

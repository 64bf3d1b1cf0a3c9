"""The texts support staff read in the Web API Log. Tests hold them to the letter."""

from __future__ import annotations

from datetime import datetime

from core.changes import ChangeCounts
from core.employees import EmployeeCounts

JOB_STARTED = "Job Started."
JOB_COMPLETED = "Job Completed."
CLEARING_CACHE = "Clearing cache."
IMPORTING_LOOKUPS = (
    "Importing from lookups e.g. country, state, gender, super fund, cost accounts, "
    "job classification, etc."
)
IMPORTING_PAY_FREQUENCY = "Importing pay frequency."
IMPORTING_EMPLOYEES = "Importing employees."
PREVIEW_ONLY = "Preview only: nothing was changed."
ISSUES_SHOWN = 50
"""Issue rows logged one by one per sync; the rest are counted in one row."""


def job_failed(reason: str) -> str:
    """The last row of a job that failed."""
    return f"Job Failed: {reason}"


def imported(name: str, counts: ChangeCounts) -> str:
    """The counts row of one imported lookup."""
    return (
        f"Imported {name}: {counts.added} added, {counts.updated} updated, "
        f"{counts.deactivated} deactivated, {counts.unchanged} unchanged."
    )


def cache_cleared(entries: int) -> str:
    """The row after the cache was emptied."""
    return f"Cleared cache: {entries} {'entry' if entries == 1 else 'entries'} removed."


def duplicate_keys(name: str, keys: list[tuple[object, ...]]) -> str:
    """A warning row for lookup codes payroll holds twice."""
    shown = ", ".join("/".join(str(v) for v in k) for k in keys[:10])
    more = f" and {len(keys) - 10} more" if len(keys) > 10 else ""
    return (
        f"Skipped {len(keys)} duplicate {name} code(s) in payroll ({shown}{more}): "
        "codes differing only in case or trailing spaces are one code; the first was kept."
    )


def feed_gap(watermark: datetime, oldest: datetime | None) -> str:
    """The row of a sync whose change feed lost changes since the last sync: it reads everyone."""
    kept = _payroll_clock(oldest) if oldest is not None else "none"
    return (
        f"Change feed does not reach back to {_payroll_clock(watermark)} "
        f"(oldest change kept: {kept}); reading every employee."
    )


def no_watermark(database: str) -> str:
    """The row of a sync that finds employees in ESS but no record of the feed read."""
    return (
        f"ESS holds employees of {database} but no record of how far payroll's change feed "
        "was read (an ESS restored from a backup?); reading every employee."
    )


def feed_names_most(named: int, held: int) -> str:
    """The row of a sync whose change feed names so many employees that reading all is faster."""
    return (
        f"The change feed names {named:,} of {held:,} employees; reading every employee "
        "(faster than reading them by id)."
    )


def _payroll_clock(moment: datetime) -> str:
    # Payroll's own clock, as payroll stamps its feed: no timezone to claim.
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def job_not_started(database: str, started_at: datetime, run_id: str) -> str:
    """The row and answer for a request while another job holds the database."""
    return (
        f"Job Not Started: a sync of {database} is already running "
        f"(started {_when(started_at)}, run {run_id})."
    )


def job_lost_lease(database: str, taken_at: datetime | None) -> str:
    """The last row of a job that learned another job took its database."""
    when = _when(taken_at) if taken_at else "an unknown time"
    return f"Job Lost Its Lease: another job took {database} at {when}; nothing more was written."


def job_abandoned(last_heartbeat: datetime) -> str:
    """The row that ends a job whose process died."""
    return f"Job Abandoned: no heartbeat since {_when(last_heartbeat)}."


def abandoned_sessions_ended(count: int) -> str:
    """The row saying an abandoned job's open ESS sessions were ended (PostgreSQL)."""
    sessions = "session" if count == 1 else "sessions"
    return (
        f"Ended {count} ESS {sessions} the abandoned job left open: "
        "what it had not committed is rolled back."
    )


ABANDONED_SESSIONS_KEPT = (
    "Could not end the ESS sessions the abandoned job left open: they belong to a login "
    "ESS's may not end (that takes PostgreSQL's pg_signal_backend role, or a superuser for "
    "a superuser's). The new job may wait until they end."
)


def ess_busy(seconds: int) -> str:
    """The answer when ESS on SQLite stayed locked by another job's write too long."""
    return (
        f"Job Not Started: ESS is busy. Another job has been writing to it for over {seconds} "
        "seconds, and ESS on SQLite takes one write at a time. Try again when that job ends "
        "(`ess-sync status`), or keep ESS on PostgreSQL, where jobs of different payroll "
        "databases write side by side."
    )


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def imported_employees(counts: EmployeeCounts) -> str:
    """The counts row of the employees step."""
    return (
        f"Imported employees: {counts.added} added, {counts.updated} updated, "
        f"{counts.terminated} terminated, {counts.unchanged} unchanged, "
        f"{counts.rejected} rejected."
    )


def employees_removed(count: int) -> str:
    """A row for employees payroll no longer has."""
    return f"{count} employee(s) no longer in payroll were marked inactive."


def more_issues(count: int, database: str) -> str:
    """The row that stands for issues beyond the first ISSUES_SHOWN."""
    return f"... and {count} more employee issue(s): see `ess-sync rejects {database}`."


def retrying(step: str, attempt: int, attempts: int, cause: str) -> str:
    """The row before a step runs again after a transient fault."""
    return f"Retrying {step} (attempt {attempt} of {attempts}) after {cause}."


def job_timed_out(seconds: float) -> str:
    """The last row of a job that ran out of time."""
    return f"Job Timed Out after {int(seconds)} s."


START_GET_LEAVE_LOOKUPS = "Start get leave type and reasons from payroll."
GOT_LEAVE_LOOKUPS = "Successfully got leave type and reasons from payroll."
UPDATING_LEAVE_LOOKUPS = "Updating leave type and reasons to the database."
UPDATED_LEAVE_LOOKUPS = "Finished updating leave type and reasons to the database."
RETRIEVING_LEAVE_BALANCES = "Retrieving Leave Balances."
SYNC_CANCELLED = "Sync cancelled: nothing was changed."


def imported_leave_balances(employees: int, changed: int, unchanged: int, read: int) -> str:
    """The one counts row of the leave-balance step (never one per employee); `read`: the
    employees whose balances were read, when payroll's digests spared reading the rest."""
    counts = (
        f"Imported leave balances: {employees} employees, {changed} balances updated, "
        f"{unchanged} unchanged."
    )
    if read >= employees:
        return counts
    return (
        f"{counts} Read again: {read} employees whose balances changed in payroll since the "
        f"last sync; the other {employees - read} were not read."
    )


def invalid_leave_balances(invalid: list[tuple[int, str, str]], shown: int = 10) -> str:
    """A warning row for balances ESS cannot hold: the first few named, the rest counted."""
    named = "; ".join(f"employee {e} {code}: {why}" for e, code, why in invalid[:shown])
    more = f"; and {len(invalid) - shown} more" if len(invalid) > shown else ""
    return f"Skipped {len(invalid)} balances ESS cannot hold: {named}{more}."


def unknown_leave_types(counts: dict[str, int]) -> str:
    """A warning row for balances whose leave type payroll does not have."""
    shown = ", ".join(f"{code!r} ({n})" for code, n in sorted(counts.items())[:10])
    return f"Skipped balances of unknown leave types: {shown}."


def log_purged(rows: int, cutoff: datetime, dry_run: bool) -> str:
    """The row the retention job leaves."""
    verb = "Would remove" if dry_run else "Removed"
    return (
        f"{verb} {rows} Web API Log row(s) older than {_when(cutoff)} "
        "(entries are kept for one month)."
    )


RECONCILING_LOOKUPS = "Reconciling lookups."
RECONCILING_EMPLOYEES = "Reconciling employees."
RECONCILING_LEAVE_BALANCES = "Reconciling leave balances."


def nothing_to_repair(database: str, reconciliation_id: int | None) -> str:
    """The repair's one row when there is nothing to re-import."""
    if reconciliation_id is None:
        return (
            f"Nothing to repair: {database} has not been reconciled "
            f"(run `ess-sync reconcile {database}` first)."
        )
    return (
        f"Nothing to repair: reconciliation {reconciliation_id} of {database} "
        "found no employee different."
    )


def reconciled(differences: int, employees: int) -> str:
    """The reconcile job's closing row."""
    return f"Reconciled: {differences} differences in {employees} employees."


def repairing(employees: int, reconciliation_id: int) -> str:
    """The repair's row before it re-imports the employees a reconciliation found different."""
    return f"Repairing {employees} employees found different by reconciliation {reconciliation_id}."

"""Finding a payroll database's block by its registered name, once per job."""

from __future__ import annotations

from blocks.payroll_database import PayrollDatabase, block_name_for
from ess.store.registry import (
    RegisteredDatabase,
    UnknownDatabase,
    get_database,
    record_registration,
)
from jobs.context import current_job


def load_payroll(name: str) -> PayrollDatabase:
    """The block of a registered payroll database (load it inside the task that reads).

    Inside a job it is loaded once and shared by every step (a load is a Prefect API
    call), so each step reads through the connection the job started with.
    """
    get_database(name)
    job = current_job()
    if job is None:
        return _load(name)
    return job.once(("payroll block", name), lambda: _load(name))


def _load(name: str) -> PayrollDatabase:
    try:
        block: PayrollDatabase = PayrollDatabase.load(block_name_for(name))  # type: ignore[assignment]
    except ValueError:
        raise UnknownDatabase(
            f"Payroll database {name!r} is registered in ESS but its connection block "
            f"{block_name_for(name)!r} is missing from Prefect: register it again with "
            "`ess-sync databases add`."
        ) from None
    return block


def ensure_registered(name: str) -> RegisteredDatabase:
    """The database's ESS registration, made from its Prefect block if it was created in the UI."""
    try:
        return get_database(name)
    except UnknownDatabase:
        try:
            block: PayrollDatabase = PayrollDatabase.load(block_name_for(name))  # type: ignore[assignment]
        except ValueError:
            raise UnknownDatabase(
                f"No payroll database is registered as {name!r}: register it with "
                f"`ess-sync databases add`, or create a Payroll Database block named "
                f"{block_name_for(name)!r} in the Prefect UI."
            ) from None
    return record_registration(name, block.connection_kind, block.connection_display())

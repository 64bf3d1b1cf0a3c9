"""Finding a payroll database's block by its registered name, once per job."""

from __future__ import annotations

from blocks.payroll_database import PayrollDatabase, block_name_for
from ess.store.registry import UnknownDatabase, get_database, list_databases
from jobs.context import current_job


def load_payroll(name: str) -> PayrollDatabase:
    """The block of a registered payroll database (load it inside the task that reads).

    Inside a job it is loaded once and shared by every step (a load is a Prefect API
    call, and the registration check an ESS query), so each step reads through the
    connection the job started with.
    """
    job = current_job()
    if job is None:
        return _load(name)
    return job.once(_block_key(name), lambda: _load(name))


def prefetch_payroll(name: str) -> None:
    """Start loading the job's payroll block now, in a thread of its own (a job's first
    steps run meanwhile); the step that calls load_payroll then finds it loaded, or waits.

    A load reads the block, its secret decrypted, from the Prefect API: 50-60 ms of every
    job. A failure (an unknown database, the API unreachable) is raised in that step, and
    its retry loads again. Outside a job it does nothing.
    """
    job = current_job()
    if job is not None:
        job.prefetch(_block_key(name), lambda: _load(name))


def _block_key(name: str) -> tuple[str, str]:
    """What a job shares a payroll block under: load_payroll finds what prefetch_payroll began."""
    return ("payroll block", name)


def _load(name: str) -> PayrollDatabase:
    get_database(name)  # UnknownDatabase, in ESS's words, for a name never registered
    try:
        block: PayrollDatabase = PayrollDatabase.load(block_name_for(name))  # type: ignore[assignment]
    except ValueError:
        raise UnknownDatabase(
            f"Payroll database {name!r} is registered in ESS but its connection block "
            f"{block_name_for(name)!r} is missing from Prefect: register it again with "
            "`ess-sync databases add`."
        ) from None
    return block


def unregistered(name: str) -> str | None:
    """One sentence saying why a flow run cannot use this name; None when it is registered.

    A flow run never registers a database: a name typed in the Prefect UI with a typo
    (`demo-payroll` for `demo_payroll`) must not become a second database that imports
    everyone again. Registering is `ess-sync databases add`'s job alone.
    """
    try:
        get_database(name)
    except UnknownDatabase:
        known = ", ".join(d.name for d in list_databases()) or "none yet"
        return (
            f"Unknown payroll database {name!r}: the registered ones are {known}. "
            "Register it with ess-sync databases add."
        )
    return None

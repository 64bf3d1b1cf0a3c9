"""`ess-sync databases`: registering payroll databases by name."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from cli import render

databases_app = typer.Typer(help="Payroll databases ESS syncs from.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


@databases_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The name ESS will know it by, e.g. acme_payroll.")],
    url: Annotated[str | None, typer.Option(help="A SQLAlchemy URL.")] = None,
    odbc: Annotated[
        str | None, typer.Option(help="An ODBC connection string (SQL Server).")
    ] = None,
    query_timeout: Annotated[
        int, typer.Option(min=1, help="Seconds a payroll query may run before it is ended.")
    ] = 300,
    job_timeout: Annotated[
        int | None,
        typer.Option(min=1, help="Seconds a whole job may run (default ESS_JOB_TIMEOUT_SECONDS)."),
    ] = None,
) -> None:
    """Register a payroll database (or replace its connection); the secret goes to a Block."""
    from ess.store.registry import register_database

    try:
        registered = register_database(
            name,
            url=url,
            odbc=odbc,
            query_timeout_seconds=query_timeout,
            job_timeout_seconds=job_timeout,
        )
    except ValueError as exc:
        errors.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    console.print(
        f"Registered payroll database {registered.name} ({registered.connection_display}).",
        markup=False,
    )
    from cli.prefect_setup import deploy_database_if_served

    deploy_database_if_served(registered.name)


@databases_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """The registered payroll databases (never a password)."""
    from ess.plain import only_reading
    from ess.store.registry import list_databases

    only_reading()
    databases = list_databases()
    if as_json:
        rows = [
            {
                "name": d.name,
                "connection": d.connection_display,
                "kind": d.connection_kind,
                "last_sync_from_payroll": d.last_sync_from_payroll
                and d.last_sync_from_payroll.isoformat(),
            }
            for d in databases
        ]
        print(json.dumps(rows, indent=2))
        return
    console.print(render.databases_table(databases))


@databases_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="The payroll database's name.")],
    yes: Annotated[bool, typer.Option("--yes", help="Remove without asking first.")] = False,
) -> None:
    """Forget a payroll database: its ESS data, its block and its deployments (asks first)."""
    from ess.store.jobs import EssBusy, JobAlreadyRunning
    from ess.store.registry import UnknownDatabase, get_database
    from ess.store.removal import remove_database_data

    try:
        get_database(name)
    except UnknownDatabase as exc:
        errors.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    question = (
        f"Remove payroll database {name} and delete everything ESS holds from it (its "
        "employees, lookups, leave balances, held-back issues, cache, jobs and Web API Log), "
        "and delete its saved connection?"
    )
    if not yes:
        if not _interactive():
            errors.print(
                f"Not removed: removing {name} deletes its ESS data, so it asks first; "
                "run it in a terminal, or add --yes.",
                markup=False,
            )
            raise typer.Exit(2)
        if not typer.confirm(question, default=False):
            console.print(f"Nothing removed: {name} stays registered.", markup=False)
            raise typer.Exit(1)
    try:
        removed = remove_database_data(name)
    except (JobAlreadyRunning, EssBusy) as busy:
        errors.print(str(busy), markup=False, highlight=False)
        raise typer.Exit(3) from None
    employees = removed.rows.get("employee", 0)
    console.print(
        f"Removed payroll database {name}: {employees} employee(s) and "
        f"{removed.total - employees} other row(s) deleted from ESS.",
        markup=False,
    )
    _delete_connection(name)
    from cli.prefect_setup import remove_database_deployments_if_served

    remove_database_deployments_if_served(name)


def _delete_connection(name: str) -> None:
    """Delete the database's block (its secret) where `add` saved it; exit 1 saying what is left."""
    from blocks.payroll_database import PayrollDatabase, block_name_for
    from ess.store.registry import delete_connection

    block = f"{PayrollDatabase.get_block_type_slug()}/{block_name_for(name)}"
    try:
        deleted = delete_connection(name)
    except Exception as exc:  # ESS's side is done; the secret must not be forgotten silently
        errors.print(
            f"Error: Prefect did not delete {name}'s Payroll Database block {block} "
            f"({type(exc).__name__}), so its connection string is still saved there. Once the "
            f"Prefect server answers, run `prefect block delete {block}`"
            " and `ess-sync prefect deploy` (which removes the database's deployments).",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1) from None
    outcome = "deleted, with its connection string" if deleted else "none saved, nothing to delete"
    console.print(f"Payroll Database block {block}: {outcome}.", markup=False, highlight=False)


def _interactive() -> bool:
    """True when a person can answer the question (stdin is a terminal)."""
    return sys.stdin.isatty()

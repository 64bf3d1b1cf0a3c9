"""`ess-sync databases`: registering payroll databases by name."""

from __future__ import annotations

import json
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
    from ess.store.registry import list_databases

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
def remove(name: Annotated[str, typer.Argument(help="The payroll database's name.")]) -> None:
    """Forget a payroll database's registration; what it synced stays in ESS."""
    from ess.store.registry import UnknownDatabase, remove_database

    try:
        remove_database(name)
    except UnknownDatabase as exc:
        errors.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    console.print(f"Removed payroll database {name}.", markup=False)

"""`ess-sync support-bundle`: one zip with what a support case about a sync needs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.common import fail, require_database
from cli.render import data

console = Console()


def support_bundle(
    database: Annotated[str, typer.Argument(help="The payroll database's registered name.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The zip file to write, e.g. case-1234.zip.")
    ],
    run: Annotated[
        str | None,
        typer.Option(help="The job: an ESS job id or a Prefect flow-run id (default: the latest)."),
    ] = None,
) -> None:
    """Write a support bundle: a job's Web API Log, job history, rejects, versions, config."""
    from core.bundle import MEMBERS
    from support.bundle import UnknownRun, write_bundle

    require_database(database)
    output = output.expanduser()
    if not output.parent.is_dir():
        raise fail(f"Cannot write {output}: the folder {output.parent} does not exist.")
    try:
        contents = write_bundle(database, output, run)
    except UnknownRun as exc:
        raise fail(str(exc)) from None
    table = Table(title=data(f"Support bundle: {database}"), title_justify="left")
    table.add_column("File", no_wrap=True)
    table.add_column("Holds")
    holds = contents.holds()
    for name, text in MEMBERS.items():
        table.add_row(name, data(holds.get(name) or text))
    console.print(table)
    for note in contents.notes:
        console.print(f"Note: {note}", style="yellow", highlight=False, markup=False)
    console.print(
        f"Wrote the support bundle to {output.resolve()}",
        highlight=False,
        soft_wrap=True,
        markup=False,
    )

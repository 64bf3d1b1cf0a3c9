"""`ess-sync reconcile`: does ESS match payroll for one database, and where not?"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli.common import fail, json_default, require_database
from cli.render import data

console = Console()
errors = Console(stderr=True)
EXIT_DIFFERENT, EXIT_NOT_STARTED = 1, 3
SHOWN = 20  # differences printed at the terminal; the file holds every one


def reconcile(
    database: Annotated[str, typer.Argument(help="The payroll database's registered name.")],
    fields: Annotated[
        bool, typer.Option("--fields", help="Show per field how many rows differ, and which.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write every difference to FILE.xlsx, .csv or .html."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compare payroll with ESS (read-only); exit 0 when nothing differs, 1 when something does."""
    from ess.store.log import read_log
    from ess.store.reconciliations import last_reconciliation
    from jobs.kinds import RECONCILE
    from jobs.start import NOT_STARTED, start_job
    from tasks.reconcile_export import FORMATS

    require_database(database)
    if output is not None and output.suffix.lower() not in FORMATS:
        raise fail(f"The report is written as {', '.join(FORMATS)}: {output.name} is none.")
    target = str(output.resolve()) if output is not None else None
    outcome = start_job(RECONCILE, database, output=target)
    if outcome.status == NOT_STARTED:
        errors.print(outcome.message, highlight=False, markup=False)
        raise typer.Exit(EXIT_NOT_STARTED)
    found = last_reconciliation(database)
    if not outcome.ok or found is None or found.job_id != outcome.job_id:
        rows = read_log(database, job_id=outcome.job_id, limit=500)
        for row in rows:
            errors.print(data(row.message), highlight=False)
        raise typer.Exit(1)
    if as_json:
        shown = {"id": found.id, "job_id": found.job_id, "reconciled_at": found.reconciled_at}
        print(json.dumps({**shown, **found.summary}, default=json_default, indent=2))
    else:
        _print(database, found.summary, fields, target)
    raise typer.Exit(EXIT_DIFFERENT if found.differences else 0)


def _print(database: str, summary: dict[str, Any], fields: bool, target: str | None) -> None:
    table = Table(title=data(f"Reconciliation: {database}"), title_justify="left")
    headings = ("Table", "In payroll", "In ESS", "Only in payroll", "Only in ESS", "Differing")
    for heading in headings:
        table.add_column(heading, justify="left" if heading == "Table" else "right")
    for t in summary["tables"]:
        counts = (t["in payroll"], t["in ESS"], t["only in payroll"], t["only in ESS"])
        style = "yellow" if t["fields"] else None
        table.add_row(
            data(t["table"]), *(f"{n:,}" for n in counts), f"{t['differing']:,}", style=style
        )
        if fields:
            samples = summary["samples"].get(t["table"], {})
            for name, count in t["fields"].items():
                codes = ", ".join(samples.get(name, ()))
                table.add_row(data(f"  {name}"), "", "", "", "", f"{count:,}")
                table.add_row(data(f"    e.g. {codes}"), "", "", "", "", "", style="dim")
    console.print(table)
    if summary["shown"]:
        shown = Table(
            title="Differences (payroll values as data; secrets masked)", title_justify="left"
        )
        for heading in ("Table", "Code", "Field", "Payroll", "ESS"):
            shown.add_column(heading)
        for d in summary["shown"][:SHOWN]:
            shown.add_row(
                *(data(d[c]) for c in ("table", "code", "field", "payroll_value", "ess_value"))
            )
        console.print(shown)
    if summary["rejected"]:
        console.print(
            data(
                f"{len(summary['rejected'])} rejected employee row(s), listed apart "
                f"(`ess-sync rejects {database}`)."
            )
        )
    console.print(
        data(
            f"{summary['differences']} differences in {summary['employees']} employees."
            + (f" Every difference is in {target}." if target else "")
        )
    )

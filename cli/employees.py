"""`ess-sync rejects` and `ess-sync show employee`: what support staff read in a case."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli.common import fail, json_default, require_database
from cli.render import data

show_app = typer.Typer(help="Show what ESS holds.", no_args_is_help=True)
console = Console()


def rejects(
    database: Annotated[str, typer.Argument(help="The payroll database's registered name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Employees and fields held back from ESS, and why, until a later sync imports them."""
    from ess.store.reads import list_issues

    require_database(database)
    issues = list_issues(database)
    if as_json:
        print(json.dumps([i.__dict__ for i in issues], default=json_default, indent=2))
        return
    table = Table(title=data(f"Held back from ESS: {database}"), title_justify="left")
    for heading in ("Employee", "Payroll id", "Outcome", "Field", "Value", "Reason"):
        table.add_column(heading)
    for i in issues:
        table.add_row(
            data(i.employee_code),
            data(i.payroll_employee_id or ""),
            data(i.outcome),
            data(i.field),
            data(i.value),
            data(i.reason),
            style="bold red" if i.outcome == "rejected" else "yellow",
        )
    console.print(table if issues else data(f"Nothing is held back for {database}."))


@show_app.command("employee")
def show_employee(
    database: Annotated[str, typer.Argument(help="The payroll database's registered name.")],
    code: Annotated[str, typer.Argument(help="The employee code, e.g. E000123.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """What ESS holds for one employee (secrets masked) and who owns each field."""
    from ess.store.reads import employee_record

    require_database(database)
    found = employee_record(database, code)
    if found is None:
        raise fail(f"ESS holds no employee {code!r} from {database} (see `ess-sync rejects`).")
    fields, about = found
    if as_json:
        payload: dict[str, Any] = {
            **about,
            "fields": {f.field: {"value": f.value, "owner": f.owner} for f in fields},
        }
        print(json.dumps(payload, default=json_default, indent=2))
        return
    table = Table(title=data(f"Employee {code} ({database})"), title_justify="left")
    for heading in ("Field", "Value", "Owned by"):
        table.add_column(heading)
    for f in fields:
        table.add_row(data(f.field), data(f.value), data(f.owner))
    for key, value in about.items():
        table.add_row(data(key), data(value), "ESS", style="dim")
    console.print(table)

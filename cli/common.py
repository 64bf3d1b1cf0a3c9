"""What every command shares: printing errors people can act on, JSON of dates."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

errors = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error a person can act on and return the exit to raise."""
    errors.print(f"[bold red]Error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def require_database(database: str) -> None:
    """Exit 2 with the registered names when the database is unknown."""
    from ess.store.registry import UnknownDatabase, get_database

    try:
        get_database(database)
    except UnknownDatabase as exc:
        raise fail(str(exc)) from None


def json_default(value: Any) -> str:
    """JSON for dates, decimals and the like."""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)

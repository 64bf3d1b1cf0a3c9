"""`ess-sync notify`: who hears about a payroll database's failed sync, through Prefect."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.common import fail

notify_app = typer.Typer(
    help="Messages when a payroll database's sync fails (Prefect automations).",
    no_args_is_help=True,
)
console = Console()


@notify_app.callback()
def _group() -> None:
    # A callback keeps each command a subcommand, whatever their number.
    pass


@notify_app.command("add")
def add(
    webhook: Annotated[str | None, typer.Option(help="POST JSON {subject, body} here.")] = None,
    slack: Annotated[str | None, typer.Option(help="A Slack incoming-webhook URL.")] = None,
    teams: Annotated[str | None, typer.Option(help="A Microsoft Teams webhook URL.")] = None,
    email: Annotated[str | None, typer.Option(help="Email this address (needs --smtp).")] = None,
    smtp: Annotated[str | None, typer.Option(help="The SMTP server, HOST or HOST:PORT.")] = None,
    smtp_user: Annotated[str | None, typer.Option(help="Log in to the SMTP server as.")] = None,
    smtp_password_stdin: Annotated[
        bool, typer.Option(help="Read the SMTP password from standard input.")
    ] = False,
    after: Annotated[
        int, typer.Option(min=1, help="Send after this many failures of one deployment.")
    ] = 1,
    within_hours: Annotated[
        float | None,
        typer.Option(min=0.1, help="...counted within this many hours (default: 24 x --after)."),
    ] = None,
    on_success: Annotated[bool, typer.Option(help="Also send when a sync completes.")] = False,
    name: Annotated[
        str | None, typer.Option(help="Its name for `notify list/remove` (default: the kind).")
    ] = None,
) -> None:
    """Send a message when a database's sync ends Failed, TimedOut, Crashed or busy-Cancelled.

    One message per deployment each time it has failed --after times in a row (within the
    window: see docs/prefect-server.md), naming the database, the job's last Web API Log
    line and a link to the run. Never a password or connection string.
    """
    from datetime import timedelta

    targets = {"webhook": webhook, "slack": slack, "teams": teams, "email": email}
    given = {k: v for k, v in targets.items() if v}
    if len(given) != 1:
        raise fail("Give exactly one of --webhook, --slack, --teams or --email.")
    [(kind, address)] = given.items()
    if (kind == "email") != bool(smtp):
        raise fail("--email needs --smtp HOST[:PORT], and --smtp goes only with --email.")
    _require_server()
    from orchestration import notify

    password = sys.stdin.readline().rstrip("\r\n") if smtp_password_stdin else None
    host, port = _host_port(smtp) if smtp else (None, notify.DEFAULT_SMTP_PORT)
    target = notify.Target(kind, address, host, port, smtp_user, password)
    within = timedelta(hours=within_hours) if within_hours is not None else None
    try:
        added = notify.add_notification(
            name or kind, target, after=after, within=within, on_success=on_success
        )
    except (notify.NotificationExists, ValueError) as exc:
        raise fail(str(exc)) from None
    when = (
        "each failure"
        if added.after == 1
        else f"{added.after} failures within {added.within_hours} h"
    )
    console.print(
        f"Notification {added.name}: {added.kind} to {added.target}, after {when} of one "
        f"database's sync{' and on each success' if added.on_success else ''}.",
        markup=False,
        highlight=False,
    )


@notify_app.command("list")
def list_() -> None:
    """The notifications set up on the Prefect server (never a URL's token or a password)."""
    _require_server()
    from orchestration.notify import list_notifications

    found = list_notifications()
    if not found:
        console.print("No notification is set up: add one with `ess-sync notify add`.")
        return
    table = Table(title="Notifications")
    for column in ("Name", "Kind", "To", "After", "Within (h)", "On success", "Enabled"):
        table.add_column(column)
    for n in found:
        table.add_row(
            n.name,
            n.kind,
            n.target,
            str(n.after),
            "-" if n.after == 1 else f"{n.within_hours:g}",
            "yes" if n.on_success else "no",
            "yes" if n.enabled else "no",
        )
    console.print(table, markup=False)


@notify_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="The notification's name.")]) -> None:
    """Delete a notification: its automation and its block."""
    _require_server()
    from orchestration.notify import UnknownNotification, remove_notification

    try:
        remove_notification(name)
    except UnknownNotification as exc:
        raise fail(str(exc)) from None
    console.print(f"Notification {name}: removed.", markup=False, highlight=False)


def _require_server() -> None:
    from orchestration.server import NoPrefectServer, required_api_url

    try:
        required_api_url()
    except NoPrefectServer as exc:
        raise fail(str(exc)) from None


def _host_port(smtp: str) -> tuple[str, int]:
    host, _, port = smtp.rpartition(":") if ":" in smtp else (smtp, "", "")
    if not port:
        from blocks.email import DEFAULT_SMTP_PORT

        return smtp, DEFAULT_SMTP_PORT
    if not port.isdigit() or not host:
        raise fail(f"--smtp {smtp!r} is not HOST or HOST:PORT.")
    return host, int(port)

"""`ess-sync prefect`: readying a Prefect server to run ESS's deployments."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console

from cli.common import fail

prefect_app = typer.Typer(
    help="The Prefect server and workers that run ESS's deployments.", no_args_is_help=True
)
console = Console()


@prefect_app.callback()
def _group() -> None:
    # A callback keeps each command a subcommand, whatever their number.
    pass


@prefect_app.command("setup")
def setup(
    heartbeat_seconds: Annotated[
        int | None,
        typer.Option(
            min=30,
            help="How often flow runs send heartbeats (default: PREFECT_FLOWS_HEARTBEAT_FREQUENCY,"
            " else 180); a run silent for three of them is marked Crashed.",
        ),
    ] = None,
) -> None:
    """Register the Payroll Database block type, the ess-sync work pool, the zombie automation.

    Refuses (exit 2) a server other machines can reach that answers without authentication.
    """
    import httpx
    from rich.markup import escape

    from orchestration import setup as ps
    from orchestration.server import (
        NoPrefectServer,
        OpenPrefectServer,
        check_exposure,
        required_api_url,
    )

    try:
        url = required_api_url()
    except NoPrefectServer as exc:
        raise fail(str(exc)) from None
    every = heartbeat_seconds or ps.heartbeat_seconds()
    try:
        exposure = check_exposure(url)
        console.print(f"Prefect server: {url} ({exposure.value}).", highlight=False, markup=False)
        block = ps.register_block_type()
        pool = ps.ensure_work_pool()
        automation = ps.ensure_zombie_automation(every)
    except (OpenPrefectServer, ps.WrongWorkPool) as exc:
        raise fail(escape(str(exc))) from None
    except httpx.HTTPError as exc:
        if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code == 401:
            raise fail(
                f"The Prefect server at {escape(url)} refused this machine (401 Unauthorized): "
                "set PREFECT_API_AUTH_STRING to the server's PREFECT_SERVER_API_AUTH_STRING."
            ) from None
        raise fail(
            f"Cannot reach the Prefect server at {escape(url)} ({type(exc).__name__}): is "
            "`prefect server start` running there?"
        ) from None
    console.print(f"Block type Payroll Database: {block}.", highlight=False)
    console.print(f"Work pool {ps.WORK_POOL} ({ps.WORK_POOL_TYPE}): {pool}.", highlight=False)
    console.print(
        f"Automation {ps.ZOMBIE_AUTOMATION!r}: {automation}. A flow run silent for "
        f"{every * ps.MISSED_HEARTBEATS} s is marked Crashed, so every worker and `ess-sync run` "
        f"needs PREFECT_FLOWS_HEARTBEAT_FREQUENCY at most {every}.",
        highlight=False,
    )


@prefect_app.command("deploy")
def deploy() -> None:
    """Bring every registered database's deployments and schedules up to date with ESS.

    Idempotent: prints each deployment as created, updated, unchanged or removed (a database
    no longer registered). deployments/prefect.yaml's deployments are `prefect deploy`'s.
    """
    import httpx
    from rich.markup import escape

    from orchestration.server import NoPrefectServer, required_api_url

    try:
        url = required_api_url()
    except NoPrefectServer as exc:
        raise fail(str(exc)) from None
    from orchestration.deployments import NotSetUp, deploy_all

    try:
        changes = deploy_all()
    except NotSetUp as exc:
        raise fail(str(exc)) from None
    except httpx.HTTPError as exc:
        raise fail(
            f"The Prefect server at {escape(url)} did not take the deployments "
            f"({type(exc).__name__}): run `ess-sync prefect setup` there first."
        ) from None
    print_changes(changes)
    if not changes:
        console.print("No payroll database is registered: nothing to deploy.", highlight=False)


@prefect_app.command("release-slots")
def release_slots(
    every: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="Keep going, looking every EVERY seconds (ess-sync serve runs it with 15).",
        ),
    ] = None,
) -> None:
    """Release concurrency slots that leaked (a worker killed, a server restarted mid-run).

    A database's slot is released only when ESS holds no job on it and no run of it is
    starting; a run left Running whose ESS job died is marked Crashed. Prints what it did.
    """
    from rich.markup import escape

    from orchestration.server import NoPrefectServer, required_api_url

    try:
        url = required_api_url()
    except NoPrefectServer as exc:
        raise fail(str(exc)) from None
    from orchestration.slots import reconcile_forever, reconcile_slots

    def say(line: str) -> None:
        # One line per action, unwrapped: the loop's output is a log file.
        console.print(line, markup=False, highlight=False, soft_wrap=True)

    def say_when(line: str) -> None:
        say(f"{datetime.now().astimezone():%Y-%m-%d %H:%M:%S%z} {line}")

    if every is not None:
        say(f"Releasing leaked concurrency slots on {url} every {every:g} s.")
        try:
            reconcile_forever(every, say=say_when)
        except KeyboardInterrupt:
            return
        return
    try:
        done = reconcile_slots()
    except Exception as exc:
        raise fail(
            f"Could not reconcile concurrency slots on {escape(url)} ({type(exc).__name__})."
        ) from None
    for line in done:
        say(line)
    if not done:
        say("No leaked slot: every database's concurrency slots match ESS.")


def print_changes(changes: Iterable[Any]) -> None:
    """One line per deployment (or concurrency limit): its full name and what happened to it."""
    for change in changes:
        console.print(
            f"{change.what} {change.deployment}: {change.outcome}.", markup=False, highlight=False
        )


def deploy_database_if_served(database: str) -> None:
    """After `databases add` (or `schedule`): the database's deployments, if a server is set.

    In ephemeral mode there is nothing to deploy to: it says how to deploy later. A server
    that does not take them exits 1 (the registration itself stands).
    """
    _on_server(database, "deploy")


def remove_database_deployments_if_served(database: str) -> None:
    """After `databases remove`: delete the database's deployments, if a server is set."""
    _on_server(database, "remove")


def _on_server(database: str, action: str) -> None:
    from orchestration.server import configured_api_url

    if configured_api_url() is None:
        if action == "deploy":
            console.print(
                f"No Prefect server is configured: {database}'s deployments (and schedules) "
                "are made on one by `ess-sync prefect deploy` (docs/prefect-server.md).",
                markup=False,
            )
        return
    from orchestration import deployments

    try:
        if action == "deploy":
            changes = deployments.deploy_database(database)
        else:
            changes = deployments.remove_database_deployments(database)
    except deployments.NotSetUp as exc:
        # Not a failure of this command: the server is not ESS's yet.
        console.print(f"No deployment was made: {exc}", markup=False)
        return
    except Exception as exc:  # the ESS side is done; say what is left to do
        raise fail(
            f"The Prefect server did not take {database}'s deployments ({type(exc).__name__}: "
            f"{exc}); fix that, then run `ess-sync prefect deploy`.",
            code=1,
        ) from None
    print_changes(changes)


if __name__ == "__main__":
    prefect_app()

"""`ess-sync prefect`: readying a Prefect server to run ESS's deployments."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from cli.common import fail

prefect_app = typer.Typer(
    help="The Prefect server and workers that run ESS's deployments.", no_args_is_help=True
)
console = Console()


@prefect_app.callback()
def _group() -> None:
    # A callback keeps `setup` a subcommand even while it is the group's only command.
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


if __name__ == "__main__":
    prefect_app()

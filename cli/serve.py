"""`ess-sync serve`: the Prefect server, its worker and the page on this machine, one command."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from cli.common import fail

console = Console()


def serve(
    port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port of the Prefect server and its UI.")
    ] = 4200,
    ui_port: Annotated[
        int, typer.Option(min=1, max=65535, help="Port of the Settings > General page.")
    ] = 8080,
) -> None:
    """Run the whole system here until Ctrl-C: Prefect server, deployments, worker, page.

    The server keeps its database under ESS_DATA_DIR (or PREFECT_SERVER_DATABASE_CONNECTION_URL);
    while it runs, every other `ess-sync` command on this machine uses it.
    """
    from ess.settings import settings
    from orchestration.serve import ServeFailed, ServeOptions
    from orchestration.serve import serve as run_serve

    ui = _page_can_start()
    options = ServeOptions(settings().data_dir, port=port, ui_port=ui_port, ui=ui)
    try:
        code = run_serve(options, say=lambda line: console.print(line, markup=False))
    except ServeFailed as exc:
        raise fail(str(exc), code=1) from None
    raise typer.Exit(code)


def _page_can_start() -> bool:
    from web.settings import MIN_PASSWORD_LENGTH, UiNotConfigured, UiSettings

    try:
        UiSettings().checked_password()
    except (UiNotConfigured, ValueError):
        # Never a made-up password: the administrator chooses it.
        console.print(
            "The Settings > General page is not started: set ESS_UI_PASSWORD to a password of "
            f"at least {MIN_PASSWORD_LENGTH} characters and run `ess-sync serve` again.",
            markup=False,
        )
        return False
    return True

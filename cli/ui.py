"""`ess-sync ui`: serve the ESS "Settings > General" page to administrators."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import fail


def ui(
    host: Annotated[
        str, typer.Option(help="Address to listen on; keep 127.0.0.1 unless behind HTTPS.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    proxy_headers: Annotated[
        bool,
        typer.Option(
            "--proxy-headers",
            help=(
                "Behind a reverse proxy: take the client's address and scheme from "
                "X-Forwarded-For / X-Forwarded-Proto, from the proxies trusted below only."
            ),
        ),
    ] = False,
    forwarded_allow_ips: Annotated[
        str,
        typer.Option(
            help="Comma-separated addresses (or networks) of the trusted reverse proxies."
        ),
    ] = "127.0.0.1",
) -> None:
    """Serve Settings > General (Sync buttons, the Web API Log); needs ESS_UI_PASSWORD."""
    import uvicorn

    from web.app import create_app
    from web.settings import UiNotConfigured, UiSettings

    try:
        app = create_app(UiSettings())
    except UiNotConfigured as exc:
        raise fail(str(exc)) from None
    typer.echo(f"Settings > General on http://{host}:{port}/ (Ctrl-C to stop)")
    # Without --proxy-headers the forwarded headers are ignored whoever sends them: the
    # login limits count the TCP peer, and the cookie is Secure only if uvicorn saw HTTPS.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=proxy_headers,
        forwarded_allow_ips=forwarded_allow_ips,
    )


if __name__ == "__main__":
    typer.run(ui)

"""One Prefect server for the whole benchmark run, in a subprocess, its home in a temp dir."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestration.children import (
    free_port,
    prefect_command,
    start_child,
    stop_child,
    tail,
    wait_until_answers,
)

__all__ = ["free_port", "prefect_env", "prefect_server"]

STARTUP_SECONDS = 180


def prefect_env(
    home: Path, api_url: str | None = None, auth_string: str | None = None
) -> dict[str, str]:
    """The Prefect variables every process of the run gets (the client's auth string too)."""
    env = {
        "PREFECT_HOME": str(home),
        # This machine reaches no host but package registries; Prefect would phone home.
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    if api_url is not None:
        env["PREFECT_API_URL"] = api_url
    if auth_string is not None:
        env["PREFECT_API_AUTH_STRING"] = auth_string
    return env


@contextmanager
def prefect_server(
    home: Path, port: int, database_url: str | None = None, auth_string: str | None = None
) -> Iterator[str]:
    """`prefect server start` on 127.0.0.1:port until the block ends; yields its API URL.

    Its database is SQLite in `home` unless `database_url` (an async SQLAlchemy URL,
    `postgresql+asyncpg://...`) names another. With `auth_string` ('user:password') it
    demands Prefect's basic auth; clients then need `prefect_env(..., auth_string)`.
    """
    home.mkdir(parents=True, exist_ok=True)
    log = home / "server.log"
    api_url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, **prefect_env(home), "PREFECT_UI_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    env.pop("PREFECT_SERVER_API_AUTH_STRING", None)
    if auth_string is not None:
        env["PREFECT_SERVER_API_AUTH_STRING"] = auth_string
    if database_url is not None:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = database_url
    command = [*prefect_command(), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    server = start_child(command, env, log)
    try:
        failed = wait_until_answers(server, f"{api_url}/health", STARTUP_SECONDS)
        if failed is not None:
            raise RuntimeError(f"prefect server start {failed}:\n{tail(log)}")
        yield api_url
    finally:
        stop_child(server, seconds=20)

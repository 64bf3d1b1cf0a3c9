"""One Prefect server for the whole benchmark run, in a subprocess, its home in a temp dir."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STARTUP_SECONDS = 180


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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


def _prefect_command() -> list[str]:
    beside = Path(sys.executable).with_name("prefect")
    found = str(beside) if beside.exists() else shutil.which("prefect")
    if found is None:
        raise RuntimeError("the `prefect` command is not installed beside this Python")
    return [found]


def _tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


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
    command = [*_prefect_command(), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "ab") as output:
        server = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_healthy(server, api_url, log)
        yield api_url
    finally:
        _stop(server)


def _wait_healthy(server: subprocess.Popen[bytes], api_url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"prefect server start exited {server.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the Prefect server was not up after {STARTUP_SECONDS} s:\n{_tail(log)}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        # Its own session, started above: only the server and what it started.
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=20)

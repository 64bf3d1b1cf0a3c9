"""Child processes of `ess-sync serve` (and the benchmark): each in its own session, so
stopping one stops what it started too (`prefect server start` runs uvicorn and its services,
a worker runs each flow in a process of its own)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

STOP_SECONDS = 15


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether nothing listens on host:port now."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def prefect_command() -> list[str]:
    """The `prefect` command installed beside this Python."""
    beside = Path(sys.executable).with_name("prefect")
    found = str(beside) if beside.exists() else shutil.which("prefect")
    if found is None:
        raise RuntimeError("the `prefect` command is not installed beside this Python")
    return [found]


def start_child(
    command: Sequence[str],
    env: Mapping[str, str],
    log: Path | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start COMMAND in a session of its own; its output goes to LOG (appended) or ours."""
    output = None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        output = open(log, "ab")  # noqa: SIM115 - the child keeps its own copy once started
    try:
        return subprocess.Popen(
            list(command),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=None if output is None else subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        if output is not None:
            output.close()


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file ('' when there is none)."""
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def answers(url: str, timeout: float = 2) -> bool:
    """Whether an HTTP GET of URL gets any answer below 500 (a login redirect counts)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status) < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (urllib.error.URLError, OSError):
        return False


def wait_until_answers(
    child: subprocess.Popen[bytes],
    url: str,
    seconds: float,
    stopping: Callable[[], bool] = lambda: False,
) -> str | None:
    """Wait until URL answers; None when it does, else why not (exited, timed out, stopped)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if child.poll() is not None:
            return f"exited with code {child.returncode}"
        if stopping():
            return "stopped"
        if answers(url):
            return None
        time.sleep(0.5)
    return f"did not answer {url} within {seconds:.0f} s"


def stop_child(child: subprocess.Popen[bytes], seconds: float = STOP_SECONDS) -> None:
    """SIGTERM the child's session, wait up to SECONDS, then SIGKILL what is left of it."""
    stop_children([child], seconds)


def stop_children(
    children: Sequence[subprocess.Popen[bytes]], seconds: float = STOP_SECONDS
) -> None:
    """SIGTERM every child's session at once, wait up to SECONDS in all, SIGKILL the rest."""
    # The session (process group) id is the child's pid: start_child made it a leader.
    for child in children:
        _signal_group(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + seconds
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
    # Their own children may outlive them (a flow run under a worker): the groups go too.
    for child in children:
        _signal_group(child.pid, signal.SIGKILL)
        if child.poll() is None:
            child.wait(timeout=seconds)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)

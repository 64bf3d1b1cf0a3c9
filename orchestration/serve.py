"""`ess-sync serve`: the whole system on one machine, in the spirit of `airflow standalone`.

A persistent Prefect server (its database under ESS_DATA_DIR), `ess-sync prefect setup` and
`prefect deploy` against it, one process worker and the Settings > General page, each a child
in a session of its own; `ESS_DATA_DIR/prefect-server.json` tells every other `ess-sync`
command on the machine where the server is (orchestration/server.py), while serve runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from jobs.prefect_defaults import PREFECT_DEFAULTS
from orchestration.children import (
    port_is_free,
    prefect_command,
    start_child,
    stop_child,
    stop_children,
    tail,
    wait_until_answers,
)
from orchestration.server import local_server_file, local_server_url

# A first start on a busy machine migrates the server's database: allow for it.
SERVER_STARTUP_SECONDS = 180
UI_STARTUP_SECONDS = 60
STEP_SECONDS = 300
SLOT_SECONDS = 15
REPO = Path(__file__).resolve().parent.parent
PREFECT_YAML = REPO / "deployments" / "prefect.yaml"
ESS_SYNC = [sys.executable, "-m", "cli.main"]
SETUP, DEPLOY = "`ess-sync prefect setup`", "`ess-sync prefect deploy`"
RETENTION = "`prefect deploy` of deployments/prefect.yaml"
WORK_POOL = "ess-sync"  # orchestration/setup.py's; importing it would import Prefect here
# Prefect's settings of the server's own database (connection URL, password, pool, ...).
_SERVER_DATABASE = "PREFECT_SERVER_DATABASE_"


class ServeFailed(RuntimeError):
    """A part of the system did not start or stopped early; the message says which."""


@dataclass(frozen=True)
class ServeOptions:
    """Where serve listens and keeps its files."""

    data_dir: Path
    port: int = 4200
    ui_port: int = 8080
    ui: bool = True  # False when ESS_UI_PASSWORD is not usable

    @property
    def prefect_home(self) -> Path:
        """PREFECT_HOME of the server and the worker: the server's database and logs."""
        return self.data_dir / "prefect"

    @property
    def api_url(self) -> str:
        """The served Prefect API."""
        return f"http://127.0.0.1:{self.port}/api"


@dataclass
class _Children:
    """The running children by name, and whether a stop was asked for (SIGINT, SIGTERM)."""

    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self, name: str, command: list[str], env: Mapping[str, str], log: Path) -> None:
        self.logs[name] = log
        self.running[name] = start_child(command, env, log)

    def dead(self) -> str | None:
        for name, child in self.running.items():
            if child.poll() is not None:
                return name
        return None

    def stop_all(self) -> None:
        # All at once: one person waits for the slowest, not for the sum.
        stop_children(list(self.running.values()))


def serve(options: ServeOptions, say: Callable[[str], None] = print) -> int:
    """Run the whole system until SIGINT or SIGTERM; 0 after a clean stop, else ServeFailed."""
    children = _Children()
    _on_stop_signals(children.stop)
    running = local_server_url()
    if running is not None:
        raise ServeFailed(f"ess-sync serve is already running on this machine ({running}).")
    for port, what in ((options.port, "--port"), (options.ui_port, "--ui-port")):
        if (what == "--port" or options.ui) and not port_is_free(port):
            raise ServeFailed(f"Port {port} is in use: choose another with {what}.")
    env = client_env(options, os.environ)
    record = local_server_file()
    try:
        for phase in _phases(options, env):
            if children.stop.is_set():
                return 0
            phase(children)
        say(f"Prefect UI: http://127.0.0.1:{options.port}")
        if options.ui:
            say(f"Settings > General: http://127.0.0.1:{options.ui_port}")
        say(f"Logs in {options.prefect_home}. Press Ctrl-C to stop.")
        while not children.stop.wait(1):
            dead = children.dead()
            if dead is not None:
                raise ServeFailed(_died(dead, children))
        say("Stopping ...")
        return 0
    finally:
        children.stop_all()
        _remove_record(record)


def _phases(options: ServeOptions, env: Mapping[str, str]) -> list[Callable[[_Children], None]]:
    # In order; serve checks for Ctrl-C between them.
    record = local_server_file()
    prefect = prefect_command()
    worker = [*prefect, "worker", "start", "--pool", WORK_POOL, "--type", "process"]
    slots = [*ESS_SYNC, "prefect", "release-slots", "--every", str(SLOT_SECONDS)]
    home = options.prefect_home
    # The retention deployment is prefect.yaml's (the syncs are `ess-sync prefect deploy`'s).
    retention = [*prefect, "--no-prompt", "deploy", "--all", "--prefect-file", str(PREFECT_YAML)]
    phases: list[Callable[[_Children], None]] = [
        lambda children: _start_server(options, children),
        lambda children: _write_record(record, options.api_url),
        lambda children: _run_step(SETUP, [*ESS_SYNC, "prefect", "setup"], env, children.stop),
        lambda children: _run_step(DEPLOY, [*ESS_SYNC, "prefect", "deploy"], env, children.stop),
        lambda children: _run_step(RETENTION, retention, env, children.stop),
        lambda children: children.start("worker", worker, env, options.prefect_home / "worker.log"),
    ]
    if options.ui:
        phases.append(lambda children: _start_ui(options, env, children))
    # Last, so it does not slow the page's start: it gives back concurrency slots a killed
    # run or a restarted server leaked (nothing leaks before a run has started).
    phases.append(
        lambda children: children.start("slot reconciler", slots, env, home / "slots.log")
    )
    return phases


def _start_server(options: ServeOptions, children: _Children) -> None:
    home = options.prefect_home
    # The server's database holds every Payroll Database block: its owner's only.
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    home.chmod(0o700)
    command = [*prefect_command(), "server", "start", "--host", "127.0.0.1", "--port"]
    _start_answering(
        children,
        "Prefect server",
        [*command, str(options.port)],
        server_env(options, os.environ),
        home / "server.log",
        f"{options.api_url}/health",
        SERVER_STARTUP_SECONDS,
    )


def _start_ui(options: ServeOptions, env: Mapping[str, str], children: _Children) -> None:
    command = [sys.executable, "-m", "cli.main", "ui", "--port", str(options.ui_port)]
    _start_answering(
        children,
        "Settings > General page",
        command,
        env,
        options.prefect_home / "ui.log",
        f"http://127.0.0.1:{options.ui_port}/",
        UI_STARTUP_SECONDS,
    )


def _start_answering(
    children: _Children,
    name: str,
    command: list[str],
    env: Mapping[str, str],
    log: Path,
    url: str,
    seconds: float,
) -> None:
    """Start a long-running child and wait until URL answers; ServeFailed if it never does."""
    children.start(name, command, env, log)
    failed = wait_until_answers(children.running[name], url, seconds, children.stop.is_set)
    if failed is not None and failed != "stopped":
        raise ServeFailed(f"The {name} {failed}:\n{tail(log)}")


def server_env(options: ServeOptions, environ: Mapping[str, str]) -> dict[str, str]:
    """The Prefect server's environment: its database under PREFECT_HOME unless one is named.

    PREFECT_SERVER_DATABASE_CONNECTION_URL in ENVIRON (PostgreSQL: postgresql+asyncpg://...)
    is the server's database; without it, SQLite in PREFECT_HOME.
    """
    home = options.prefect_home
    env = {**PREFECT_DEFAULTS, **environ, "PREFECT_HOME": str(home)}
    env.pop("PREFECT_API_URL", None)
    env.setdefault(
        "PREFECT_SERVER_DATABASE_CONNECTION_URL", f"sqlite+aiosqlite:///{home / 'prefect.db'}"
    )
    # Notifications link to their run with Prefect's `ui_url` filter, which the server can
    # only fill in when it knows its own UI's address (it has no PREFECT_API_URL to infer it).
    env.setdefault("PREFECT_UI_URL", f"http://127.0.0.1:{options.port}")
    # A payroll officer's UI has no use for Prefect Cloud's upgrade adverts.
    env.setdefault("PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT", "false")
    return env


def client_env(options: ServeOptions, environ: Mapping[str, str]) -> dict[str, str]:
    """Every other child's environment: the served server's API, never its database.

    The worker hands its environment to every flow run; the Prefect database's connection
    string (a password, on PostgreSQL) is the server's alone.
    """
    env = {
        **PREFECT_DEFAULTS,
        **environ,
        "PREFECT_API_URL": options.api_url,
        "PREFECT_HOME": str(options.prefect_home),
    }
    for name in [n for n in env if n.startswith(_SERVER_DATABASE)]:
        del env[name]
    return env


def _run_step(name: str, command: list[str], env: Mapping[str, str], stop: threading.Event) -> None:
    # Its output is the person's to read: what was registered, created, deployed.
    # From the repo root: prefect.yaml's entrypoints are relative to it.
    child = start_child(command, env, cwd=REPO)
    deadline = time.monotonic() + STEP_SECONDS
    while child.poll() is None:
        if stop.is_set() or time.monotonic() > deadline:
            stop_child(child)
            if stop.is_set():
                return
            raise ServeFailed(f"{name} took over {STEP_SECONDS} s.")
        time.sleep(0.2)
    if child.returncode != 0:
        raise ServeFailed(f"{name} failed (exit code {child.returncode}).")


def _died(name: str, children: _Children) -> str:
    child = children.running[name]
    return (
        f"The {name} stopped (exit code {child.returncode}), so serve stops everything else. "
        f"Its log ends:\n{tail(children.logs[name])}"
    )


def _on_stop_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def _write_record(path: Path, api_url: str) -> None:
    # 0600 from creation: the file says where payroll connection strings can be read.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as output:
        json.dump({"api_url": api_url, "pid": os.getpid()}, output)
    os.replace(partial, path)


def _remove_record(path: Path) -> None:
    # Only our own: a second serve that was refused must not remove the first one's.
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass

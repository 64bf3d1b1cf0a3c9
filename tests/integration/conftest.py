"""A real Prefect server and process worker, each its own process, as an operator runs them.

Every subprocess gets an explicit environment pointing at this module's server: the pytest
process may also hold the session's in-process `prefect_api` harness, which these tests
use only as an example of a server that answers without authentication.

The server demands Prefect's basic auth (PREFECT_SERVER_API_AUTH_STRING) as
docs/prefect-server.md sets it up; every client, `prefect deploy` and the worker carry
PREFECT_API_AUTH_STRING, and the worker's flow-run processes inherit it.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import (
    _create_postgres_database,
    _drop_postgres_database,
    postgres_url,
    suite_problem,
)
from tests.support import wait_for as support_wait_for

REPO = Path(__file__).resolve().parents[2]
PREFECT_FILE = REPO / "deployments" / "prefect.yaml"
T = TypeVar("T")
# A flow run on the worker: a workspace process, then the flow's own process, then the sync.
RUN_TIMEOUT = 90
WORKER = ["prefect", "worker", "start"]


@dataclass
class Service:
    """A long-running subprocess (its own process group) writing to a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def tail(self, lines: int = 60) -> str:
        """The end of what it printed, for failure messages."""
        self.log_file.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return f"--- last lines of the {self.name}'s output ---\n" + "\n".join(text[-lines:])

    def stop(self) -> None:
        """SIGTERM its process group, SIGKILL whatever is left after 15 s; close its log."""
        # On SIGTERM a worker stops the flow runs it started (each in a session of its own,
        # out of reach of this group's signals).
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=wait)
                break
        self.log_file.close()


def start_service(name: str, args: list[str], env: dict[str, str], logs: Path) -> Service:
    """Start `python -m ARGS` in the repo, its output to logs/NAME.log."""
    log_path = logs / f"{name}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Service(name, process, log_path, log_file)


def run(
    args: list[str], env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python -m ARGS` in the repo to completion; its exit code is the caller's to check."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """Its output, failing the test with all of it if the command did not exit 0."""
    output = result.stdout + result.stderr
    command = " ".join(result.args[2:])
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{output}"
    return output


def wait_for(
    condition: Callable[[], T | None], timeout: float, what: str, log: Callable[[], str]
) -> T:
    """tests.support's wait_for with the servers' and workers' log always shown, polling
    every 0.25 s (each poll is a call to the Prefect API or ESS)."""
    return support_wait_for(condition, timeout, what, log, every=0.25)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def isolated_env(**settings: str) -> dict[str, str]:
    """This process's environment without its Prefect and ESS settings, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ESS_"))}
    # No telemetry from a test server: CI reaches no host but package registries.
    env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    env.update(settings)
    return env


def deployments_in_prefect_file() -> list[dict[str, Any]]:
    """The deployments deployments/prefect.yaml declares."""
    loaded = yaml.safe_load(PREFECT_FILE.read_text())
    return list(loaded["deployments"])


def full_name(deployment: dict[str, Any]) -> str:
    """flow-name/deployment-name, as Prefect names a deployment (flow names are kebab-case)."""
    function = deployment["entrypoint"].split(":")[-1]
    return f"{function.replace('_', '-')}/{deployment['name']}"


def entrypoint_exists(deployment: dict[str, Any]) -> bool:
    """Whether the deployment's flow file is in this checkout (yet)."""
    return (REPO / deployment["entrypoint"].split(":")[0]).is_file()


@dataclass
class PrefectWorld:
    """A Prefect server, its process worker and ESS on SQLite, driven as an operator would."""

    api_url: str
    env: dict[str, str]
    auth_string: str
    home: Path
    server: Service
    worker: Service | None = None
    setup_output: str = ""
    deployed: list[str] = field(default_factory=list)
    server_command: list[str] = field(default_factory=list)
    server_env: dict[str, str] = field(default_factory=dict)

    def api(self) -> AbstractContextManager[Any]:
        """In-process Prefect calls go to this server (not the session's harness) inside this."""
        from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

        return temporary_settings(
            {PREFECT_API_URL: self.api_url, PREFECT_API_AUTH_STRING: self.auth_string}
        )

    def restart_server(self, log_name: str) -> None:
        """Stop the server and start it again on the same port with the same database."""
        self.server.stop()
        self.server = start_service(log_name, self.server_command, self.server_env, self.home)
        wait_for(lambda: _healthy(self.server, self.api_url), 90, "the server", self.server.tail)

    def start_worker(self, log_name: str) -> None:
        """Start a process worker on the ess-sync pool (the world's worker from now on)."""
        self.worker = start_service(log_name, [*WORKER, "--pool", "ess-sync"], self.env, self.home)

    def logs(self) -> str:
        """The server's and worker's recent output, for failure messages."""
        services = [self.server] + ([self.worker] if self.worker else [])
        return "\n".join(s.tail() for s in services)


def run_to_the_end(world: PrefectWorld, name: str, parameters: dict[str, Any]) -> Any:
    """Trigger a deployment through the Prefect API and wait for its flow run to end."""
    from prefect.deployments import run_deployment

    with world.api():
        flow_run: Any = run_deployment(
            name=name, parameters=parameters, timeout=RUN_TIMEOUT, poll_interval=1
        )
    assert flow_run.state is not None and flow_run.state.is_final(), (
        f"{name} did not finish within {RUN_TIMEOUT} s (state {flow_run.state!r}).\n{world.logs()}"
    )
    return flow_run


def words(text: str) -> str:
    """The text with Rich's line wrapping undone."""
    return " ".join(text.split())


def ess_sync(*args: str) -> list[str]:
    """`ess-sync ARGS` as `python -m` arguments."""
    return ["cli.main", *args]


# One server for every test module here (package scope): starting one costs seconds of CI.
@pytest.fixture(scope="package")
def prefect_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectWorld]:
    """`prefect server start` (basic auth), `ess-sync prefect setup`, `prefect deploy`, a worker."""
    from ess.database import dispose_engines

    root = tmp_path_factory.mktemp("prefect_world")
    port = str(free_port())
    api_url = f"http://127.0.0.1:{port}/api"
    auth_string = f"ess-sync:{secrets.token_urlsafe(16)}"
    ess = {
        "ESS_DATABASE_URL": f"sqlite:///{root / 'ess.db'}",
        "ESS_DATA_DIR": str(root / "data"),
        # A third of the default: a test that waits out a dead job's lease (a leaked
        # concurrency slot) waits 30 s, not 90, for the same behaviour.
        "ESS_JOB_LEASE_SECONDS": "30",
    }
    # Every temporary file of the server, the worker and their flow runs lands here, and goes
    # with pytest's own: a worker stopped during a run left its workspace folder in /tmp.
    scratch = root / "tmp"
    scratch.mkdir()
    env = isolated_env(
        TMPDIR=str(scratch),
        PREFECT_HOME=str(root / "prefect-home"),
        PREFECT_API_URL=api_url,
        PREFECT_CLI_PROMPT="false",
        # A worker polls every 10 s by default: the runs below would mostly wait.
        PREFECT_WORKER_QUERY_SECONDS="1",
        PREFECT_API_AUTH_STRING=auth_string,
        **ess,
    )
    # The server gets the server's setting only: the client's would hide a missing one.
    server_env = {k: v for k, v in env.items() if k != "PREFECT_API_AUTH_STRING"}
    # The scheduler looks for deployments to schedule every 60 s by default: a schedule set
    # by `ess-sync schedule` would wait for it.
    server_env["PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS"] = "5"
    server_command = ["prefect", "server", "start", "--host", "127.0.0.1", "--port", port]
    server_env["PREFECT_SERVER_API_AUTH_STRING"] = auth_string
    # PostgreSQL, as a production server's should be, where the postgres suite runs: on SQLite
    # the server answers 503 while its file is locked, and the Prefect UI does not retry.
    prefect_database = None if suite_problem("postgres") else _create_postgres_database("world")
    if prefect_database is not None:
        url = sa.make_url(postgres_url(prefect_database)).set(drivername="postgresql+asyncpg")
        server_env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = url.render_as_string(False)
    server = start_service("server", server_command, server_env, root)
    world = PrefectWorld(api_url, env, auth_string, root, server)
    world.server_command, world.server_env = server_command, server_env
    with pytest.MonkeyPatch.context() as patch:
        for key, value in ess.items():
            patch.setenv(key, value)
        patch.delenv("ESS_CACHE_URL", raising=False)
        try:
            wait_for(lambda: _healthy(server, api_url), 90, f"{api_url}/health", server.tail)
            world.setup_output = ok(run(ess_sync("prefect", "setup"), env))
            world.start_worker("worker")
            world.deployed = _deploy(env)
            yield world
        finally:
            if world.worker is not None:
                world.worker.stop()
            # A test may have restarted it: the world's server is the one running now.
            world.server.stop()
            dispose_engines()
            if prefect_database is not None:
                _drop_postgres_database(prefect_database)


def _healthy(server: Service, api_url: str) -> bool:
    if server.process.poll() is not None:
        pytest.fail(f"The Prefect server exited with {server.process.returncode}.\n{server.tail()}")
    try:
        return httpx.get(f"{api_url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _deploy(env: dict[str, str]) -> list[str]:
    """Deploy prefect.yaml as the docs say; full names of the deployments made."""
    # While a flow is still being written, deploy the others by name: `--all` stops at the
    # first missing entrypoint.
    declared = deployments_in_prefect_file()
    present = [d for d in declared if entrypoint_exists(d)]
    command = ["prefect", "--no-prompt", "deploy", "--prefect-file", str(PREFECT_FILE)]
    if len(present) == len(declared):
        command.append("--all")
    else:
        for deployment in present:
            command += ["--name", full_name(deployment)]
    ok(run(command, env, timeout=120))
    return [full_name(d) for d in present]

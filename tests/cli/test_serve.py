"""`ess-sync serve` brings the whole system up, other commands find it without exporting
anything, and Ctrl-C leaves no process behind. One real server start for the whole file."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from generator.payroll import build_payroll
from orchestration.children import answers, free_port
from orchestration.server import LOCAL_SERVER_FILE, use_local_server

REPO = Path(__file__).resolve().parents[2]
SERVE = [sys.executable, "-m", "cli.main", "serve"]
UP_SECONDS = 180
STOP_SECONDS = 30


def _env(tmp_path: Path) -> dict[str, str]:
    # As a person runs it: no Prefect server exported, none of the settings the tests set.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ESS_"))}
    env.update(
        PREFECT_HOME=str(tmp_path / "client-prefect-home"),
        ESS_DATA_DIR=str(tmp_path / "data"),
        ESS_UI_PASSWORD="a long enough test password",
    )
    return env


def _ess_sync(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _words(text: str) -> str:
    # Rich wraps lines at the terminal's width.
    return " ".join(text.split())


def _api(api_url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{api_url}{path}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _processes_of(data_dir: Path) -> list[int]:
    """Pids of every process whose environment names this test's ESS_DATA_DIR."""
    mark = f"ESS_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if mark in environ.split(b"\0") and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def _wait_until_gone(data_dir: Path, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while (left := _processes_of(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left


def test_serve_runs_the_system_other_commands_use_it_and_ctrl_c_leaves_nothing(tmp_path):
    env = _env(tmp_path)
    data_dir = tmp_path / "data"
    payroll = tmp_path / "payroll.db"
    engine = sa.create_engine(f"sqlite:///{payroll}")
    build_payroll(engine, employees=30)
    engine.dispose()
    port, ui_port = free_port(), free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    output = tmp_path / "serve.out"
    with open(output, "wb") as out:
        serve = subprocess.Popen(
            [*SERVE, "--port", str(port), "--ui-port", str(ui_port)],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + UP_SECONDS
        while not (answers(f"http://127.0.0.1:{port}") and answers(f"http://127.0.0.1:{ui_port}")):
            assert serve.poll() is None, output.read_text()
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(1)
        record = data_dir / LOCAL_SERVER_FILE
        assert json.loads(record.read_text()) == {"api_url": api_url, "pid": serve.pid}
        assert stat.S_IMODE(record.stat().st_mode) == 0o600
        # The Prefect server's database holds every payroll block: its folder is private.
        assert stat.S_IMODE((data_dir / "prefect").stat().st_mode) == 0o700

        assert _api(api_url, "/deployments/name/web-api-log-retention/process-worker")
        # A notification's link to its run is built on the server from its UI's address.
        assert _api(api_url, "/admin/settings")["ui_url"] == f"http://127.0.0.1:{port}"
        added = _ess_sync(env, "databases", "add", "tiny_payroll", "--url", f"sqlite:///{payroll}")
        assert added.returncode == 0, added.stdout + added.stderr
        assert "Deployment sync-from-payroll/tiny_payroll: created." in added.stdout
        assert "Concurrency limit ess-sync-database-tiny_payroll: created." in added.stdout
        deployment = _api(api_url, "/deployments/name/sync-from-payroll/tiny_payroll")
        assert deployment["parameters"] == {"database": "tiny_payroll"}

        ran = _ess_sync(env, "run", "tiny_payroll")
        assert ran.returncode == 0, ran.stdout + ran.stderr
        runs = _api(
            api_url,
            "/flow_runs/filter",
            {"flow_runs": {"tags": {"all_": ["database:tiny_payroll"]}}},
        )
        assert [r["state_type"] for r in runs] == ["COMPLETED"]

        # The slot reconciler runs beside the worker and has looked at least once.
        slots_log = data_dir / "prefect" / "slots.log"
        assert "Releasing leaked concurrency slots" in slots_log.read_text(), slots_log
        # serve, the server, the worker, the reconciler, the page: the check below sees them.
        assert len(_processes_of(data_dir)) >= 5
        serve.send_signal(signal.SIGINT)
        assert serve.wait(timeout=STOP_SECONDS) == 0, output.read_text()
        assert not record.exists()
        assert _wait_until_gone(data_dir, 5) == []
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait(timeout=10)
        for pid in _processes_of(data_dir):
            with contextlib.suppress(OSError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)


def test_commands_use_a_running_serve_only_when_nothing_else_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("ESS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    record = tmp_path / LOCAL_SERVER_FILE
    served = "http://127.0.0.1:4200/api"

    record.write_text(json.dumps({"api_url": served, "pid": 2**22 + 1}))  # above pid_max
    use_local_server()
    assert "PREFECT_API_URL" not in os.environ

    record.write_text(json.dumps({"api_url": served, "pid": os.getpid()}))
    use_local_server()
    assert os.environ["PREFECT_API_URL"] == served

    monkeypatch.setenv("PREFECT_API_URL", "http://elsewhere:4200/api")
    use_local_server()
    assert os.environ["PREFECT_API_URL"] == "http://elsewhere:4200/api"

    record.write_text("not json")
    monkeypatch.delenv("PREFECT_API_URL")
    use_local_server()
    assert "PREFECT_API_URL" not in os.environ


def test_serve_refuses_a_busy_port_or_a_second_serve_before_starting_anything(tmp_path):
    env = _env(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        refused = _ess_sync(env, "serve", "--port", str(port), "--ui-port", str(free_port()))
    assert refused.returncode == 1
    assert f"Port {port} is in use: choose another with --port." in _words(refused.stderr)

    record = tmp_path / "data" / LOCAL_SERVER_FILE
    record.parent.mkdir(exist_ok=True)
    record.write_text(json.dumps({"api_url": "http://127.0.0.1:4999/api", "pid": os.getpid()}))
    second = _ess_sync(env, "serve", "--port", str(free_port()), "--ui-port", str(free_port()))
    assert second.returncode == 1
    assert "already running on this machine (http://127.0.0.1:4999/api)" in _words(second.stderr)
    assert record.exists()
    assert not (tmp_path / "data" / "prefect").exists()


def test_serve_without_a_page_password_says_how_to_get_one_and_invents_none(tmp_path):
    env = _env(tmp_path)
    del env["ESS_UI_PASSWORD"]
    with socket.socket() as busy:  # stops serve right after the sentence, before a server
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = _ess_sync(env, "serve", "--port", str(busy.getsockname()[1]))
    assert result.returncode == 1
    assert "The Settings > General page is not started: set ESS_UI_PASSWORD" in _words(
        result.stdout
    )
    assert "password:" not in result.stdout.lower()

"""The page's fixtures: ESS and payrolls on SQLite files, the page served by `ess-sync ui`.

One server for the whole web suite (session scope): starting Prefect-backed jobs is what
takes time, not the page. Browser tests (marker `browser`) need Debian's Chromium and the
playwright package; tests/conftest.py skips them with the reason when either is missing (or
fails the run when ESS_REQUIRE_SUITES names browser).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine

from tests.support import CHROMIUM, CHROMIUM_ARGS

PASSWORD = "correct horse battery staple"
SECRET_URL = "postgresql+psycopg://payroll:S3cret@127.0.0.1:5432/x"
# Names no other suite registers: a payroll's block lives on the worker's Prefect server,
# which every test on that worker shares, and a test registering "acme_payroll" there
# would point the page's database at a payroll these tests do not hold.
A, B, BROKEN, SECRET = "page_acme", "page_bravo", "page_broken", "page_secret"


@dataclass(frozen=True)
class Page:
    """The served page: its address and the payroll files behind its databases."""

    url: str
    payrolls: dict[str, Path]
    data_dir: Path

    def login(self, client: httpx.Client) -> str:
        """Log the client in; this session's CSRF token."""
        answer = client.post(
            f"{self.url}/login", data={"password": PASSWORD}, follow_redirects=True
        )
        assert answer.status_code == 200, answer.text
        marker = 'name="csrf-token" content="'
        return answer.text.split(marker, 1)[1].split('"', 1)[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _payroll(folder: Path, name: str, employees: int) -> Path:
    from generator import build_payroll

    path = folder / f"{name}.db"
    engine = create_engine(f"sqlite:///{path}")
    build_payroll(engine, employees=employees)
    engine.dispose()
    # Rollback journal, not WAL: the tests hold a payroll with BEGIN EXCLUSIVE, which WAL
    # readers would walk past.
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
    return path


@pytest.fixture(scope="session")
def served(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """ESS with four payroll databases registered, and `ess-sync ui` serving it."""
    from prefect.settings import PREFECT_API_URL

    from ess.database import dispose_engines
    from ess.store.registry import register_database

    root = tmp_path_factory.mktemp("web")
    env = {
        "ESS_DATA_DIR": str(root / "data"),
        "ESS_DATABASE_URL": f"sqlite:///{root / 'ess.db'}",
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    # For the page and the jobs it starts only: this fixture lasts the session, and a test
    # after it on this worker must not inherit 40 retries.
    server_only = {
        "ESS_UI_PASSWORD": PASSWORD,
        # The harness is a Prefect server, but there is no worker: start jobs as processes.
        "ESS_UI_RUNNER": "local",
        # A payroll held by the test answers "database is locked" every 5 s; keep retrying.
        "ESS_RETRIES": "40",
        "ESS_RETRY_DELAY_SECONDS": "0",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        patch.delenv("ESS_CACHE_URL", raising=False)
        payrolls = {A: _payroll(root, A, 300), B: _payroll(root, B, 300)}
        payrolls[BROKEN] = _payroll(root, BROKEN, 50)
        with sqlite3.connect(payrolls[BROKEN]) as conn:
            conn.execute("DROP TABLE leave_balance")
        for name, path in payrolls.items():
            register_database(name, url=f"sqlite:///{path}")
        register_database(SECRET, url=SECRET_URL)  # registering does not connect

        port = _free_port()
        log = (root / "ui.log").open("wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "cli.ui", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **server_only},
        )
        page = Page(f"http://127.0.0.1:{port}", payrolls, root / "data")
        try:
            _wait_until_up(page.url, server, root / "ui.log")
            yield page
            _wait_for_jobs_to_end([*payrolls, SECRET])
        finally:
            server.terminate()
            server.wait(timeout=30)
            log.close()
            dispose_engines()


@contextmanager
def serving(folder: Path, *options: str) -> Iterator[str]:
    """`ess-sync ui` with these options over an empty ESS (enough for the login); its URL."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "ESS_DATA_DIR": str(folder / "data"),
        "ESS_DATABASE_URL": f"sqlite:///{folder / 'ess.db'}",
        "ESS_UI_PASSWORD": PASSWORD,
        "ESS_UI_RUNNER": "local",
    }
    port = _free_port()
    with (folder / "ui.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "cli.ui", "--port", str(port), *options],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_up(url, server, folder / "ui.log")
            yield url
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_until_up(url: str, server: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"`ess-sync ui` exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/login", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"`ess-sync ui` did not answer within 60 s:\n{log.read_text()}")


def _wait_for_jobs_to_end(databases: list[str]) -> None:
    # Job processes outlive the page by design; let them finish before their files go.
    from ess.store.jobs import running_job

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and any(running_job(d) for d in databases):
        time.sleep(0.5)


@pytest.fixture(scope="module")
def browser(served: Page) -> Iterator[Any]:
    """Debian's headless Chromium, driven by Playwright (nothing downloaded).

    After `served`: Playwright runs an event loop in this thread, and Prefect's sync calls
    (saving a block) made inside one would return un-awaited coroutines. So it ends with
    its module: the tests that run next on this worker save blocks.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A plain HTTP client that does not follow redirects (so tests see them)."""
    with httpx.Client(timeout=120, follow_redirects=False) as http:
        yield http

"""A real PostgreSQL world for fault injection: ESS and payroll each in their own database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from ess.database import dispose_engines
from ess.store.registry import register_database
from generator import build_payroll
from tests.conftest import (
    _create_postgres_database,
    _drop_postgres_database,
    postgres_url,
    suite_problem,
)

REPO = Path(__file__).resolve().parents[2]


@dataclass
class World:
    """ESS and payroll on PostgreSQL, and how to drive them from outside."""

    ess_url: str
    payroll_url: str
    env: dict[str, str]

    def libpq(self, url: str) -> str:
        u = sa.make_url(url)
        return f"host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}"

    def connect(self, url: str, autocommit: bool = False) -> psycopg.Connection:
        return psycopg.connect(self.libpq(url), autocommit=autocommit)

    def cli(self, *args: str) -> subprocess.Popen[str]:
        """Start `ess-sync ARGS` as its own process, against this world."""
        return subprocess.Popen(
            [sys.executable, "-m", "cli.main", *args],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> str:
    """Wait for a process started by World.cli and return what it printed."""
    output, _ = process.communicate(timeout=timeout)
    return output


@pytest.fixture
def world(tmp_path, monkeypatch, prefect_api) -> Iterator[World]:
    problem = suite_problem("postgres")
    if problem:
        pytest.skip(f"postgres suite skipped: {problem}")
    from prefect.settings import PREFECT_API_URL

    ess_db = _create_postgres_database("ess_fault")
    payroll_db = _create_postgres_database("payroll_fault")
    ess_url, payroll_url = postgres_url(ess_db), postgres_url(payroll_db)
    settings = {
        "ESS_DATABASE_URL": ess_url,
        "ESS_DATA_DIR": str(tmp_path / "data"),
        "ESS_RETRY_DELAY_SECONDS": "0.2",
        "ESS_JOB_LEASE_SECONDS": "4",
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ESS_CACHE_URL", raising=False)
    env = {**os.environ, **settings, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    yield World(ess_url, payroll_url, env)
    dispose_engines()
    _drop_postgres_database(ess_db)
    _drop_postgres_database(payroll_db)


def build_and_register(
    world: World, name: str, employees: int, url: str | None = None, **options
) -> str:
    """Fill a payroll database with the generator and register it under `name`."""
    url = url or world.payroll_url
    engine = sa.create_engine(url)
    build_payroll(engine, employees=employees, leave_types_per_employee=1)
    engine.dispose()
    register_database(name, url=url, **options)
    return url

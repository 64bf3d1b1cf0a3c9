"""Shared fixtures: real SQLite files, a real PostgreSQL (a database per test), real ODBC.

A suite whose server or driver is missing is skipped with the reason, unless
ESS_REQUIRE_SUITES names it (CI sets postgres,odbc,redis,browser): then its absence fails the run.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from prefect.logging.configuration import ensure_logging_setup

from tests.support import browser_problem, payroll_schema_sql

POSTGRES_ADMIN_URL = os.environ.get(
    "ESS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("ESS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ODBC_DRIVER = os.environ.get("ESS_TEST_ODBC_DRIVER", "PostgreSQL Unicode")
REQUIRED = {s.strip() for s in os.environ.get("ESS_REQUIRE_SUITES", "").split(",") if s.strip()}
SUITES = ("postgres", "odbc", "redis", "browser")

# No telemetry from the test servers: this machine reaches no host but package registries.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# A data folder of the test run's own, set before anything imports the CLI: a developer's
# `ess-sync serve` (found through ~/.ess-sync/prefect-server.json) must never see test runs.
# Removed when the process ends: each test process (the controller and every worker) left one.
os.environ["ESS_DATA_DIR"] = tempfile.mkdtemp(prefix="ess-tests-")
atexit.register(shutil.rmtree, os.environ["ESS_DATA_DIR"], ignore_errors=True)


def _odbc_without_driver_logs(folder: Path) -> None:
    """Debian's /etc/odbcinst.ini ships psqlODBC with CommLog=1: every process that connected
    left a /tmp/psqlodbc_*.log behind, and a connection string cannot turn it off. The test
    run reads a copy of the machine's ODBC configuration with every driver's CommLog off
    (unixODBC reads it from ODBCSYSINI; the processes the tests start inherit it)."""
    machine = Path(os.environ.get("ODBCSYSINI", "/etc"))
    try:
        drivers = (machine / "odbcinst.ini").read_bytes()
        sources = (machine / "odbc.ini").read_bytes() if (machine / "odbc.ini").is_file() else b""
    except OSError:
        return  # unixODBC looks elsewhere, or may not be read: leave its configuration alone
    quiet = re.sub(rb"(?im)^([ \t]*CommLog[ \t]*=[ \t]*)[^\s;]*", rb"\g<1>0", drivers)
    (folder / "odbcinst.ini").write_bytes(quiet)
    (folder / "odbc.ini").write_bytes(sources)
    os.environ["ODBCSYSINI"] = str(folder)


_odbc_without_driver_logs(Path(os.environ["ESS_DATA_DIR"]))

# Prefect binds its console handler to the stderr of the moment it sets up logging: do it
# now, not inside a CliRunner invocation whose stderr is closed when the command returns.
ensure_logging_setup()

# Two shared cores: timing-based health checks would fail on load, not on a bug.
settings.register_profile("ess", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ess")


def _postgres_problem() -> str | None:
    try:
        engine = sa.create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:
        return (
            f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL.split('@')[-1]}: {type(exc).__name__}"
        )
    return None


def _odbc_problem() -> str | None:
    try:
        import pyodbc
    except ImportError as exc:
        return f"pyodbc cannot load unixODBC: {exc}"
    if ODBC_DRIVER not in pyodbc.drivers():
        return f"ODBC driver {ODBC_DRIVER!r} not installed (apt-get install odbc-postgresql)"
    return _postgres_problem()


def _redis_problem() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=3).ping()
    except Exception as exc:
        return f"Redis unreachable at {REDIS_URL}: {type(exc).__name__}"
    return None


_PROBLEMS: dict[str, str | None] = {}


def suite_problem(suite: str) -> str | None:
    """Why a suite cannot run here, or None."""
    if suite not in _PROBLEMS:
        check = {
            "postgres": _postgres_problem,
            "odbc": _odbc_problem,
            "redis": _redis_problem,
            "browser": browser_problem,
        }
        _PROBLEMS[suite] = check[suite]()
    return _PROBLEMS[suite]


# `make test` runs three workers on the two cores (pytest-xdist, --dist loadgroup): much of
# a test's time is spent waiting for a subprocess, a Prefect server or a browser, and a third
# worker fills it (the suite took 596 s against 756 s with two). The integration tests
# share one Prefect server and worker (a package-scoped fixture): keep them on one worker.
# The Redis tests share one Redis server's keys: two at once would clear each other's.
# The browser tests share one served ESS and one Chromium: two would only compete for cores.
_ONE_WORKER = {
    "tests/integration/": "prefect_world",
    "tests/ess/test_cache.py": "redis",
    "tests/web/test_page_in_browser.py": "browser",
}


def pytest_itemcollected(item: pytest.Item) -> None:
    # Marked as each test is collected: pytest-xdist reads the marks when collection ends.
    for folder, group in _ONE_WORKER.items():
        if folder in item.nodeid:
            item.add_marker(pytest.mark.xdist_group(group))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for suite in SUITES:
            if item.get_closest_marker(suite) is None:
                continue
            problem = suite_problem(suite)
            if problem is None:
                continue
            if suite in REQUIRED:
                raise pytest.UsageError(f"The {suite} suite is required here but {problem}.")
            item.add_marker(pytest.mark.skip(reason=f"{suite} suite skipped: {problem}"))


_skipped_required: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and any(f"{s} suite" in str(report.longrepr) for s in REQUIRED):
        _skipped_required.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped_required:
        print(f"\nRequired suites were skipped: {', '.join(_skipped_required)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One temporary Prefect server for every test that runs flows or blocks.

    Its database is PostgreSQL, as a production Prefect server's should be, wherever the
    postgres suite can run. On SQLite, twenty flow runs created at once get 503s while
    SQLite is locked, and Prefect's client backs off for up to a minute between retries:
    that is the test server's limit, not the sync's. Without PostgreSQL: Prefect's own
    SQLite test harness.
    """
    if suite_problem("postgres") is not None:
        from prefect.testing.utilities import prefect_test_harness

        with prefect_test_harness(server_startup_timeout=120):
            yield
        return
    yield from _prefect_on_postgres(tmp_path_factory.mktemp("prefect"))


def _prefect_on_postgres(home: Path) -> Iterator[None]:
    import prefect.context
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from bench.server import free_port, prefect_server

    database = _create_postgres_database("prefect_api")
    url = sa.make_url(postgres_url(database)).set(drivername="postgresql+asyncpg")
    try:
        with (
            prefect_server(home, free_port(), url.render_as_string(False)) as api_url,
            temporary_settings(updates={PREFECT_API_URL: api_url}),
            # Threads a test starts see the global settings, not this context's: as in
            # prefect_test_harness, make these the global ones too.
            prefect.context._temporary_global_settings_context(
                prefect.context.get_settings_context()
            ),
        ):
            yield
            _drain_prefect_workers()
    finally:
        _drop_postgres_database(database)


def _drain_prefect_workers() -> None:
    """Send buffered logs and events before the server stops, as prefect_test_harness does."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    with contextlib.suppress(RuntimeError):  # never started
        APILogWorker.instance().drain()
    EventsWorker.drain_all()


def _create_postgres_database(prefix: str, template: str | None = None) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    copying = f' TEMPLATE "{template}"' if template else ""
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"{copying}')
    admin.dispose()
    return name


def _drop_postgres_database(name: str) -> None:
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def postgres_url(database: str) -> str:
    """The SQLAlchemy URL of a database on the test PostgreSQL server."""
    return sa.make_url(POSTGRES_ADMIN_URL).set(database=database).render_as_string(False)


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; its name."""
    problem = suite_problem("postgres")
    if problem:
        pytest.skip(f"postgres suite skipped: {problem}")
    name = _create_postgres_database("ess_test")
    yield name
    _drop_postgres_database(name)


class MigratedEss:
    """An ESS database migrated once per test process, copied for each test that wants one.

    Running the migrations on each test's ESS cost 0.1 s on SQLite and 0.2-0.3 s on
    PostgreSQL, some 600 times a run. The copy is the schema the migrations made, in this
    same run; tests/ess/test_migrations.py runs them on empty databases (`empty_ess`).
    """

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._sqlite: Path | None = None
        self._postgres: str | None = None

    def sqlite(self, path: Path) -> None:
        """A migrated ESS in a new SQLite file at `path`."""
        if self._sqlite is None:
            self._sqlite = self._folder / "ess.db"
            self._migrate(f"sqlite:///{self._sqlite}")
        shutil.copy(self._sqlite, path)  # its owner-only mode too

    def postgres(self) -> str:
        """A migrated ESS in a new PostgreSQL database; its name."""
        if self._postgres is None:
            self._postgres = _create_postgres_database("ess_template")
            self._migrate(postgres_url(self._postgres))
        return _create_postgres_database("ess_test", template=self._postgres)

    @staticmethod
    def _migrate(url: str) -> None:
        from ess.database import create_ess_engine, upgrade

        engine = create_ess_engine(url)
        upgrade(engine)
        # No connection left open: SQLite folds its write-ahead log into the file, and
        # PostgreSQL copies a template only while nobody is connected to it.
        engine.dispose()

    def drop(self) -> None:
        if self._postgres is not None:
            _drop_postgres_database(self._postgres)


@pytest.fixture(scope="session")
def migrated_ess(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedEss]:
    templates = MigratedEss(tmp_path_factory.mktemp("ess-template"))
    yield templates
    templates.drop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ess(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    migrated_ess: MigratedEss,
) -> Iterator[str]:
    """ESS on a real SQLite file, then on a real PostgreSQL database; yields its URL.

    Its schema is migrated already, unless the test is marked `empty_ess`.
    """
    from ess.database import dispose_engines

    monkeypatch.setenv("ESS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ESS_CACHE_URL", raising=False)
    empty = request.node.get_closest_marker("empty_ess") is not None
    database = None
    if request.param == "sqlite":
        path = tmp_path / "ess.db"
        if not empty:
            migrated_ess.sqlite(path)
        url = f"sqlite:///{path}"
    else:
        database = _create_postgres_database("ess_test") if empty else migrated_ess.postgres()
        url = postgres_url(database)
    monkeypatch.setenv("ESS_DATABASE_URL", url)
    yield url
    dispose_engines()
    if database:
        _drop_postgres_database(database)


@pytest.fixture
def payroll_sqlite(tmp_path: Path) -> Iterator[str]:
    """An empty payroll schema in a SQLite file; its SQLAlchemy URL."""
    url = f"sqlite:///{tmp_path / f'payroll_{uuid.uuid4().hex[:6]}.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in payroll_schema_sql():
            conn.exec_driver_sql(statement)
    engine.dispose()
    yield url


@pytest.fixture
def payroll_postgres() -> Iterator[str]:
    """An empty payroll schema in its own PostgreSQL database; its SQLAlchemy URL."""
    problem = suite_problem("postgres")
    if problem:
        pytest.skip(f"postgres suite skipped: {problem}")
    name = _create_postgres_database("payroll_test")
    url = postgres_url(name)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in payroll_schema_sql():
            conn.exec_driver_sql(statement)
    engine.dispose()
    yield url
    _drop_postgres_database(name)

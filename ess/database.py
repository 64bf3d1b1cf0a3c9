"""Connecting to the ESS database, creating and upgrading its schema on first use."""

from __future__ import annotations

import ast
import functools
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ess.settings import settings

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Engine

# SQLAlchemy is imported where an engine is made, not here: ess/plain.py reads ESS without
# it, and `ess-sync status` and `log` may take 0.5 s in all, which importing it alone nears.

_MIGRATIONS = Path(__file__).parent / "migrations"
_engines: dict[str, Engine] = {}
_lock = threading.Lock()
# Any constant will do: it names the lock two processes upgrading one PostgreSQL take in turn.
_UPGRADE_LOCK_ID = 7_302_115
SQLITE_BUSY_SECONDS = 30
"""How long a write to ESS on SQLite waits for another's to end before it fails."""


def ess_engine(url: str | None = None) -> Engine:
    """The engine for the ESS database, its schema brought up to date on first use."""
    url = url or configured_url()
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = create_ess_engine(url)
            upgrade(engine)
            _engines[url] = engine
    return engine


_urls: dict[tuple[str | None, str | None], str] = {}


def configured_url() -> str:
    """The ESS database's URL, as the settings give it."""
    # Every Web API Log row asks for the engine: building Settings() each time cost
    # 30-40 ms a sync. The URL depends only on these two variables, so resolve it once each.
    key = (os.environ.get("ESS_DATABASE_URL"), os.environ.get("ESS_DATA_DIR"))
    url = _urls.get(key)
    if url is None:
        url = _urls[key] = settings().ess_url()
    return url


def create_ess_engine(url: str) -> Engine:
    """A new engine for ESS; row values never appear in its error messages."""
    from sqlalchemy import create_engine, event, make_url

    if url.startswith("sqlite"):
        path = make_url(url).database
        plain_file = path and path != ":memory:" and not path.startswith("file:")
        leases = f"{path}-leases" if plain_file else ":memory:"
        _private_file(path)
        _private_file(leases)
        engine = create_engine(
            url,
            hide_parameters=True,
            connect_args={"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False},
        )
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, leases))
        return engine
    if url.startswith("mssql+pyodbc"):
        # SQL Server through pyodbc: executemany (bulk inserts, updates) sent as one array
        # of parameters instead of a round trip a row.
        return create_engine(url, hide_parameters=True, pool_pre_ping=True, fast_executemany=True)
    engine = create_engine(url, hide_parameters=True, pool_pre_ping=True)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", _postgresql_session)
        event.listen(engine, "checkout", _name_session)
    return engine


SESSION_NAME = "ess-sync"
_session_name: ContextVar[str] = ContextVar("ess_session_name", default=SESSION_NAME)


def job_session_name(job_id: int) -> str:
    """The name (PostgreSQL's application_name) of every ESS session a job opens."""
    return f"{SESSION_NAME} job {job_id}"


@contextmanager
def sessions_named(name: str) -> Iterator[None]:
    """Name the ESS sessions the block (and the threads it starts in its context) opens.

    A job's sessions carry its name, so the job that takes over an abandoned job's database
    can end the sessions it left open (ess/store/jobs.py), and pg_stat_activity says whose
    each session is.
    """
    token = _session_name.set(name)
    try:
        yield
    finally:
        _session_name.reset(token)


def _name_session(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    # A pooled connection keeps the name its last user gave it: a round trip only on change.
    name = _session_name.get()
    if record.info.get("application_name") == name:
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("SELECT set_config('application_name', %s, false)", (name,))
    cursor.close()
    dbapi_connection.commit()
    record.info["application_name"] = name


def _private_file(path: str | None) -> None:
    """Create the ESS SQLite file readable by its owner only: it holds payroll data."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        return  # SQLite says what is wrong when it opens the file
    descriptor = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(descriptor)
    os.chmod(path, 0o600)  # also a file an older version made world-readable


def _postgresql_session(dbapi_connection: Any, _record: Any) -> None:
    # A job frozen inside a step (SIGSTOP, a hung VM) keeps its row locks; once it is past
    # twice its lease the server ends its transaction, so the job that took its database
    # over is never blocked for long. A healthy step is never idle in a transaction that long.
    idle = max(5, 2 * settings().job_lease_seconds)
    cursor = dbapi_connection.cursor()
    cursor.execute(
        "SELECT set_config('idle_in_transaction_session_timeout', %s, false)", (f"{idle}s",)
    )
    cursor.close()
    dbapi_connection.commit()


def _sqlite_pragmas(leases: str, dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the Web API Log be read while a step writes; busy_timeout makes writers queue.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
    # SQLite has one writer per file: a job's long write step would block its own heartbeat.
    # Heartbeats go to a file of their own beside ESS's (ess/store/jobs.py), never blocked.
    cursor.execute("ATTACH DATABASE ? AS leases", (leases,))
    cursor.execute("PRAGMA leases.journal_mode=WAL")
    # A beat is not worth a disk flush: under heavy I/O one waited past a 2 s lease. In WAL
    # mode NORMAL loses a commit only to a power failure, which ends the job's lease anyway.
    cursor.execute("PRAGMA leases.synchronous=NORMAL")
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS leases.job_lease "
        "(job_id INTEGER PRIMARY KEY, heartbeat_at DATETIME NOT NULL)"
    )
    cursor.close()


def alembic_config() -> Config:
    """Alembic's configuration for ESS's migrations."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


# `revision = "0006"`, `down_revision: str | None = "0005"`: how each migration names itself.
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+)$", re.MULTILINE)


def head_revision() -> str | None:
    """The newest migration's revision."""
    head = _head_from_files()
    if head is not None:
        return head
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _head_from_files() -> str | None:
    """The one revision no migration builds on, read from the files; None if unsure.

    Every command opens ESS, and importing alembic to ask it costs more than `ess-sync
    status` may spend in all. A merge's tuple of parents is followed; a file this cannot
    read plainly leaves the answer to alembic. tests/ess/test_migrations.py checks both agree.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    try:
        for path in (_MIGRATIONS / "versions").glob("*.py"):
            found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
            revision = ast.literal_eval(found["revision"])
            down = ast.literal_eval(found.get("down_revision", "None"))
            if not isinstance(revision, str):
                return None
            revisions.add(revision)
            parents.update([down] if isinstance(down, str) else down or ())
    except (OSError, KeyError, ValueError, SyntaxError, TypeError):
        return None
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def current_revision(engine: Engine) -> str | None:
    """The revision the ESS database is at."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _stamped_revision(engine: Engine) -> str | None:
    """What alembic_version holds when it holds one revision; None otherwise (or no table)."""
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except DBAPIError:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def upgrade(engine: Engine) -> bool:
    """Bring the ESS schema to the newest revision; True when a migration ran."""
    head = head_revision()
    # The usual case, an ESS already at head, is answered without importing alembic.
    if head is not None and _stamped_revision(engine) == head:
        return False
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    if current_revision(engine) == head:
        return False
    config = alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_UPGRADE_LOCK_ID})")
        if MigrationContext.configure(conn).get_current_revision() == head:
            return False
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    return True


def dispose_engines() -> None:
    """Close every pooled connection (tests drop their databases afterwards)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()

"""Scratch databases for one benchmark run (SQLite files or PostgreSQL databases), all dropped."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from types import TracebackType

import sqlalchemy as sa

DEFAULT_POSTGRES_URL = os.environ.get(
    "ESS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
ENGINES = ("sqlite", "postgresql")


class ScratchDatabases:
    """Creates empty databases on one engine and drops every one of them on exit."""

    def __init__(self, engine: str, workdir: Path, postgres_url: str = DEFAULT_POSTGRES_URL):
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        self.engine = engine
        self._workdir = workdir
        self._admin_url = sa.make_url(postgres_url)
        self._run = uuid.uuid4().hex[:8]
        self._created: list[str] = []

    def __enter__(self) -> ScratchDatabases:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.drop_all()

    def create(self, role: str) -> str:
        """A new empty database for `role` (e.g. payroll_200000); its SQLAlchemy URL."""
        name = f"bench_{self._run}_{role}"
        if self.engine == "sqlite":
            self._workdir.mkdir(parents=True, exist_ok=True)
            path = self._workdir / f"{name}.db"
            path.unlink(missing_ok=True)
            url = f"sqlite:///{path}"
        else:
            self._admin(f'CREATE DATABASE "{name}"')
            url = self._admin_url.set(database=name).render_as_string(hide_password=False)
        self._created.append(url)
        return url

    def drop(self, url: str) -> None:
        """Drop one database this object created."""
        if url not in self._created:
            raise ValueError("not a database of this benchmark run")
        parsed = sa.make_url(url)
        if self.engine == "sqlite":
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
        else:
            self._admin(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        self._created.remove(url)

    def drop_all(self) -> None:
        """Drop every database still here, newest first."""
        self.drop_all_but()

    def drop_all_but(self, *keep: str) -> None:
        """Drop every database still here except `keep`, newest first."""
        for url in reversed(list(self._created)):
            if url not in keep:
                self.drop(url)

    def _admin(self, statement: str) -> None:
        admin = sa.create_engine(self._admin_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(statement)
        finally:
            admin.dispose()


def postgres_problem(url: str = DEFAULT_POSTGRES_URL) -> str | None:
    """Why PostgreSQL cannot be used for the benchmark, or None."""
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except Exception as exc:
        return f"PostgreSQL unreachable at {url.split('@')[-1]}: {type(exc).__name__}"
    finally:
        engine.dispose()
    return None

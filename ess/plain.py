"""Reading ESS in plain SQL, through its driver, for what a person asks without syncing.

`ess-sync status` and `ess-sync log` may take 0.5 s in all (issue 16); importing SQLAlchemy
alone took 0.25-0.4 s of that, and its PostgreSQL dialect 0.1 s more. So a command that only
reads and prints says so (`only_reading`), and then, while SQLAlchemy is not imported, reads
an ESS on SQLite or PostgreSQL through sqlite3 or psycopg itself, once alembic_version says
its schema is at the newest migration. Every other process (a sync, which needs the engine
anyway; the page) reads through its engine's pool, and so does any case this module leaves
alone (SQL Server, an ESS not yet created or upgraded, a URL it does not read as SQLAlchemy
would): `ess_engine` creates and upgrades as it always does and reports its own errors. The
reads are written once, in SQL that SQLite, PostgreSQL and SQL Server all take.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from core.redact import match_whole_url
from ess.database import configured_url, ess_engine, head_revision


class Reader:
    """One connection to ESS, read with `?` parameters whatever the driver's own style."""

    def __init__(self, connection: Any, dialect: str) -> None:
        self._connection = connection
        self.dialect = dialect

    def rows(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of SQL, its `?` placeholders bound to PARAMETERS in order."""
        if self.dialect == "postgresql":
            # psycopg's placeholder. No query here holds a literal "?" or "%" (which psycopg
            # would read as one); values always go as parameters.
            sql = sql.replace("?", "%s")
        cursor = self._connection.cursor()
        try:
            cursor.execute(sql, tuple(parameters))
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def close(self) -> None:
        """Close the connection (or give a pooled one back to its pool)."""
        self._connection.close()

    def first(self, count: int) -> str:
        """The clause, after ORDER BY, that keeps the first COUNT rows."""
        if self.dialect == "mssql":
            return f"OFFSET 0 ROWS FETCH NEXT {int(count)} ROWS ONLY"
        return f"LIMIT {int(count)}"


_only_reading = False


def only_reading() -> None:
    """Say that this process only reads ESS and prints: it reads through the driver.

    A process that goes on to sync would open a connection here and its engine's later; and
    `ess-sync run` looks its database up before anything imports SQLAlchemy.
    """
    global _only_reading
    _only_reading = True


@contextmanager
def reading() -> Iterator[Reader]:
    """A connection to read ESS with, closed (or given back to its pool) afterwards."""
    url = configured_url()
    if _only_reading and "sqlalchemy" not in sys.modules:
        direct = _direct(url)
        if direct is not None:
            try:
                yield direct
            finally:
                direct.close()
            return
    engine = ess_engine(url)
    pooled = Reader(engine.raw_connection(), engine.dialect.name)
    try:
        yield pooled
    finally:
        pooled.close()


def utc(value: Any) -> datetime:
    """A time as ESS stores it (naive UTC; text on SQLite) made the zone-aware instant it is."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"not a time: {type(value).__name__}")
    return value.replace(tzinfo=UTC)


def utc_or_none(value: Any) -> datetime | None:
    """`utc` of a time that may be missing (NULL)."""
    return None if value is None else utc(value)


def _direct(url: str) -> Reader | None:
    """A driver's own connection to the ESS at URL, if it is at head; None to use the engine."""
    # The parts as SQLAlchemy reads them, so both ways of connecting reach the same server
    # as the same user; a URL it reads only in part is left to it.
    parts = match_whole_url(url)
    if parts is None:
        return None
    try:
        if parts["name"] == "sqlite":
            reader = _sqlite(parts)
        elif parts["name"] == "postgresql+psycopg":
            reader = _postgresql(parts)
        else:
            return None
    except Exception:  # the engine tries again, and says what is wrong
        return None
    if reader is None:
        return None
    try:
        at_head = reader.rows("SELECT version_num FROM alembic_version") == [(head_revision(),)]
    except Exception:  # no such table yet: the engine creates the schema
        at_head = False
    if not at_head:
        reader.close()
        return None
    return reader


def _sqlite(parts: re.Match[str]) -> Reader | None:
    path = parts["database"]
    # A plain file that exists; anything else (memory, a file: URI, options) is the engine's.
    if parts["query"] is not None or not path or path.startswith("file:") or path == ":memory:":
        return None
    if not os.path.isfile(path):
        return None
    import sqlite3

    # The engine's busy timeout (ess/database.py): a reader waits behind a writer, as there.
    return Reader(sqlite3.connect(os.path.abspath(path), timeout=30), "sqlite")


def postgresql_parameters(url: str) -> dict[str, Any] | None:
    """psycopg.connect's arguments for a postgresql+psycopg URL, as SQLAlchemy would give them;
    None for a URL SQLAlchemy reads its own way (several hosts, a repeated option)."""
    parts = match_whole_url(url)
    return None if parts is None else _parameters(parts)


def _parameters(parts: re.Match[str]) -> dict[str, Any] | None:
    if parts["name"] != "postgresql+psycopg":
        return None
    found = {
        "user": unquote(parts["username"] or ""),
        "password": unquote(parts["password"] or ""),
        "host": parts["ipv4host"] or parts["ipv6host"],
        "port": int(parts["port"]) if parts["port"] else None,
        "dbname": parts["database"],
    }
    # As SQLAlchemy's translate_connect_args: an empty part (or port 0) is left to libpq.
    parameters: dict[str, Any] = {name: value for name, value in found.items() if value}
    options = parse_qsl(parts["query"] or "")
    names = [name for name, _ in options]
    if "host" in names or len(set(names)) != len(names):
        return None
    parameters.update(options)
    return parameters


def _postgresql(parts: re.Match[str]) -> Reader | None:
    parameters = _parameters(parts)
    if parameters is None:
        return None
    import psycopg

    return Reader(psycopg.connect(**parameters, autocommit=True), "postgresql")

"""Read-only SQL for payroll, built without a connection so it can be checked as text."""

from __future__ import annotations

import re
from collections.abc import Sequence

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def _identifier(name: str) -> str:
    # Names come from our own specs; refusing anything else keeps the SQL injection-proof.
    if not _IDENTIFIER.match(name):
        raise ValueError(f"Not a plain SQL identifier: {name!r}")
    return name


def placeholder(paramstyle: str, index: int) -> str:
    """The DB-API placeholder for the parameter at `index` (0-based)."""
    if paramstyle == "qmark":
        return "?"
    if paramstyle in ("format", "pyformat"):
        return "%s"
    if paramstyle == "numeric":
        return f":{index + 1}"
    if paramstyle == "named":
        return f":p{index}"
    raise ValueError(f"Unsupported DB-API paramstyle {paramstyle!r}")


def select_all(table: str, columns: Sequence[str], order_by: Sequence[str] = ()) -> str:
    """SELECT every row of a table: the same text reads SQLite, PostgreSQL and SQL Server."""
    cols = ", ".join(_identifier(c) for c in columns)
    sql = f"SELECT {cols} FROM {_identifier(table)}"
    if order_by:
        sql += " ORDER BY " + ", ".join(_identifier(c) for c in order_by)
    return sql

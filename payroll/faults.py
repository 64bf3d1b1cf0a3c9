"""Telling transient faults (retry) from permanent ones (fail at once), in words people act on."""

from __future__ import annotations

import re
from typing import Any

# SQLSTATEs that mean "try again": lost or refused connection, deadlock, serialization
# failure, lock or query timeout (the lock may clear; the job's own limit bounds the tries).
# Others (missing table, bad login) will not fix themselves.
_TRANSIENT_SQLSTATES = {
    "08S01",
    "08001",
    "08003",
    "08004",
    "08006",
    "08007",
    "40001",
    "40P01",
    "55P03",
    "57014",
    "57P01",
    "57P02",
    "57P03",
    "HYT00",
    "HYT01",
    "53300",
}
_TRANSIENT_TEXT = re.compile(
    r"server closed the connection|connection (?:was )?(?:lost|reset|refused|closed)|"
    r"terminating connection|could not connect|database is locked|deadlock|"
    r"communication link failure|timeout expired|lock timeout",
    re.IGNORECASE,
)
# Connection-phase SQLSTATEs (08001) also cover faults no retry fixes: these words say so.
_PERMANENT_TEXT = re.compile(
    r"does not exist|password authentication failed|login failed|no pg_hba\.conf entry|"
    r"data source name not found|can't open lib|permission denied|invalid authorization",
    re.IGNORECASE,
)
_SQL_NOISE = re.compile(r"\s*(\[SQL:.*|\(Background on this error at:.*)$", re.DOTALL)


class PermanentFault(Exception):
    """A fault retrying cannot fix (bad configuration, missing table): the job fails at once."""


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE a driver attached to an error, if any."""
    orig: Any = getattr(exc, "orig", None) or exc
    for attr in ("sqlstate", "pgcode"):
        value = getattr(orig, attr, None)
        if isinstance(value, str) and value:
            return value
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    # pyodbc puts the SQLSTATE first: ('08S01', '[08S01] [unixODBC]...').
    if len(args) >= 2 and isinstance(args[0], str) and re.fullmatch(r"[0-9A-Z]{5}", args[0]):
        return args[0]
    return None


def is_transient(exc: BaseException) -> bool:
    """True when the same step may well succeed if run again."""
    if isinstance(exc, PermanentFault) or _PERMANENT_TEXT.search(str(exc)):
        return False
    state = sqlstate(exc)
    if state is not None:
        return state in _TRANSIENT_SQLSTATES
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    name = type(exc).__name__
    orig = getattr(exc, "orig", None)
    if name in ("OperationalError", "InterfaceError") or type(orig).__name__ in (
        "OperationalError",
        "InterfaceError",
    ):
        return bool(_TRANSIENT_TEXT.search(str(exc)))
    return False


def describe(exc: BaseException) -> str:
    """One line a person can act on: the driver's words without SQL, parameters or URLs."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc)
    text = _SQL_NOISE.sub("", text).strip()
    # pyodbc: "[HY000] [unixODBC][Driver]message (7) (SQLExecDirectW)" -> message
    text = re.sub(r"^\(['\"]?[0-9A-Z]{5}['\"]?,\s*['\"]?", "", text)
    text = re.sub(r"(\[[^\]]*\]\s*)+", "", text)
    text = re.sub(r"\s*(\(-?\d+\)\s*)?(\(SQL\w+\))?['\"]?\)?$", "", text)
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first or type(exc).__name__

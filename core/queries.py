"""Read-only SQL for payroll, built without a connection so it can be checked as text."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from core.plans import id_runs

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


def select_where_in(
    table: str, columns: Sequence[str], column: str, count: int, paramstyle: str
) -> str:
    """SELECT the rows whose `column` is one of `count` parameters."""
    marks = ", ".join(placeholder(paramstyle, i) for i in range(count))
    cols = ", ".join(_identifier(c) for c in columns)
    return f"SELECT {cols} FROM {_identifier(table)} WHERE {_identifier(column)} IN ({marks})"


def select_where_between(table: str, columns: Sequence[str], column: str, paramstyle: str) -> str:
    """SELECT the rows whose `column` lies in a key range (two parameters), in key order."""
    cols, key = ", ".join(_identifier(c) for c in columns), _identifier(column)
    low, high = placeholder(paramstyle, 0), placeholder(paramstyle, 1)
    return (
        f"SELECT {cols} FROM {_identifier(table)} WHERE {key} BETWEEN {low} AND {high} "
        f"ORDER BY {key}"
    )


def reads_by_id(
    table: str, columns: Sequence[str], key: str, ids: Sequence[int], paramstyle: str, batch: int
) -> Iterator[tuple[str, list[int], bool]]:
    """The reads of the rows of these sorted ids, in id order, as (SQL, parameters, whether
    it is a key range): dense runs as one key range (a walk of the key's index with two
    parameters, not thousands, its rows in key order), the rest as IN lists of up to `batch`
    ids (SQL Server takes at most 2,100 parameters; the rows in no order)."""
    for run in id_runs(ids):
        if isinstance(run, tuple):
            yield select_where_between(table, columns, key, paramstyle), list(run), True
            continue
        for start in range(0, len(run), batch):
            listed = run[start : start + batch]
            yield select_where_in(table, columns, key, len(listed), paramstyle), listed, False


def select_changed_since(paramstyle: str) -> str:
    """Payroll's change feed from a watermark: each change's id, its employee, and when."""
    return (
        "SELECT change_id, employee_id, changed_at FROM employee_changed "
        f"WHERE changed_at >= {placeholder(paramstyle, 0)}"
    )


def select_feed_outline(paramstyle: str, read: int) -> str:
    """How many employees the change feed names from a moment, and where it ends, counted by
    payroll's server: a pay review's 200,000 changes are not brought here to be counted.

    Parameters: with `read` (the number of (first, last) runs of change ids the last sync
    read) the time it read them to, each run's first and last id, then the moment; without,
    the moment alone. A change in a run counts only if stamped after that time, as
    core.feed.FeedReading decides one change at a time.
    """
    if read:
        runs = _in_runs(paramstyle, "change_id", 1, read)
        named = (
            f"COUNT(DISTINCT CASE WHEN changed_at > {placeholder(paramstyle, 0)} "
            f"OR NOT ({runs}) THEN employee_id END)"
        )
    else:
        named = "COUNT(DISTINCT employee_id)"
    return (
        f"SELECT {named}, MAX(changed_at) FROM employee_changed "
        f"WHERE changed_at >= {placeholder(paramstyle, 2 * read + 1 if read else 0)}"
    )


def select_change_runs_since(paramstyle: str) -> str:
    """The change feed's ids from a moment as (first, last) runs of consecutive ids, in order:
    what a sync keeps of the overlap (core.feed.as_ranges), worked out by payroll's server."""
    return (
        "SELECT MIN(change_id), MAX(change_id) FROM ("
        "SELECT change_id, change_id - ROW_NUMBER() OVER (ORDER BY change_id) AS run "
        f"FROM employee_changed WHERE changed_at >= {placeholder(paramstyle, 0)}"
        ") feed GROUP BY run ORDER BY MIN(change_id)"
    )


def select_change_span_since(paramstyle: str) -> str:
    """The first and last of the change feed's ids from a moment, and how many there are:
    one run of consecutive ids when the count fills the span (as a pay review's does)."""
    return (
        "SELECT MIN(change_id), MAX(change_id), COUNT(*) FROM employee_changed "
        f"WHERE changed_at >= {placeholder(paramstyle, 0)}"
    )


SELECT_FEED_END = "SELECT MAX(changed_at) FROM employee_changed"
"""Where payroll's change feed ends now (payroll's clock)."""

SELECT_FEED_START = "SELECT MIN(changed_at) FROM employee_changed"
"""The oldest change payroll still keeps in its feed (payroll's clock)."""


def select_feed_holds(paramstyle: str) -> str:
    """1 when payroll's change feed still keeps a change at or before a moment, else 0.

    The same answer as `MIN(changed_at) <= moment`, without reading every change: payroll
    indexes its feed by change_id, not by time, and MIN scans all of it, every sync, as the
    feed grows (payroll never trims it). EXISTS stops at the first change old enough, and a
    feed kept in the order payroll appended it has one at its very start.
    """
    return (
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM employee_changed "
        f"WHERE changed_at <= {placeholder(paramstyle, 0)}) THEN 1 ELSE 0 END"
    )


_CODE_KEY = "UPPER(LTRIM(RTRIM({})))"
"""core.employees.code_key in SQL: trimmed at both ends, without case. A code payroll holds
with a leading space ' e1' is E1 to ESS: trimmed at its end only, it was not found to share
E1's code, and the step failed on ESS's unique key instead of holding both back."""

SELECT_DUPLICATE_CODES = (
    "SELECT employee_id, employee_code FROM employee WHERE "
    f"{_CODE_KEY.format('employee_code')} IN ("
    f"SELECT {_CODE_KEY.format('employee_code')} FROM employee "
    f"GROUP BY {_CODE_KEY.format('employee_code')} HAVING COUNT(*) > 1)"
)
"""Every employee whose code another employee also holds (trimmed, without case)."""


def select_duplicates_of_changed(paramstyle: str, runs: int = 0) -> str:
    """Every employee holding the code of an employee in the change feed from a watermark.

    A sync of changes needs only these: one scan of payroll joined to the feed, not a
    grouping of every code (SELECT_DUPLICATE_CODES), which costs several times as much.

    Parameters: the moment; with `runs`, then each run's first and last change id. The
    runs are those of the changes the step read from that moment (FeedReading.change_runs):
    payroll indexes its feed by change id, not by time, so they find the changes through
    the index where the moment alone reads every change payroll ever kept.
    """
    where = f"c.changed_at >= {placeholder(paramstyle, 0)}"
    if runs:
        where += f" AND ({_in_runs(paramstyle, 'c.change_id', 1, runs)})"
    return (
        "SELECT employee_id, employee_code FROM employee WHERE "
        f"{_CODE_KEY.format('employee_code')} IN ("
        f"SELECT {_CODE_KEY.format('e.employee_code')} FROM employee e "
        f"JOIN employee_changed c ON c.employee_id = e.employee_id WHERE {where})"
    )


def _in_runs(paramstyle: str, column: str, first: int, runs: int) -> str:
    """SQL: `column` in one of `runs` (first, last) runs of ids, given as parameters from
    the one at index `first` on, each run's first then last."""
    return " OR ".join(
        f"{column} BETWEEN {placeholder(paramstyle, first + 2 * n)} "
        f"AND {placeholder(paramstyle, first + 2 * n + 1)}"
        for n in range(runs)
    )

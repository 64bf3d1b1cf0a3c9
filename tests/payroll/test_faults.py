import sqlite3

import pytest

from payroll.faults import describe, is_transient, sqlstate


class FakePyodbcError(Exception):
    """Shaped like pyodbc's errors: (SQLSTATE, text)."""


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (
            FakePyodbcError(
                "08S01", "[08S01] [Driver]Communication link failure (0) (SQLExecDirectW)"
            ),
            True,
        ),
        (FakePyodbcError("40001", "[40001] deadlock victim"), True),
        (FakePyodbcError("HYT00", "[HYT00] Query timeout expired"), True),
        (FakePyodbcError("42S02", "[42S02] Invalid object name 'employee'"), False),
        (FakePyodbcError("28000", "[28000] Login failed for user 'ess'"), False),
        (FakePyodbcError("08001", '[08001] FATAL: database "x" does not exist'), False),
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("no such table: employee"), False),
        (ValueError("bad config"), False),
    ],
)
def test_transient_faults_are_told_from_permanent_ones(error, transient):
    assert is_transient(error) is transient


def test_the_sqlstate_is_read_from_a_pyodbc_error():
    assert sqlstate(FakePyodbcError("HYT00", "[HYT00] timeout")) == "HYT00"


def test_a_pyodbc_message_is_cut_to_the_words_a_person_reads():
    error = FakePyodbcError(
        "42S02",
        "[42S02] [Microsoft][ODBC Driver 18 for SQL Server]Invalid object name "
        "'cost_account'. (208) (SQLExecDirectW)",
    )
    assert describe(error) == "Invalid object name 'cost_account'."

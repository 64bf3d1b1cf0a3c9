from datetime import date

import pytest
import sqlalchemy as sa

from ess.database import ess_engine
from ess.schema import leave_balance
from ess.store.log import read_log
from ess.store.registry import get_database, register_database
from flows.sync_leave_balances import sync_leave_balances
from tests.support import execute, fill_lookups, insert_rows, payroll_schema_sql

EXPECTED = [
    "Job Started.",
    "Start get leave type and reasons from payroll.",
    "Successfully got leave type and reasons from payroll.",
    "Updating leave type and reasons to the database.",
    "Finished updating leave type and reasons to the database.",
    "Retrieving Leave Balances.",
    "Imported leave balances: 3 employees, 5 balances updated, 0 unchanged.",
    "Job Completed.",
]


@pytest.fixture
def acme(ess, payroll_sqlite, prefect_api):
    fill_lookups(payroll_sqlite)
    insert_rows(
        payroll_sqlite,
        "leave_balance",
        [
            {"employee_id": e, "leave_type_code": t, "balance": b, "accrued_to": date(2025, 6, 26)}
            for e, t, b in [
                (1, "AL", "76.0000"),
                (1, "SL", "38.5000"),
                (2, "al ", "-4.2500"),
                (3, "AL", "0"),
                (3, "SL", "12.1234"),
            ]
        ],
    )
    register_database("acme_payroll", url=payroll_sqlite)
    return payroll_sqlite


def _messages(job_id=None):
    rows = read_log("acme_payroll", limit=500)
    job_id = job_id or max(r.job_id for r in rows if r.job_id)
    return [r.message for r in rows if r.job_id == job_id]


def _balances():
    with ess_engine().connect() as conn:
        rows = conn.execute(sa.select(leave_balance)).mappings()
        return {(r["payroll_employee_id"], r["leave_type_code"]): r["balance"] for r in rows}


def test_the_leave_sync_logs_its_steps_and_imports_every_balance(acme):
    assert sync_leave_balances(database="acme_payroll", return_state=True).is_completed()
    assert _messages() == EXPECTED
    assert str(_balances()[(2, "AL")]) == "-4.2500"
    assert get_database("acme_payroll").last_leave_balance_sync is not None


def test_a_second_leave_sync_changes_only_what_payroll_changed(acme):
    sync_leave_balances(database="acme_payroll")
    sync_leave_balances(database="acme_payroll")
    assert "Imported leave balances: 3 employees, 0 balances updated, 5 unchanged." in _messages()
    execute(
        acme,
        "UPDATE leave_balance SET balance = 80 WHERE employee_id = 1 AND leave_type_code = 'AL'",
    )
    execute(acme, "DELETE FROM leave_balance WHERE employee_id = 3")
    sync_leave_balances(database="acme_payroll")
    assert "Imported leave balances: 2 employees, 3 balances updated, 2 unchanged." in _messages()
    balances = _balances()
    assert str(balances[(1, "AL")]) == "80.0000"
    assert (3, "AL") not in balances and (3, "SL") not in balances


def test_a_re_sync_adds_new_balances_and_moves_ones_only_accrued_to_a_later_pay(acme):
    sync_leave_balances(database="acme_payroll")
    new = {
        "employee_id": 2,
        "leave_type_code": "SL",
        "balance": "7.5",
        "accrued_to": date(2025, 7, 10),
    }
    insert_rows(acme, "leave_balance", [new])
    execute(acme, "UPDATE leave_balance SET accrued_to = '2025-07-10' WHERE employee_id = 3")
    sync_leave_balances(database="acme_payroll")
    assert "Imported leave balances: 3 employees, 3 balances updated, 3 unchanged." in _messages()
    with ess_engine().connect() as conn:
        rows = conn.execute(sa.select(leave_balance)).mappings().all()
    stored = {(r["payroll_employee_id"], r["leave_type_code"]): r for r in rows}
    assert len(stored) == 6
    assert str(stored[(2, "SL")]["balance"]) == "7.5000"
    assert {stored[(3, t)]["accrued_to"] for t in ("AL", "SL")} == {date(2025, 7, 10)}
    assert stored[(1, "AL")]["accrued_to"] == date(2025, 6, 26)


def test_a_re_sync_of_one_payroll_leaves_another_payrolls_balances_alone(acme, tmp_path):
    other = f"sqlite:///{tmp_path / 'other_payroll.db'}"
    for statement in payroll_schema_sql():
        execute(other, statement)
    fill_lookups(other)
    insert_rows(
        other,
        "leave_balance",
        [
            {
                "employee_id": e,
                "leave_type_code": "AL",
                "balance": b,
                "accrued_to": date(2025, 6, 26),
            }
            for e, b in [(1, "10"), (3, "30"), (9, "90")]
        ],
    )
    register_database("other_payroll", url=other)
    sync_leave_balances(database="acme_payroll")
    sync_leave_balances(database="other_payroll")
    # acme: employee 3 leaves, employee 1's AL changes, employee 9 is new.
    execute(acme, "DELETE FROM leave_balance WHERE employee_id = 3")
    execute(
        acme,
        "UPDATE leave_balance SET balance = 1 WHERE employee_id = 1 AND leave_type_code = 'AL'",
    )
    insert_rows(
        acme,
        "leave_balance",
        [
            {
                "employee_id": 9,
                "leave_type_code": "AL",
                "balance": "9",
                "accrued_to": date(2025, 6, 26),
            }
        ],
    )
    sync_leave_balances(database="acme_payroll")
    assert "Imported leave balances: 3 employees, 4 balances updated, 2 unchanged." in _messages()
    with ess_engine().connect() as conn:
        rows = conn.execute(sa.select(leave_balance)).mappings().all()
    by_payroll: dict[str, dict[tuple[int, str], str]] = {}
    for r in rows:
        key = (r["payroll_employee_id"], r["leave_type_code"])
        by_payroll.setdefault(r["payroll_database"], {})[key] = str(r["balance"])
    assert by_payroll["other_payroll"] == {
        (1, "AL"): "10.0000",
        (3, "AL"): "30.0000",
        (9, "AL"): "90.0000",
    }
    assert by_payroll["acme_payroll"] == {
        (1, "AL"): "1.0000",
        (1, "SL"): "38.5000",
        (2, "AL"): "-4.2500",
        (9, "AL"): "9.0000",
    }


def test_balances_of_an_unknown_leave_type_are_skipped_with_a_warning(acme):
    insert_rows(
        acme,
        "leave_balance",
        [
            {
                "employee_id": 4,
                "leave_type_code": "ZZ",
                "balance": 1,
                "accrued_to": date(2025, 6, 26),
            }
        ],
    )
    sync_leave_balances(database="acme_payroll")
    assert "Skipped balances of unknown leave types: 'ZZ' (1)." in _messages()

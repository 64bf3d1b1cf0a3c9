"""The leave balances step on real databases: a re-sync writes exactly what differs."""

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

import ess.store.leave_balances as store
import tasks.leave_balances as step
from core.lookups import LEAVE_LOOKUPS
from ess.database import ess_engine
from ess.schema import leave_balance
from ess.store.registry import register_database
from tasks.leave_balances import import_leave_balances
from tasks.lookups.importer import read_lookups, write_lookups
from tests.support import execute, fill_lookups, insert_rows

DAY = date(2025, 6, 26)


@pytest.fixture
def payroll(ess, payroll_sqlite, prefect_api, monkeypatch):
    """300 employees with AL; the even ones SL too. Small chunks and flushes, so a re-sync
    compares many chunks and stages its differences in several writes."""
    monkeypatch.setattr(step, "CHUNK", 64)
    monkeypatch.setattr(store, "FLUSH_AT", 40)
    fill_lookups(payroll_sqlite)
    rows = [(e, "AL", Decimal(e)) for e in range(1, 301)]
    rows += [(e, "SL", Decimal(-e) / 4) for e in range(2, 301, 2)]
    insert_rows(
        payroll_sqlite,
        "leave_balance",
        [
            {"employee_id": e, "leave_type_code": t, "balance": b, "accrued_to": DAY}
            for e, t, b in rows
        ],
    )
    register_database("big_payroll", url=payroll_sqlite)
    read = read_lookups.fn(LEAVE_LOOKUPS, "big_payroll", as_steps=False)
    write_lookups.fn(LEAVE_LOOKUPS, "big_payroll", read, as_steps=False)
    return payroll_sqlite


def _payroll_balances(url):
    """Payroll's balances as ESS should hold them: codes trimmed and upper case, 4 places."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT employee_id, leave_type_code, balance, accrued_to FROM leave_balance"
        ).all()
    engine.dispose()
    return {
        (e, t.strip().upper()): (Decimal(str(b)).quantize(Decimal("0.0001")), date.fromisoformat(d))
        for e, t, b, d in rows
    }


def _ess_balances():
    lb = leave_balance
    with ess_engine().connect() as conn:
        rows = conn.execute(
            sa.select(
                lb.c.payroll_employee_id, lb.c.leave_type_code, lb.c.balance, lb.c.accrued_to
            ).where(lb.c.payroll_database == "big_payroll")
        ).all()
    return {(e, t): (b, d) for e, t, b, d in rows}


def _synced_at():
    lb = leave_balance
    with ess_engine().connect() as conn:
        rows = conn.execute(
            sa.select(lb.c.payroll_employee_id, lb.c.leave_type_code, lb.c.synced_at)
        ).all()
    return {(e, t): at for e, t, at in rows}


def test_a_re_sync_of_many_changes_leaves_ess_equal_to_payroll_and_counts_each_write(payroll):
    first = import_leave_balances.fn("big_payroll")
    assert (first.employees, first.changed, first.unchanged) == (300, 450, 0)
    before, stamps = set(_payroll_balances(payroll)), _synced_at()
    execute(payroll, "UPDATE leave_balance SET balance = balance + 1 WHERE employee_id % 3 = 0")
    execute(payroll, "DELETE FROM leave_balance WHERE employee_id BETWEEN 100 AND 119")
    execute(payroll, "DELETE FROM leave_balance WHERE employee_id > 290")
    execute(payroll, "UPDATE leave_balance SET accrued_to = '2025-07-10' WHERE employee_id = 7")
    # Another spelling of the same type, ordered after SL in payroll: the same balance.
    execute(
        payroll,
        "UPDATE leave_balance SET leave_type_code = 'al ' "
        "WHERE employee_id = 50 AND leave_type_code = 'AL'",
    )
    new = [(1, "SL"), (3, "SL"), (400, "AL"), (401, "AL")]
    insert_rows(
        payroll,
        "leave_balance",
        [{"employee_id": e, "leave_type_code": t, "balance": 5, "accrued_to": DAY} for e, t in new],
    )
    expected = _payroll_balances(payroll)
    gone = before - set(expected)
    changed = {k for k in before & set(expected) if k[0] % 3 == 0} | {(7, "AL")}

    again = import_leave_balances.fn("big_payroll")

    assert _ess_balances() == expected
    rewritten = {k for k, at in _synced_at().items() if at != stamps.get(k)}
    assert rewritten == changed | set(new)  # an unchanged balance is not written
    assert (len(gone), len(changed)) == (45, 136)
    assert again.changed == len(gone) + len(changed) + len(new)
    assert again.unchanged == len(expected) - len(changed) - len(new)
    assert again.employees == len({e for e, _ in expected})


def test_a_re_sync_of_a_payroll_without_balances_deletes_every_one_of_its_balances(payroll):
    import_leave_balances.fn("big_payroll")
    execute(payroll, "DELETE FROM leave_balance")
    emptied = import_leave_balances.fn("big_payroll")
    assert (emptied.employees, emptied.changed, emptied.unchanged) == (0, 450, 0)
    assert _ess_balances() == {}

import itertools
from datetime import date, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.leave import by_whole_employees, diff_balances
from core.retention import months_before

TYPES = {"AL": "AL", "SL": "SL"}


def test_balances_are_matched_by_employee_and_trimmed_type_code():
    ess = {(1, "AL"): (10, Decimal("7.6000"), date(2025, 6, 26))}
    changes = diff_balances([(1, "al ", 7.6, "2025-06-26"), (1, "SL", "2.5", "2025-06-26")], ess,
                            TYPES)  # fmt: skip
    assert changes.unchanged == 1
    assert changes.inserts == [(1, "SL", Decimal("2.5000"), date(2025, 6, 26))]
    assert changes.employees == {1}


def test_a_balance_gone_from_payroll_is_deleted_and_an_unknown_type_counted():
    ess = {(1, "AL"): (10, Decimal("1"), date(2025, 6, 26)),
           (1, "SL"): (11, Decimal("1"), date(2025, 6, 26))}  # fmt: skip
    changes = diff_balances([(1, "AL", "-3.25", "2025-06-26"), (1, "XX", 1, "2025-06-26")], ess,
                            TYPES)  # fmt: skip
    assert changes.updates == [(10, Decimal("-3.2500"), date(2025, 6, 26))]
    assert changes.deletes == [11]
    assert changes.unknown_types == {"XX": 1}
    assert changes.changed == 2


@given(st.lists(st.integers(1, 30), max_size=60).map(sorted), st.integers(1, 7))
def test_no_employee_spans_two_chunks(ids, size):
    rows = [(i, "AL") for i in ids]
    chunks = [rows[i : i + size] for i in range(0, len(rows), size)]
    recut = list(by_whole_employees(chunks))
    assert [r for c in recut for r in c] == rows
    owners = [{r[0] for r in c} for c in recut]
    for a, b in itertools.pairwise(owners):
        assert not a & b


def test_one_calendar_month_back_clamps_to_the_months_end():
    assert months_before(datetime(2026, 3, 31, 9, 0), 1) == datetime(2026, 2, 28, 9, 0)
    assert months_before(datetime(2026, 1, 15), 1) == datetime(2025, 12, 15)
    assert months_before(datetime(2024, 3, 30), 1) == datetime(2024, 2, 29)


@given(st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1)), st.integers(0, 36))
def test_the_cutoff_is_never_later_than_now_and_within_the_months(moment, months):
    cutoff = months_before(moment, months)
    assert cutoff <= moment
    assert (moment - cutoff).days <= months * 31
    assert (moment - cutoff).days >= months * 28 - 3 * (months > 0)

import itertools
from datetime import date, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.leave import by_whole_employees, prepare_balances
from core.retention import months_before

TYPES = {"AL": "AL", "SL": "SL"}


def test_balances_are_matched_by_trimmed_type_code_and_kept_exact():
    prepared = prepare_balances(
        [(1, "al ", 7.6, "2025-06-26"), (1, "SL", "2.5", "2025-06-26"), (2, "AL", 1, "2025-06-26")],
        TYPES,
    )
    assert prepared.rows == [
        (1, "AL", Decimal("7.6000"), date(2025, 6, 26)),
        (1, "SL", Decimal("2.5000"), date(2025, 6, 26)),
        (2, "AL", Decimal("1.0000"), date(2025, 6, 26)),
    ]
    assert prepared.employees == 2 and not prepared.unknown_types


def test_driver_typed_balances_are_kept_as_they_are():
    rows = [(1, "AL", Decimal("-3.25"), date(2025, 6, 26))]
    assert prepare_balances(rows, TYPES).rows == [(1, "AL", Decimal("-3.2500"), date(2025, 6, 26))]


def test_exact_balances_are_not_rounded_again_and_the_tail_ends_every_kept_row():
    day = date(2025, 6, 26)
    rows = [(1, "AL", Decimal("1.2500"), day), (1, "XX", Decimal(1), day)]
    exact = prepare_balances(rows, TYPES, exact=True, tail=("acme", 7))
    assert exact.rows == [(1, "AL", Decimal("1.2500"), day, "acme", 7)]
    assert exact.rows[0][2] is rows[0][2]  # the driver's own Decimal, not a rounded copy
    assert exact.unknown_types == {"XX": 1}
    assert prepare_balances(rows, TYPES).rows[0][2] is not rows[0][2]


def test_an_unknown_type_is_counted_not_kept_and_two_spellings_of_one_type_give_one_balance():
    prepared = prepare_balances(
        [
            (1, "AL", 1, "2025-06-26"),
            (1, "al", 2, "2025-06-26"),
            (1, "XX", 1, "2025-06-26"),
            (2, "XX ", 1, "2025-06-26"),
        ],
        TYPES,
    )
    assert prepared.rows == [(1, "AL", Decimal("1.0000"), date(2025, 6, 26))]
    assert prepared.unknown_types == {"XX": 2}
    assert prepared.employees == 1


def test_a_balance_ess_cannot_hold_is_named_and_not_kept_and_the_rest_are():
    day = date(2025, 6, 26)
    rows = [
        (1, "AL", "abc", day),
        (1, "SL", "2", day),
        (2, "AL", "NaN", day),
        (3, "AL", 1e15, day),
        (4, "AL", 1, "2025-02-30"),
        (5, "al", "<b>7</b>", "2025-06-26"),
        (6, "ZZ", "abc", day),  # an unknown type is reported as such, once
        (7, "AL", Decimal("-99999999.9999"), day),
    ]
    prepared = prepare_balances(rows, {"AL": "AL", "SL": "SL"})
    assert prepared.rows == [
        (1, "SL", Decimal("2.0000"), day),
        (7, "AL", Decimal("-99999999.9999"), day),
    ]
    assert prepared.invalid == [
        (1, "AL", "balance 'abc' is not a number"),
        (2, "AL", "balance 'NaN' is not a number"),
        (
            3,
            "AL",
            "balance '1000000000000000.0' is larger than ESS allows (8 digits before the point)",
        ),
        (4, "AL", "accrued_to '2025-02-30' is not a possible date"),
        (5, "AL", "balance '<b>7</b>' is not a number"),
    ]
    assert prepared.unknown_types == {"ZZ": 1}
    decimals = [(1, "AL", Decimal(b), day) for b in ("1", "100000000", "NaN", "-Infinity")]
    assert [r[0] for r in prepare_balances(decimals, {"AL": "AL"}).invalid] == [1, 1, 1]


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

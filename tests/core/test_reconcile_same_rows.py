import random
from datetime import date, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.reconcile import compare, frame, same_rows

COLUMNS = ["key", "code", "employee", "balance", "accrued_to"]
FIELDS = ("balance", "accrued_to")
ROW = (1, "AL", Decimal("7.6000"), date(2025, 6, 26))


def _framed(rows: list[tuple]) -> list[tuple]:
    return [(f"{p}/{t}", f"{p}/{t}", p, b, d) for p, t, b, d in rows]


def test_the_same_rows_in_another_order_are_the_same():
    rows = [(p, t, Decimal(p), date(2025, 6, 26)) for p in range(50) for t in ("AL", "SL")]
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    assert same_rows(rows, shuffled, 2)
    assert same_rows(shuffled, rows, 2)  # ESS's rows in key order, as they usually come
    assert not same_rows(shuffled, [*rows[:-1], (49, "SL", Decimal(0), date(2025, 6, 26))], 2)


def test_a_value_null_or_missing_row_on_one_side_is_not_the_same():
    assert not same_rows([ROW], [(1, "AL", Decimal("7.6001"), date(2025, 6, 26))], 2)
    assert not same_rows([ROW], [(1, "AL", None, date(2025, 6, 26))], 2)
    assert not same_rows([ROW], [(1, "AL", Decimal("7.6"), datetime(2025, 6, 26))], 2)
    assert not same_rows([ROW, (2, *ROW[1:])], [ROW], 2)
    assert not same_rows([ROW], [(2, *ROW[1:])], 2)


def test_equal_decimals_of_other_places_are_the_same_as_compare_judges_them():
    ess = [(1, "AL", Decimal("7.6"), date(2025, 6, 26))]
    assert same_rows([ROW], ess, 2)
    assert (
        compare(
            "leave_balance", frame(_framed([ROW]), COLUMNS), frame(_framed(ess), COLUMNS), FIELDS
        ).report.differences
        == 0
    )


_rows = st.lists(
    st.tuples(
        st.integers(1, 4),
        st.sampled_from(["AL", "SL"]),
        st.one_of(st.none(), st.sampled_from([Decimal("1"), Decimal("1.0"), Decimal("2")])),
        st.sampled_from([date(2025, 6, 26), date(2025, 6, 12)]),
    ),
    max_size=6,
    unique_by=lambda r: (r[0], r[1]),
)


@given(_rows, _rows)
def test_rows_found_the_same_are_rows_compare_finds_nothing_in(payroll, ess):
    if same_rows(payroll, ess, 2):
        found = compare(
            "leave_balance", frame(_framed(payroll), COLUMNS), frame(_framed(ess), COLUMNS), FIELDS
        )
        assert found.report.differences == 0 and found.report.differing == 0


@given(_rows, st.randoms())
def test_any_order_of_the_same_rows_is_found_the_same(rows, shuffle):
    shuffled = rows[:]
    shuffle.shuffle(shuffled)
    assert same_rows(rows, shuffled, 2)

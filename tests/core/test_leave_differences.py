"""compare_balances: what makes ESS's balances of some employees equal payroll's."""

from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.leave import BalanceDiff, compare_balances

DAY = date(2025, 6, 26)
values = st.tuples(
    st.decimals(Decimal("-50"), Decimal("50"), places=4), st.sampled_from([DAY, date(2025, 7, 10)])
)
# Balances by key (employee id, type code): the keys of a payroll or of ESS.
balance_sets = st.dictionaries(
    st.tuples(st.integers(1, 6), st.sampled_from(["AL", "LSL", "SL", "al"])), values, max_size=16
)


def _in_key_order(balances):
    return [(*key, *value) for key, value in sorted(balances.items())]


def _applied(ess, diff: BalanceDiff):
    held = {b[:2]: b for b in ess}
    for key in diff.gone:
        del held[key]
    for balance in diff.changed:
        assert balance[:2] in held
        held[balance[:2]] = balance
    for balance in diff.new:
        assert balance[:2] not in held
        held[balance[:2]] = balance
    return sorted(held.values())


@given(balance_sets, balance_sets, st.booleans())
def test_applying_the_diff_makes_ess_equal_payroll(payroll, ess, reversed_codes):
    payroll_rows, ess_rows = _in_key_order(payroll), _in_key_order(ess)
    if reversed_codes:  # the other database orders type codes differently
        ess_rows.sort(key=lambda b: (b[0], b[1][::-1]))
    assert _applied(ess_rows, compare_balances(payroll_rows, ess_rows)) == payroll_rows


@given(balance_sets)
def test_an_unchanged_payroll_gives_an_empty_diff(payroll):
    rows = _in_key_order(payroll)
    assert len(compare_balances(rows, list(rows))) == 0
    assert len(compare_balances(rows, sorted(rows, key=lambda b: (b[0], b[1][::-1])))) == 0


def test_a_balance_changed_in_place_is_an_update_and_new_and_gone_ones_are_found_by_key():
    ess = [(1, "AL", Decimal("1.0000"), DAY), (1, "SL", Decimal("2.0000"), DAY)]
    moved = [(1, "AL", Decimal("1.5000"), DAY), (1, "SL", Decimal("2.0000"), DAY)]
    assert compare_balances(moved, ess) == BalanceDiff(changed=[moved[0]])
    payroll = [(1, "AL", Decimal("1.0000"), DAY), (2, "AL", Decimal("3.0000"), DAY)]
    assert compare_balances(payroll, ess) == BalanceDiff(new=[payroll[1]], gone=[(1, "SL")])

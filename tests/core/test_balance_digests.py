"""Which employees a leave re-sync reads again: payroll's digests against the ones ESS keeps."""

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.balance_digests import Digests, digest_of, read_again, types_salt

SALT = types_salt({"AL": "AL", "SL": "SL"})


def _digests(rows):
    return Digests.read([rows], SALT)


def _kept(digests, *positions):
    return list(digests.stored(positions))


def test_only_employees_whose_digest_differs_are_read_again():
    payroll = _digests([(1, 2, 100), (2, 2, 200), (4, 1, 400), (5, 3, 500)])
    payroll.kept[:] = payroll.rows  # as a sync that kept every balance leaves them
    held = _kept(payroll, 0, 1, 2, 3)
    held[1] = (2, 2, held[1][2] + 1)  # employee 2's balances changed in payroll
    held[2] = (4, 1, None)  # employee 4 had a balance ESS did not keep
    held.insert(2, (3, 1, 7))  # employee 3 is gone from payroll
    plan = read_again(_digests([(1, 2, 100), (2, 2, 200), (4, 1, 400), (5, 3, 500)]), [held])
    assert list(plan.stale) == [1, 2]
    assert plan.gone == [3]
    assert (plan.skipped_employees, plan.skipped_balances) == (2, 5)


def test_employees_new_to_payroll_before_between_and_after_esss_are_read():
    payroll = _digests([(-4, 1, 1), (1, 1, 1), (2, 1, 1), (9, 1, 1)])
    payroll.kept[:] = payroll.rows
    plan = read_again(payroll, [[(1, 1, payroll.digests[1])]])
    assert [payroll.ids[at] for at in plan.stale] == [-4, 2, 9]
    assert plan.gone == []


def test_a_digest_changes_with_the_rows_their_count_and_the_leave_types():
    base = digest_of(3, Decimal(12345678901234567890), SALT)
    assert base != digest_of(3, Decimal(12345678901234567891), SALT)
    assert base != digest_of(2, Decimal(12345678901234567890), SALT)
    other_types = types_salt({"AL": "AL", "SL": "SL", "ZZ": "ZZ"})
    assert base != digest_of(3, Decimal(12345678901234567890), other_types)
    assert -(2**63) <= base < 2**63  # ESS keeps it as a BIGINT


def test_balances_kept_are_counted_per_employee_and_a_short_count_keeps_no_digest():
    payroll = _digests([(1, 2, 10), (2, 2, 20), (3, 1, 30)])
    at = payroll.count_kept([(1, "AL"), (1, "SL"), (2, "AL")])
    at = payroll.count_kept([(3, "AL")], at)
    assert list(payroll.kept) == [2, 1, 1]
    assert [d is None for _, _, d in payroll.stored(range(3))] == [False, True, False]


@given(
    st.dictionaries(st.integers(-(2**31), 2**31 - 1), st.integers(0, 2**40), max_size=40),
    st.dictionaries(st.integers(-(2**31), 2**31 - 1), st.integers(0, 2**40), max_size=40),
)
def test_the_merge_agrees_with_sets(before, now):
    """Whatever ids the two sides hold: read again what is new or differs, gone what left."""
    old = _digests(sorted((e, 1, h) for e, h in before.items()))
    old.kept[:] = old.rows
    stored = list(old.stored(range(len(old.ids))))
    current = _digests(sorted((e, 1, h) for e, h in now.items()))
    plan = read_again(current, [stored[:7], stored[7:]])
    stale = {current.ids[at] for at in plan.stale}
    assert stale == {e for e, h in now.items() if before.get(e) != h}
    assert set(plan.gone) == set(before) - set(now)
    assert plan.skipped_employees == len(now) - len(stale)

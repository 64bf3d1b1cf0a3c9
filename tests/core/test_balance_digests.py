"""Which employees a leave re-sync reads again: payroll's digests against the ones ESS keeps."""

from hypothesis import given
from hypothesis import strategies as st

from core.balance_digests import (
    NO_DIGEST,
    SALT_BITS,
    Digests,
    HeldDigests,
    read_again,
    types_salt,
)


def _payroll(rows):
    """Payroll's digests of (employee id, rows, digest), every balance kept."""
    digests = Digests.read([rows[:2], rows[2:]])
    digests.kept[:] = digests.rows
    return digests


def _kept(digests, employees=None):
    """What ESS keeps after a sync that read these digests, as it reads them back: slices
    of `employees` (None: one slice of all)."""
    ids, kept, values = (bytes(b) for b in digests.as_buffers())
    n = len(digests.ids)
    step = employees or max(n, 1)
    return [
        HeldDigests.read(
            ids[4 * at : 4 * (at + step)],
            kept[4 * at : 4 * (at + step)],
            values[8 * at : 8 * (at + step)],
        )
        for at in range(0, n, step)
    ]


def test_only_employees_whose_digest_differs_are_read_again():
    before = _payroll([(1, 2, 100), (2, 2, 200), (3, 1, 300), (4, 1, 400), (5, 3, 500)])
    before.kept[3] = 0  # employee 4's one balance was not kept: no digest
    now = Digests.read([[(1, 2, 100), (2, 2, 201), (4, 1, 400), (5, 3, 500), (6, 1, 600)]])
    plan = read_again(now, _kept(before, employees=2))
    assert [now.ids[at] for at in plan.stale] == [2, 4, 6]
    assert plan.gone == [3]
    assert (plan.skipped_employees, plan.skipped_balances) == (2, 5)
    assert list(now.kept) == [2, 0, 0, 3, 0]  # the skipped take ESS's count


def test_the_same_employees_are_compared_whole_and_a_missing_digest_is_read_again():
    rows = [(e, 2, e * 10) for e in range(-3, 7)]
    before = _payroll(rows)
    before.kept[0] = 1  # one of employee -3's balances was not kept
    plan = read_again(Digests.read([rows]), _kept(before))
    assert (plan.stale, plan.gone, plan.skipped_employees) == ([0], [], 9)
    changed = [(e, n, d + (e == 5)) for e, n, d in rows]
    plan = read_again(Digests.read([changed]), _kept(_payroll(rows)))
    assert (plan.stale, plan.skipped_balances) == ([8], 18)


def test_what_esss_keeps_reads_back_the_same_and_marks_a_short_count():
    digests = _payroll([(-(2**31), 1, -(2**63)), (7, 2, 2**63 - 1)])
    digests.kept[1] = 1
    (back,) = _kept(digests)
    assert list(back.ids) == [-(2**31), 7]
    assert list(back.digests) == [-(2**63), 2**63 - 1]
    assert list(back.kept) == [1, NO_DIGEST]


def test_the_salt_changes_with_the_leave_types_and_fits_beside_a_sqlite_sum():
    types = {"AL": "AL", "SL": "SL"}
    salt = types_salt(types)
    assert salt == types_salt(dict(reversed(types.items())))
    assert salt != types_salt({**types, "ZZ": "ZZ"})
    assert salt != types_salt({"AL": "AL", "SL": "Sl"})  # the type's own spelling
    assert 0 <= salt < 2**SALT_BITS


def test_balances_kept_are_counted_per_employee():
    payroll = Digests.read([[(1, 2, 10), (2, 2, 20), (3, 1, 30), (4, 3, 40)]])
    at = payroll.count_kept([(1, "AL"), (1, "SL"), (2, "AL")], read=4)  # one of 2 not kept
    at = payroll.count_kept([(3, "AL"), (4, "AL"), (4, "SL"), (4, "LSL")], read=4, start=at)
    assert at == 4
    assert list(payroll.kept) == [2, 1, 1, 3]
    assert list(_kept(payroll)[0].kept) == [2, NO_DIGEST, 1, 3]


_ids = st.integers(-(2**31), 2**31 - 1)


@given(
    st.dictionaries(_ids, st.integers(-(2**63), 2**63 - 1), max_size=40),
    st.dictionaries(_ids, st.integers(-(2**63), 2**63 - 1), max_size=40),
    st.booleans(),
    st.integers(1, 50),
)
def test_the_comparison_agrees_with_sets(before, now, same_employees, slice_employees):
    """Whatever ids the two sides hold, in slices of any size: read again what is new or
    differs, gone what left."""
    if same_employees:
        now = {e: now.get(e, h) for e, h in before.items()}
    old = _kept(_payroll(sorted((e, 1, h) for e, h in before.items())), slice_employees)
    current = Digests.read([sorted((e, 1, h) for e, h in now.items())])
    plan = read_again(current, old)
    stale = [current.ids[at] for at in plan.stale]
    assert stale == sorted(e for e, h in now.items() if before.get(e) != h)
    assert plan.gone == sorted(set(before) - set(now))
    assert plan.skipped_employees == plan.skipped_balances == len(now) - len(stale)

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.changes import EssRow, apply_changes, compute_changes, match_key, normalise_row

codes = st.text(alphabet="ABCDEFGHxyz", min_size=1, max_size=3)
values = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.integers(-5, 5),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
)
source_rows = st.dictionaries(codes, st.tuples(values, values), max_size=12).map(
    lambda d: [(k, *v) for k, v in d.items()]
)


def _ess_from(rows, start=1, in_payroll=True):
    return [EssRow(start + i, in_payroll, tuple(r)) for i, r in enumerate(rows)]


def _active_by_key(ess):
    return {match_key(r.values, 1): normalise_row(r.values) for r in ess if r.in_payroll}


def _unique_by_key(rows):
    seen, out = set(), []
    for r in rows:
        k = match_key(normalise_row(r), 1)
        if k not in seen:
            seen.add(k)
            out.append(normalise_row(r))
    return out


@given(source_rows)
def test_an_unchanged_source_gives_no_changes(rows):
    ess = _ess_from(_unique_by_key(rows))
    changes = compute_changes(rows, ess, key_width=1)
    assert changes.is_empty
    assert changes.counts.unchanged == len(ess)


@given(source_rows, source_rows, st.booleans())
def test_applying_the_changes_makes_ess_equal_the_source(rows, old_rows, old_active):
    ess = _ess_from(old_rows, in_payroll=old_active)
    changes = compute_changes(rows, ess, key_width=1)
    after = apply_changes(ess, changes)
    assert _active_by_key(after) == {match_key(r, 1): r for r in _unique_by_key(rows)}
    assert compute_changes(rows, after, key_width=1).is_empty


@given(source_rows, source_rows)
def test_rows_gone_from_payroll_are_deactivated_never_deleted(rows, old_rows):
    ess = _ess_from(old_rows)
    after = apply_changes(ess, compute_changes(rows, ess, key_width=1))
    assert {r.id for r in ess} <= {r.id for r in after}


def test_padded_and_lower_case_codes_match_the_lookups_own_code():
    ess = [EssRow(1, True, ("NSW", "New South Wales"))]
    changes = compute_changes([("nsw ", "New South Wales")], ess, key_width=1)
    assert changes.updates == [(1, ("nsw", "New South Wales"))]
    assert compute_changes([("NSW  ", "New South Wales")], ess, 1).counts.unchanged == 1


def test_null_equals_null_and_decimals_compare_exactly():
    ess = [EssRow(1, True, ("W", None, Decimal("52.10")))]
    assert compute_changes([("W", None, Decimal("52.1"))], ess, 1).is_empty
    assert compute_changes([("W", None, 52.1)], ess, 1).is_empty
    assert not compute_changes([("W", "", Decimal("52.1"))], ess, 1).is_empty


def test_a_code_payroll_holds_twice_is_reported_and_the_first_kept():
    changes = compute_changes([("AB", "first"), ("ab ", "second")], [], key_width=1)
    assert changes.inserts == [("AB", "first")]
    assert changes.duplicates == [("ab",)]


def test_a_removed_row_that_comes_back_is_reactivated():
    ess = [EssRow(7, False, ("F", "Fortnightly"))]
    changes = compute_changes([("F", "Fortnightly")], ess, key_width=1)
    assert changes.updates == [(7, ("F", "Fortnightly"))]
    assert changes.counts.updated == 1

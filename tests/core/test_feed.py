"""Change ids kept as ranges: what a sync of the overlap skips."""

from hypothesis import given
from hypothesis import strategies as st

from core.feed import ReadChanges, as_ranges


def test_dense_ids_are_one_range_and_loose_ones_are_listed():
    assert as_ranges(range(1, 200_001)) == "1-200000"
    assert as_ranges([12, 3, 4, 5, 9, 10, 3]) == "3-5,9-10,12"
    assert as_ranges([]) == ""


@given(st.sets(st.integers(min_value=0, max_value=300)), st.integers(min_value=-5, max_value=305))
def test_an_id_is_read_exactly_when_it_was_kept(kept, probe):
    read = ReadChanges(as_ranges(kept))
    assert (probe in read) == (probe in kept)
    assert bool(read) == bool(kept)


def test_nothing_kept_reads_nothing():
    assert 1 not in ReadChanges(None) and not ReadChanges("")

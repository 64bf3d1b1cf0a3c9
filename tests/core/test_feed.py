"""Change ids kept as ranges: what a sync of the overlap skips."""

from hypothesis import given
from hypothesis import strategies as st

from core.feed import ReadChanges, as_ranges


def test_dense_ids_are_one_range_and_loose_ones_are_listed():
    assert as_ranges(range(1, 200_001)) == "1-200000"
    assert as_ranges([12, 3, 4, 5, 9, 10, 3]) == "3-5,9-10,12"
    assert as_ranges([]) == ""


@given(
    st.sets(st.integers(min_value=-300, max_value=300)), st.integers(min_value=-305, max_value=305)
)
def test_an_id_is_read_exactly_when_it_was_kept(kept, probe):
    read = ReadChanges(as_ranges(kept))
    assert (probe in read) == (probe in kept)
    assert bool(read) == bool(kept)


def test_nothing_kept_reads_nothing():
    assert 1 not in ReadChanges(None) and not ReadChanges("")


def test_a_feed_reading_names_only_changes_not_read_and_keeps_the_overlap():
    from datetime import UTC, datetime, timedelta

    from core.feed import FeedReading

    read_to = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)
    feed = FeedReading(ReadChanges("1-3"), read_to)
    feed.add(1, 101, read_to)  # read last time
    feed.add(2, 102, read_to - timedelta(minutes=20))  # read last time
    feed.add(3, 103, read_to + timedelta(seconds=1))  # an id re-used, stamped later
    feed.add(7, 107, read_to - timedelta(minutes=5))  # committed late inside the overlap
    assert feed.unread == {103, 107}
    assert feed.end == read_to + timedelta(seconds=1)
    assert feed.read_from(feed.end, timedelta(minutes=15)) == "1,3,7"
    assert feed.read_from(None, timedelta(minutes=15)) is None
    # Nothing read before: every change's employee is read.
    fresh = FeedReading()
    fresh.add(1, 101, read_to)
    assert fresh.unread == {101}


@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=40),
            st.integers(min_value=1, max_value=9),
            st.sampled_from(["2025-07-01 08:50:00", "2025-07-01 09:00:00", None, "x"]),
        ),
        max_size=30,
    )
)
def test_a_chunk_of_raw_rows_reads_as_its_changes_one_at_a_time(rows):
    # A pay review stamps its changes alike: add_rows converts a time once, not once a row,
    # and must come to what adding each converted change would.
    from datetime import UTC, datetime, timedelta

    from core.feed import FeedReading

    converted: list[object] = []

    def moment_of(raw):
        converted.append(raw)
        return None if raw in (None, "x") else datetime.fromisoformat(raw).replace(tzinfo=UTC)

    read_to = datetime(2025, 7, 1, 8, 55, tzinfo=UTC)
    chunked = FeedReading(ReadChanges("1-20"), read_to)
    chunked.add_rows(rows, moment_of)
    one_by_one = FeedReading(ReadChanges("1-20"), read_to)
    for change_id, employee_id, raw in rows:
        if (moment := moment_of(raw)) is not None:
            one_by_one.add(change_id, employee_id, moment)
    assert chunked.unread == one_by_one.unread
    assert chunked.end == one_by_one.end
    overlap = timedelta(minutes=5)
    assert chunked.read_from(chunked.end, overlap) == one_by_one.read_from(chunked.end, overlap)
    runs_of_times = sum(1 for i, row in enumerate(rows) if i == 0 or row[2] != rows[i - 1][2])
    assert len(converted) == runs_of_times + len(rows)  # the chunk's, then one per row


def test_an_id_set_answers_alike_whether_its_ids_come_in_order_or_not():
    from core.feed import IdSet

    ordered = IdSet(range(1, 6))
    ordered.update([6, 7, 9])
    ordered.add(9)  # already held
    assert len(ordered) == 8 and list(ordered) == [1, 2, 3, 4, 5, 6, 7, 9]
    assert 9 in ordered and 8 not in ordered and 0 not in ordered and "9" not in ordered
    assert ordered == {1, 2, 3, 4, 5, 6, 7, 9}

    # An id out of order (a feed edited by hand, payroll's ids re-used) changes nothing seen.
    mixed = IdSet([5, 9])
    mixed.update([7, 3, 9, 11])
    mixed.add(-2)
    assert len(mixed) == 6 and sorted(mixed) == [-2, 3, 5, 7, 9, 11]
    assert 7 in mixed and 4 not in mixed
    assert mixed == IdSet([-2, 3, 5, 7, 9, 11]) and mixed != {3}
    assert len(IdSet()) == 0 and 1 not in IdSet()


def test_ranges_of_ids_in_order_and_out_of_it_are_the_same_text():
    assert as_ranges([3, 4, 5, 9, 10, 12]) == as_ranges([12, 10, 9, 5, 4, 3, 4]) == "3-5,9-10,12"
    assert as_ranges([-5, -4, -3, 2]) == "-5--3,2"


@given(
    st.lists(st.lists(st.integers(min_value=-50, max_value=50), max_size=8), max_size=6),
    st.integers(min_value=-55, max_value=55),
)
def test_an_id_set_holds_what_a_set_holds(chunks, probe):
    from core.feed import IdSet

    ids, expected = IdSet(), set()
    for chunk in chunks:
        ids.update(sorted(set(chunk)) if len(chunk) % 2 else chunk)
        expected.update(chunk)
    assert ids == expected and len(ids) == len(expected)
    assert (probe in ids) == (probe in expected)


@given(st.lists(st.integers(min_value=-50, max_value=50), max_size=60), st.integers(0, 60))
def test_ids_in_any_order_give_the_ranges_of_their_sorted_distinct_ids(ids, turn):
    # As a feed can arrive: rotated (a scan started part-way through the table), or in
    # no order at all, with an id repeated.
    expected = as_ranges(sorted(set(ids)))
    assert as_ranges(ids) == expected
    assert as_ranges(ids[turn:] + ids[:turn]) == expected


def test_a_pay_review_read_from_part_way_through_is_one_range_without_a_sort(monkeypatch):
    import core.feed

    ids = [*range(17_761, 200_001), *range(1, 17_761)]
    monkeypatch.setattr(core.feed, "set", _refused, raising=False)
    assert as_ranges(ids) == "1-200000"
    assert as_ranges([5, 6, 7, 1, 2, 9]) == "1-2,5-7,9"


def _refused(*args, **kwargs):
    raise AssertionError("held every id in a set to sort them")

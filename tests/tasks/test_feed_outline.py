"""A pay review's feed weighed by payroll's server says what reading it here would say.

A sync of changes that finds more than FEED_READ_HERE changes asks payroll's server how
many employees they name and where the feed ends (tasks.employees._feed_outline), and, when
it reads everyone, which change ids the next sync will find read (_changes_from). Both must
agree with core.feed.FeedReading, which reads the same changes one at a time: on every kind
of payroll, with changes read before, ids re-used with a later time, runs broken by gaps,
negative ids and an employee changed many times.
"""

import random
from datetime import UTC, datetime, timedelta

import pytest

from core.feed import FeedReading, ReadChanges
from tasks.employees import (
    FEED_OVERLAP,
    OUTLINE_RUNS,
    _changes_from,
    _duplicate_codes,
    _feed_outline,
    _read_feed,
)
from tests.payroll.test_source import READER_KINDS, payroll_block
from tests.support import execute

READ_TO = datetime(2025, 7, 1, 9, 0, tzinfo=UTC)
SINCE = READ_TO - FEED_OVERLAP


def _stamp(seconds: int) -> str:
    return (READ_TO.replace(tzinfo=None) + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def _a_feed(seed: int) -> list[tuple[int, int, str]]:
    """Changes around the last sync's end: before the overlap, inside it, after it."""
    rng = random.Random(seed)
    ids = rng.sample(range(-40, 400), 250)
    feed = [(i, rng.randint(1, 60), _stamp(rng.randint(-1500, 1500))) for i in ids]
    # On each boundary: read exactly when the last sync read to, the overlap's first
    # second, the feed's end, and the first second the next sync will read again.
    return [
        *feed,
        (1000, 901, _stamp(0)),
        (1001, 902, _stamp(-900)),
        (1002, 903, _stamp(1600)),
        (1003, 904, _stamp(700)),
        (1004, 905, _stamp(699)),
    ]


def _read_here(reader, read):
    feed = FeedReading(read, READ_TO)
    assert _read_feed(reader, SINCE, feed)
    end = max(feed.end, READ_TO) if feed.end else READ_TO
    return len(feed.unread), feed.end, feed.read_from(end, FEED_OVERLAP)


def _weighed_by_server(reader, read):
    named, last = _feed_outline(reader, SINCE, read, READ_TO)
    end = max(last, READ_TO) if last else READ_TO
    return named, last, _changes_from(reader, end - FEED_OVERLAP)


@pytest.mark.parametrize("kind", READER_KINDS)
def test_payrolls_server_weighs_a_feed_as_reading_it_here_does(kind, request):
    url, block = payroll_block(kind, request)
    for seed in range(4):
        execute(url, "DELETE FROM employee_changed")
        feed = _a_feed(seed)
        values = ", ".join(f"({c}, {e}, '{at}')" for c, e, at in feed)
        execute(url, f"INSERT INTO employee_changed VALUES {values}")
        rng = random.Random(seed)
        # What the last sync read: nothing, one run, scattered ids (some re-used since
        # with a later time), and as many runs as the server's query names.
        runs = sorted(rng.sample([i for i, _, _ in feed], 40))
        for read in (
            ReadChanges(None),
            ReadChanges("-40-120,1000-1001"),
            ReadChanges(",".join(str(i) for i in [*runs, 1000, 1001])),
            ReadChanges(",".join(str(i) for i in range(-40, 2 * OUTLINE_RUNS - 42, 2)) + ",1000"),
        ):
            with block.reader() as reader:
                assert _weighed_by_server(reader, read) == _read_here(reader, read)


@pytest.mark.parametrize("kind", READER_KINDS)
def test_a_stretch_of_the_feed_in_one_run_or_broken_by_one_gap_is_kept_as_reading_it_here(
    kind, request
):
    # _changes_from counts the ids first: ones that fill their span are one run. A feed
    # appended in order (a pay review's) is one; a change stamped late, or one id missing,
    # breaks it, and then the runs are asked for: either way what reading here keeps.
    url, block = payroll_block(kind, request)
    early = [(i, i, _stamp(-3000 + i)) for i in range(1, 40)]  # before the overlap
    in_order = [(i, i % 7 + 1, _stamp(-900 + 10 * (i - 100))) for i in range(100, 300)]
    feeds = {
        "one run": [*early, *in_order],
        "one change": [*early, (500, 3, _stamp(60))],
        "a gap": [*early, *(c for c in in_order if c[0] != 250)],
        "stamped late": [*early, *in_order, (80, 9, _stamp(400))],
        "one run, a gap before it": [*early, *(c for c in in_order if c[0] != 100)],
    }
    for name, feed in feeds.items():
        execute(url, "DELETE FROM employee_changed")
        values = ", ".join(f"({c}, {e}, '{at}')" for c, e, at in feed)
        execute(url, f"INSERT INTO employee_changed VALUES {values}")
        with block.reader() as reader:
            _, _, here = _read_here(reader, None)
            by_server = _weighed_by_server(reader, None)[2]
        assert here is not None, name
        assert by_server == here, name


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_an_empty_feed_and_one_read_too_scattered_are_left_to_reading_here(kind, request):
    _, block = payroll_block(kind, request)
    with block.reader() as reader:
        assert _feed_outline(reader, SINCE, None, READ_TO) == (0, None)
        assert _changes_from(reader, SINCE) is None
    scattered = ReadChanges(",".join(str(i) for i in range(0, 2 * OUTLINE_RUNS + 2, 2)))
    with block.reader() as reader:
        assert _feed_outline(reader, SINCE, scattered, READ_TO) is None


@pytest.mark.parametrize("kind", READER_KINDS)
def test_the_duplicate_codes_of_the_changes_read_are_found_through_their_ids_as_by_time(
    kind, request
):
    # A sync of changes asks payroll for the codes its employees share with anyone
    # (tasks.employees._duplicate_codes). Given the ids of the changes it read, as runs,
    # the feed is found through its index: the answer must be the one the time alone gives.
    url, block = payroll_block(kind, request)
    codes = {e: f"E{e % 50}" for e in [*range(1, 61), *range(901, 906)]}
    # Shared, as ESS sees codes (trimmed, without case): written three ways.
    codes |= {7: " e7", 57: "E7 ", 3: "e3", 53: "E3", 904: "e4 ", 54: "E4"}
    values = ", ".join(
        f"({e}, '{c}', 'A', 'B', '2020-01-01', 'F', 1, '2025-01-01 00:00:00')"
        for e, c in codes.items()
    )
    execute(
        url,
        "INSERT INTO employee (employee_id, employee_code, first_name, surname, date_hired,"
        f" pay_frequency_code, tax_free_threshold, last_modified) VALUES {values}",
    )
    for seed in range(4):
        execute(url, "DELETE FROM employee_changed")
        feed = _a_feed(seed)
        values = ", ".join(f"({c}, {e}, '{at}')" for c, e, at in feed)
        execute(url, f"INSERT INTO employee_changed VALUES {values}")
        with block.reader() as reader:
            read = FeedReading(None, READ_TO)
            assert _read_feed(reader, SINCE, read)
            runs = read.change_runs()
            assert len(runs) > 1  # ids in gaps, negative ones too
            by_time = _duplicate_codes(reader, SINCE)
            assert by_time  # the feed names some of the employees sharing a code
            assert _duplicate_codes(reader, SINCE, runs) == by_time
            # Runs that miss the changes naming them find none of theirs.
            assert _duplicate_codes(reader, SINCE, [(2000, 3000)]) == {}

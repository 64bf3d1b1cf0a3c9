"""Which plan a sync of changes reads by, decided from the feed's size and ESS's."""

from hypothesis import given
from hypothesis import strategies as st

from core.plans import (
    FULL_READ_FROM,
    FULL_READ_FROM_IN_SERVER,
    SMALL_PAYROLL,
    id_runs,
    reads_everyone,
    worth_counting,
)


def test_a_feed_naming_everyone_is_read_in_full_and_a_few_by_id():
    assert reads_everyone(200_000, 200_000)
    assert reads_everyone(SMALL_PAYROLL, SMALL_PAYROLL)
    assert not reads_everyone(2_000, 200_000)
    assert not reads_everyone(0, 200_000)


def test_the_threshold_is_a_share_of_the_employees_ess_holds():
    held = 2 * SMALL_PAYROLL
    at = round(FULL_READ_FROM * held)
    assert reads_everyone(at, held)
    assert not reads_everyone(at - 1, held)
    assert reads_everyone(5, 10, threshold=0.5, smallest=10)
    assert not reads_everyone(4, 10, threshold=0.5, smallest=10)


def test_an_empty_ess_is_left_to_the_first_import():
    assert not reads_everyone(60, 0)
    assert not reads_everyone(60, 0, smallest=0)


def test_a_small_payroll_is_read_by_id_whatever_its_feed_names():
    assert not reads_everyone(SMALL_PAYROLL - 1, SMALL_PAYROLL - 1)
    assert reads_everyone(60, 60, smallest=60) and not reads_everyone(60, 60, smallest=61)


@given(
    st.integers(0, 2_000_000),
    st.integers(0, 2_000_000),
    st.sampled_from([FULL_READ_FROM, FULL_READ_FROM_IN_SERVER, 0.5, 0.1]),
)
def test_counting_ess_no_further_than_worth_counting_makes_the_same_choice(named, held, share):
    upto = worth_counting(named, share)
    assert reads_everyone(named, min(held, upto), share) == reads_everyone(named, held, share)
    # Where the threshold falls exactly on a count, too.
    exact = round(named / share)
    assert reads_everyone(named, min(exact, upto), share) == reads_everyone(named, exact, share)


def test_a_pay_runs_feed_counts_a_few_thousand_employees_not_everyone():
    assert worth_counting(2_000) == 5_715
    assert worth_counting(0) == 1


def test_dense_runs_become_key_ranges_and_the_rest_stay_lists():
    ids = [1, 5, *range(100, 200), 300, 301, *range(400, 464)]
    assert list(id_runs(ids, dense=64)) == [[1, 5], (100, 199), [300, 301], (400, 463)]
    assert list(id_runs([3, 4, 5], dense=3)) == [(3, 5)]
    assert list(id_runs([], dense=3)) == []


@given(st.sets(st.integers(1, 400), max_size=300), st.integers(2, 20))
def test_the_runs_name_every_id_once_in_order(ids, dense):
    ordered = sorted(ids)
    named: list[int] = []
    for run in id_runs(ordered, dense):
        if isinstance(run, tuple):
            first, last = run
            assert last - first + 1 >= dense
            named += range(first, last + 1)
        else:
            assert run
            named += run
    assert named == ordered

"""Which concurrency slots of a database leaked: decided on plain values."""

from datetime import UTC, datetime, timedelta

from core.slots import (
    JOB_DEAD,
    JOB_ENDED,
    JOB_LIVE,
    NO_JOB,
    PENDING,
    RUNNING,
    STARTING_GRACE,
    SeenRun,
    SlotDecision,
    crash_message,
    decide_slots,
)

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(hours=1)


def run(state=RUNNING, changed_at=LONG_AGO, job=NO_JOB, job_id=None, id="r1"):
    return SeenRun(id, f"run-{id}", state, changed_at, job, job_id)


def test_a_slot_with_no_run_behind_it_and_ess_free_is_released():
    # The server restarted mid-run: the slot stayed taken, the run went elsewhere.
    assert decide_slots(1, False, [], NOW) == SlotDecision(release=1)


def test_nothing_is_released_while_ess_holds_the_database():
    assert decide_slots(1, True, [], NOW).nothing
    assert decide_slots(1, True, [run(job=JOB_LIVE, job_id=7)], NOW).nothing


def test_a_run_that_took_its_slot_but_not_yet_its_ess_job_keeps_its_slot():
    # Seconds after going Pending ESS says the database is free: the slot is the run's.
    pending = run(PENDING, changed_at=NOW - timedelta(seconds=3))
    assert decide_slots(1, False, [pending], NOW).nothing
    starting = run(RUNNING, changed_at=NOW - timedelta(seconds=20))
    assert decide_slots(1, False, [starting], NOW).nothing


def test_a_run_stuck_before_its_ess_job_for_longer_than_the_grace_holds_nothing():
    stuck = run(PENDING, changed_at=NOW - STARTING_GRACE - timedelta(seconds=1))
    assert decide_slots(1, False, [stuck], NOW) == SlotDecision(release=1)


def test_a_run_left_running_whose_ess_job_died_is_crashed_and_its_slot_comes_back_with_it():
    dead = run(RUNNING, job=JOB_DEAD, job_id=12)
    # Ending the run gives its own slot back: nothing more to release.
    assert decide_slots(1, False, [dead], NOW) == SlotDecision(crash=(dead,))
    assert "job 12 in ESS stopped renewing its lease" in crash_message(dead)


def test_a_dead_run_is_crashed_even_while_a_new_job_holds_the_database():
    dead = run(RUNNING, job=JOB_DEAD, job_id=12, id="old")
    new = run(RUNNING, changed_at=NOW, job=JOB_LIVE, job_id=13, id="new")
    assert decide_slots(2, True, [dead, new], NOW) == SlotDecision(crash=(dead,))


def test_a_dead_run_and_a_new_run_starting_release_nothing_more():
    dead = run(RUNNING, job=JOB_DEAD, job_id=12, id="old")
    starting = run(PENDING, changed_at=NOW - timedelta(seconds=2), id="new")
    assert decide_slots(1, False, [dead, starting], NOW) == SlotDecision(crash=(dead,))


def test_a_run_whose_job_ended_holds_no_slot():
    # Killed between ESS's `Job Completed.` and Prefect's Completed.
    ended = run(RUNNING, changed_at=NOW, job=JOB_ENDED, job_id=5)
    assert decide_slots(1, False, [ended], NOW) == SlotDecision(release=1)


def test_no_slot_taken_means_nothing_to_do():
    assert decide_slots(0, False, [], NOW).nothing
    assert decide_slots(0, False, [run(PENDING, changed_at=NOW)], NOW).nothing

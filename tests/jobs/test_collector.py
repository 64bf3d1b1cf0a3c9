"""A job runs with the garbage collector's job thresholds, and leaves the process's own."""

import gc
import threading
from typing import Any

import pytest
from prefect import flow
from prefect.states import State

from core.results import JobResult
from core.steps import Step
from ess.store.registry import register_database
from jobs.collector import JOB_THRESHOLDS, fewer_collections
from jobs.kinds import KINDS, JobKind, register
from jobs.runner import JobSteps, run_as_job, run_preview
from jobs.start import start_job
from tests.support import fill_lookups

LOOKING = Step("Looking at the collector", "Looking at the collector.")
SEEN: list[tuple[int, int, int]] = []
DEFAULTS = (700, 10, 10)


def _look(job: JobSteps) -> None:
    with job.step(LOOKING):
        SEEN.append(gc.get_threshold())


@flow(name="look-at-the-collector")
def look(database: str, job_id: int | None = None) -> JobResult | State[Any]:
    return run_as_job(LOOK, database, job_id, _look)


LOOK = JobKind("look-at-the-collector", "look", "look", f"{__name__}:look", (LOOKING,))


@pytest.fixture
def defaults():
    before = gc.get_threshold()
    gc.set_threshold(*DEFAULTS)
    yield
    gc.set_threshold(*before)


def test_a_job_and_a_preview_run_with_the_job_thresholds_and_put_the_defaults_back(
    defaults, ess, payroll_sqlite, prefect_api
):
    fill_lookups(payroll_sqlite)
    register_database("look_payroll", url=payroll_sqlite)
    register(LOOK)
    SEEN.clear()
    try:
        assert start_job(LOOK, "look_payroll").ok
        assert gc.get_threshold() == DEFAULTS
        run_preview(LOOK, "look_payroll", _look)
        assert gc.get_threshold() == DEFAULTS
    finally:
        KINDS.pop(LOOK.name)
    assert SEEN == [JOB_THRESHOLDS, JOB_THRESHOLDS]


def test_a_job_that_fails_puts_the_thresholds_back(defaults):
    with pytest.raises(RuntimeError), fewer_collections():
        assert gc.get_threshold() == JOB_THRESHOLDS
        raise RuntimeError("a step failed")
    assert gc.get_threshold() == DEFAULTS


def test_jobs_in_two_threads_keep_the_job_thresholds_until_the_last_ends(defaults):
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, tuple[int, int, int]] = {}

    def first() -> None:
        with fewer_collections():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second() -> None:
        first_in.wait(10)
        with fewer_collections():
            second_in.set()
            first_out.wait(10)
            seen["after the first left"] = gc.get_threshold()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == {"after the first left": JOB_THRESHOLDS}
    assert gc.get_threshold() == DEFAULTS

"""What a job's steps share: loaded once, or fetched ahead while the first steps run."""

import threading

import pytest

from jobs.context import JobContext, current_job, job_context


def test_a_prefetched_value_is_what_the_step_that_asks_gets_and_is_loaded_once():
    job = JobContext("acme_payroll", 1, 60)
    started, release, loads = threading.Event(), threading.Event(), []

    def load():
        started.set()
        release.wait(10)
        loads.append(threading.current_thread().name)
        return {"block": "acme"}

    job.prefetch("payroll block", load)
    assert started.wait(10)  # loading in a thread of its own while the caller goes on
    job.prefetch("payroll block", load)  # asked again: the load already under way serves
    release.set()
    first = job.once("payroll block", lambda: pytest.fail("loaded twice"))
    assert first == {"block": "acme"}
    assert job.once("payroll block", lambda: pytest.fail("loaded twice")) is first
    assert len(loads) == 1
    assert loads[0] != threading.current_thread().name


def test_a_failed_prefetch_fails_the_step_that_asks_and_its_retry_loads_again():
    job = JobContext("acme_payroll", 1, 60)

    def unreachable():
        raise ConnectionError("Prefect API unreachable")

    job.prefetch("payroll block", unreachable)
    with pytest.raises(ConnectionError, match="Prefect API unreachable"):
        job.once("payroll block", lambda: pytest.fail("the failure is the prefetch's"))
    # The retry of that step loads for itself, and what it loads is shared from then on.
    assert job.once("payroll block", lambda: "loaded on retry") == "loaded on retry"
    assert job.once("payroll block", lambda: "again") == "loaded on retry"


def test_a_prefetch_runs_as_the_job_that_started_it():
    job, seen = JobContext("acme_payroll", 7, 60), []
    with job_context(job):
        job.prefetch("who", lambda: seen.append(current_job()) or "done")
        assert job.once("who", lambda: "not used") == "done"
    assert seen == [job]


def test_an_operation_begun_past_the_jobs_end_is_cancelled_and_a_cancel_that_fails_is_quiet():
    # Begun once the job timed out, an operation is cancelled at once. A connection already
    # gone cannot be cancelled: its driver's complaint must not replace the job's own end.
    job = JobContext("acme_payroll", None, 60)
    job.expire()
    cancelled = []

    def gone():
        cancelled.append(True)
        raise OSError("sending cancel failed: connection already closed")

    with job.cancellable(gone):
        pass
    assert cancelled == [True]
    with job.cancellable(lambda: cancelled.append(False)):
        pass
    assert cancelled == [True, False]

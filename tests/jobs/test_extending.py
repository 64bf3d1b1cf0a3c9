"""Adding a kind of job, or a step, is an entry in a table and a `with job.step(...)`: shown
here with a throwaway kind that counts ESS's employees, through the real start_job() path."""

from typing import Any

import pytest
from prefect import flow
from prefect.states import State

from core.results import JobResult
from core.steps import Step
from ess.store.jobs import take_job
from ess.store.log import read_log
from ess.store.registry import get_database, register_database
from jobs.kinds import KINDS, JobKind, kind_named, register
from jobs.runner import JobSteps, run_as_job
from jobs.start import NOT_STARTED, start_job
from tests.support import fill_lookups

COUNTING = Step("Counting employees", "Counting employees.")
CHECKING = Step("Checking the count", "Checking the count.", done="Count checked.")


@flow(name="count-employees")
def count_employees(database: str, job_id: int | None = None) -> JobResult | State[Any]:
    """A throwaway flow: two steps, one count, one closing row."""

    def steps(job: JobSteps) -> None:
        with job.step(COUNTING):
            job.say(f"Counted {get_database(database).name}: 0 employees.")
        with job.step(CHECKING):
            pass

    return run_as_job(COUNT, database, job_id, steps)


COUNT = JobKind(
    "count-employees",
    "employee count",
    "count-employees",
    f"{__name__}:count_employees",
    (COUNTING, CHECKING),
)


@pytest.fixture
def kind():
    register(COUNT)
    yield COUNT
    KINDS.pop(COUNT.name)


@pytest.fixture
def acme(ess, payroll_sqlite, prefect_api):
    fill_lookups(payroll_sqlite)
    register_database("acme_payroll", url=payroll_sqlite)
    return payroll_sqlite


def test_a_new_kind_of_job_runs_through_start_job_with_its_steps_logged(acme, kind):
    assert kind_named("count-employees") is kind
    outcome = start_job(kind, "acme_payroll")
    assert outcome.ok, outcome.message
    assert outcome.result is not None and outcome.result.kind == "count-employees"
    messages = [r.message for r in read_log("acme_payroll", job_id=outcome.job_id)]
    assert messages == [
        "Job Started.",
        "Counting employees.",
        "Counted acme_payroll: 0 employees.",
        "Checking the count.",
        "Count checked.",
        "Job Completed.",
    ]


def test_a_new_kind_of_job_keeps_the_one_job_per_database_rule(acme, kind):
    held = take_job("acme_payroll", "sync-from-payroll", flow_run_id="held-by-test")
    outcome = start_job(kind, "acme_payroll")
    assert outcome.status == NOT_STARTED and outcome.job_id is None
    assert f"run {held.flow_run_id}" in outcome.message
    assert read_log("acme_payroll")[-1].message == outcome.message


def test_a_step_a_kind_does_not_declare_is_refused(acme, kind):
    stray = Step("Stray", "A step nobody declared.")

    @flow(name="count-employees")
    def stray_flow(database: str) -> Any:
        def steps(job: JobSteps) -> None:
            with job.step(stray):
                pass

        return run_as_job(kind, database, None, steps)

    state = stray_flow("acme_payroll", return_state=True)
    assert state.is_failed()
    assert read_log("acme_payroll")[-1].message.startswith("Job Failed: Starting failed:")


def test_an_unknown_kind_is_named_with_the_kinds_there_are():
    with pytest.raises(ValueError, match="the kinds are sync-from-payroll, sync-leave-balances"):
        kind_named("sync-from-pay-roll")


def test_a_job_started_through_start_job_runs_in_a_flow_run_created_with_its_database_tag(
    acme, kind
):
    import sqlalchemy as sa
    from prefect.client.orchestration import get_client

    from ess.database import ess_engine
    from ess.schema import sync_job

    outcome = start_job(kind, "acme_payroll")
    assert outcome.ok, outcome.message
    with ess_engine().connect() as conn:
        run_id = conn.execute(
            sa.select(sync_job.c.flow_run_id).where(sync_job.c.id == outcome.job_id)
        ).scalar_one()
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
    # This flow never tags its run: the tag was there from the run's creation.
    assert run.tags == ["database:acme_payroll"]


def test_a_jobs_task_runs_leave_the_database_tag_to_its_flow_run(acme, kind):
    from prefect import tags, task
    from prefect.runtime import flow_run, task_run

    seen: dict[str, set[str]] = {}

    @task
    def look() -> None:
        seen["task run"] = set(task_run.get_tags())

    @flow(name="count-employees")
    def tagged_flow(database: str) -> Any:
        seen["flow run"] = set(flow_run.get_tags())

        def steps(job: JobSteps) -> None:
            with job.step(COUNTING):
                look()

        return run_as_job(kind, database, None, steps)

    # As start_job() creates its runs: inside the database's tag (and a caller's own).
    with tags("database:acme_payroll", "nightly"):
        assert tagged_flow("acme_payroll", return_state=True).is_completed()
    assert seen["flow run"] == {"database:acme_payroll", "nightly"}
    # No task-run concurrency limit is asked for on a tag no limit has.
    assert seen["task run"] == {"nightly"}

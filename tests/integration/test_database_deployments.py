"""Each payroll database's own deployments and schedules, on the real server and worker."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine

from ess.store.log import read_log
from generator import build_payroll
from tests.integration.conftest import (
    PREFECT_FILE,
    PrefectWorld,
    ess_sync,
    isolated_env,
    ok,
    run,
    run_to_the_end,
    wait_for,
    words,
)

DATABASE = "acme_payroll"
SYNC = f"sync-from-payroll/{DATABASE}"
LEAVE = f"sync-leave-balances/{DATABASE}"
# The scheduler's loop (5 s here) and the worker's poll and start.
SCHEDULED_START_SECONDS = 120


@pytest.fixture(scope="module")
def acme(prefect_world: PrefectWorld) -> str:
    """A small payroll registered as acme_payroll with `databases add`; what that printed."""
    url = f"sqlite:///{prefect_world.home / 'acme_payroll.db'}"
    engine = create_engine(url)
    build_payroll(engine, employees=20)
    engine.dispose()
    return words(ok(run(ess_sync("databases", "add", DATABASE, "--url", url), prefect_world.env)))


def read(world: PrefectWorld, name: str) -> Any:
    """The deployment by its full name, as the server has it now."""
    from prefect.client.orchestration import get_client

    with world.api(), get_client(sync_client=True) as client:
        return client.read_deployment_by_name(name)


def deploy(world: PrefectWorld) -> str:
    """`ess-sync prefect deploy`'s output."""
    return words(ok(run(ess_sync("prefect", "deploy"), world.env)))


def test_databases_add_makes_the_database_s_deployments_with_the_database_fixed(
    prefect_world, acme
):
    assert f"Deployment {SYNC}: created." in acme
    assert f"Deployment {LEAVE}: created." in acme
    for name, flow in ((SYNC, "sync_from_payroll"), (LEAVE, "sync_leave_balances")):
        deployment = read(prefect_world, name)
        assert deployment.parameters == {"database": DATABASE}
        assert deployment.entrypoint == f"flows/{flow}.py:{flow}"
        assert deployment.work_pool_name == "ess-sync"
        assert f"database:{DATABASE}" in deployment.tags
        assert "job_id" not in deployment.parameter_openapi_schema["properties"]
        assert deployment.schedules == []


def test_each_database_gets_a_reconcile_deployment_scheduled_weekly_and_switched_off(
    prefect_world, acme
):
    assert f"Deployment reconcile/{DATABASE}: created." in acme
    deployment = read(prefect_world, f"reconcile/{DATABASE}")
    assert deployment.parameters == {"database": DATABASE}
    assert deployment.entrypoint == "flows/reconcile.py:reconcile"
    [weekly] = deployment.schedules
    assert (weekly.schedule.cron, weekly.active) == ("0 3 * * 0", False)


def test_a_database_s_deployment_run_with_no_parameters_syncs_that_database(prefect_world, acme):
    flow_run = run_to_the_end(prefect_world, SYNC, {})
    assert flow_run.state.is_completed(), flow_run.state.message
    assert flow_run.parameters["database"] == DATABASE
    assert read_log(DATABASE, limit=500)[-1].message == "Job Completed."


def test_prefect_deploy_changes_nothing_twice_and_removes_an_unregistered_database_s(
    prefect_world, acme
):
    from prefect.exceptions import ObjectNotFound

    url = f"sqlite:///{prefect_world.home / 'acme_payroll.db'}"
    ok(run(ess_sync("databases", "add", "gone_payroll", "--url", url), prefect_world.env))
    deploy(prefect_world)
    again = deploy(prefect_world)
    for name in (SYNC, LEAVE, "sync-from-payroll/gone_payroll"):
        assert f"Deployment {name}: unchanged." in again, again
    assert "created" not in again and "updated" not in again and "removed" not in again

    removed = run(ess_sync("databases", "remove", "gone_payroll", "--yes"), prefect_world.env)
    ok(removed)
    assert "Deployment sync-from-payroll/gone_payroll: removed." in removed.stdout, removed
    assert "Deployment sync-leave-balances/gone_payroll: removed." in removed.stdout, removed
    after = deploy(prefect_world)
    assert "gone_payroll" not in after, after
    assert f"Deployment {SYNC}: unchanged." in after
    with pytest.raises(ObjectNotFound):
        read(prefect_world, "sync-from-payroll/gone_payroll")


def test_a_schedule_set_by_command_runs_and_prefect_deploy_all_leaves_it(prefect_world, acme):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
    from prefect.states import Scheduled

    set_it = words(
        ok(run(ess_sync("schedule", DATABASE, "--sync", "*/1 * * * *"), prefect_world.env))
    )
    assert f"Deployment {SYNC}: updated." in set_it, set_it
    assert f"Deployment {LEAVE}: unchanged." in set_it, set_it
    deployment_id = read(prefect_world, SYNC).id
    runs = FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]))

    def schedules_runs() -> list[Any]:
        with prefect_world.api(), get_client(sync_client=True) as client:
            return [r for r in client.read_flow_runs(flow_run_filter=runs) if r.auto_scheduled]

    def waiting_runs() -> list[Any]:
        return [r for r in schedules_runs() if r.state is not None and r.state.is_scheduled()]

    try:
        command = ["prefect", "--no-prompt", "deploy", "--all", "--prefect-file", str(PREFECT_FILE)]
        ok(run(command, prefect_world.env, timeout=120))
        [schedule] = read(prefect_world, SYNC).schedules
        assert (schedule.active, schedule.schedule.cron) == (True, "*/1 * * * *")
        assert schedule.schedule.timezone == "Australia/Sydney"

        # Prefect's scheduler made the schedule's runs, each at the top of a minute to come.
        waiting = wait_for(
            waiting_runs, SCHEDULED_START_SECONDS, "the schedule's runs", prefect_world.logs
        )
        # The first of them: the worker may have taken one already (due as the scheduler
        # made it, at a minute's turn), and a second run of a busy database never starts.
        unfinished = [r for r in schedules_runs() if r.state is not None and not r.state.is_final()]
        first = min([*waiting, *unfinished], key=lambda r: r.expected_start_time)
        assert first.expected_start_time.second == 0, first.expected_start_time
        # Brought forward rather than waited for (up to a minute): the worker starts it.
        if first.state is not None and first.state.is_scheduled():
            with prefect_world.api(), get_client(sync_client=True) as client:
                now = Scheduled(scheduled_time=datetime.now(UTC))
                client.set_flow_run_state(first.id, now, force=True)
        started = wait_for(
            lambda: [r for r in schedules_runs() if r.start_time is not None],
            SCHEDULED_START_SECONDS,
            "a run scheduled by `ess-sync schedule` to start",
            prefect_world.logs,
        )
        assert first.id in {r.id for r in started}
    finally:
        off = words(ok(run(ess_sync("schedule", DATABASE, "--off"), prefect_world.env)))
    assert f"Deployment {SYNC}: updated." in off, off
    [schedule] = read(prefect_world, SYNC).schedules
    assert schedule.active is False
    # Switched off, the schedule's runs still waiting are gone: nothing more starts.
    assert waiting_runs() == []
    assert "Deployment" in deploy(prefect_world)
    assert read(prefect_world, SYNC).schedules[0].active is False


def test_prefect_deploy_refuses_without_a_prefect_server(tmp_path):
    result = run(ess_sync("prefect", "deploy"), isolated_env(PREFECT_HOME=str(tmp_path)))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "No Prefect server is configured: PREFECT_API_URL is not set" in words(result.stderr)

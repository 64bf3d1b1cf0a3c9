"""deployments/prefect.yaml on a real Prefect server and process worker, set up as the docs say."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine

from ess.store.log import read_log
from generator import build_payroll
from orchestration.setup import ZOMBIE_AUTOMATION
from tests.integration.conftest import REPO, PrefectWorld, ess_sync, isolated_env, ok, run

SYNC = "sync-from-payroll/process-worker"
RETENTION = "web-api-log-retention/process-worker"
EMPLOYEES = 50
# A flow run on the worker: a workspace process, then the flow's own process, then the sync.
RUN_TIMEOUT = 90


def run_to_the_end(world: PrefectWorld, name: str, parameters: dict[str, Any]) -> Any:
    """Trigger a deployment through the Prefect API and wait for its flow run to end."""
    from prefect.deployments import run_deployment

    with world.api():
        flow_run: Any = run_deployment(
            name=name, parameters=parameters, timeout=RUN_TIMEOUT, poll_interval=1
        )
    assert flow_run.state is not None and flow_run.state.is_final(), (
        f"{name} did not finish within {RUN_TIMEOUT} s (state {flow_run.state!r}).\n{world.logs()}"
    )
    return flow_run


def words(text: str) -> str:
    """The text with Rich's line wrapping undone."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def synced(prefect_world: PrefectWorld) -> Any:
    """A demo payroll registered from the command line and synced by the worker; the flow run."""
    payroll = f"sqlite:///{prefect_world.home / 'demo_payroll.db'}"
    engine = create_engine(payroll)
    build_payroll(engine, employees=EMPLOYEES)
    engine.dispose()
    ok(run(ess_sync("databases", "add", "demo_payroll", "--url", payroll), prefect_world.env))
    return run_to_the_end(prefect_world, SYNC, {"database": "demo_payroll"})


def test_setup_refuses_without_a_prefect_server(tmp_path):
    result = run(ess_sync("prefect", "setup"), isolated_env(PREFECT_HOME=str(tmp_path)))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "No Prefect server is configured: PREFECT_API_URL is not set" in words(result.stderr)


def test_setup_installs_the_block_type_pool_and_zombie_automation_once(prefect_world):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType

    first = words(prefect_world.setup_output)
    assert "Block type Payroll Database: registered." in first
    assert "Work pool ess-sync (process): created." in first
    assert f"Automation {ZOMBIE_AUTOMATION!r}: created." in first
    again = words(ok(run(ess_sync("prefect", "setup"), prefect_world.env)))
    assert again.count(": unchanged.") == 3, again

    with prefect_world.api(), get_client(sync_client=True) as client:
        automations = client.read_automations_by_name(ZOMBIE_AUTOMATION)
        pool = client.read_work_pool("ess-sync")
        block_type = client.read_block_type_by_slug("payroll-database")
    assert len(automations) == 1
    trigger, action = automations[0].trigger, automations[0].actions[0]
    assert (trigger.posture, trigger.after) == ("Proactive", {"prefect.flow-run.heartbeat"})
    # Prefect's default heartbeat (180 s), three of them missed.
    assert trigger.within == timedelta(seconds=540)
    assert (action.type, action.state) == ("change-flow-run-state", StateType.CRASHED)
    assert pool.type == "process"
    assert block_type.name == "Payroll Database"


def test_the_deployments_run_the_flows_from_this_checkout(prefect_world):
    from prefect.client.orchestration import get_client

    with prefect_world.api(), get_client(sync_client=True) as client:
        deployments = {
            f"{client.read_flow(d.flow_id).name}/{d.name}": d for d in client.read_deployments()
        }
    assert sorted(deployments) == sorted(prefect_world.deployed)
    workdir = {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
    for deployment in deployments.values():
        assert deployment.work_pool_name == "ess-sync"
        assert deployment.pull_steps == [workdir]
    sync = deployments[SYNC]
    assert sync.parameter_openapi_schema["required"] == ["database"]
    database = sync.parameter_openapi_schema["properties"]["database"]
    assert "registered name" in database["description"]
    assert [(s.active, s.schedule.cron) for s in sync.schedules] == [(False, "0 2 * * *")]
    if RETENTION in deployments:
        assert [s.active for s in deployments[RETENTION].schedules] == [True]


def test_a_worker_runs_sync_from_payroll_to_job_completed(synced):
    assert synced.state.is_completed(), synced.state.message
    log = [row.message for row in read_log("demo_payroll", limit=500)]
    assert log[0] == "Job Started."
    assert log[-1] == "Job Completed."
    imported = next(m for m in log if m.startswith("Imported employees:"))
    added = re.search(r"(\d+) added", imported)
    assert added is not None and int(added.group(1)) > 0, imported


def test_the_sync_leaves_its_summary_as_an_artifact(prefect_world, synced):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    runs = FlowRunFilter(id=FlowRunFilterId(any_=[synced.id]))
    with prefect_world.api(), get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(flow_run_filter=runs)
    by_key = {a.key: a for a in artifacts}
    summary = by_key["sync-from-payroll-summary-demo-payroll"]
    assert summary.type == "markdown"
    assert "**Result:** Job Completed." in str(summary.data)
    assert by_key["sync-from-payroll-log-demo-payroll"].type == "table"
    assert by_key["sync-from-payroll-progress-demo-payroll"].type == "progress"


def test_a_worker_runs_web_api_log_retention(prefect_world):
    assert RETENTION in prefect_world.deployed
    flow_run = run_to_the_end(prefect_world, RETENTION, {})
    assert flow_run.state.is_completed(), flow_run.state.message
    newest = read_log(limit=1)
    assert newest and newest[0].payroll_database is None, newest

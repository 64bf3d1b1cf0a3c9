"""deployments/prefect.yaml on a real Prefect server and process worker, set up as the docs say."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine

from ess.store.log import read_log
from generator import build_payroll
from orchestration.deployments import MANAGED_TAG
from orchestration.server import TREAT_AS_REMOTE, Exposure, answers_without_auth, check_exposure
from orchestration.setup import ZOMBIE_AUTOMATION
from tests.integration.conftest import (
    REPO,
    PrefectWorld,
    ess_sync,
    isolated_env,
    ok,
    run,
    run_to_the_end,
    words,
)
from tests.support import markdown_shown

# demo_payroll's own deployment, made by `databases add` (orchestration/deployments.py).
SYNC = "sync-from-payroll/demo_payroll"
RETENTION = "web-api-log-retention/process-worker"
EMPLOYEES = 50


def demo_payroll_url(world: PrefectWorld) -> str:
    """The demo payroll's connection string: the secret its Payroll Database block holds."""
    return f"sqlite:///{world.home / 'demo_payroll.db'}"


@pytest.fixture(scope="module")
def synced(prefect_world: PrefectWorld) -> Any:
    """A demo payroll registered from the command line and synced by the worker; the flow run."""
    payroll = demo_payroll_url(prefect_world)
    engine = create_engine(payroll)
    build_payroll(engine, employees=EMPLOYEES)
    engine.dispose()
    ok(run(ess_sync("databases", "add", "demo_payroll", "--url", payroll), prefect_world.env))
    # The database is the deployment's: run with no parameters, as the UI's Quick run does.
    return run_to_the_end(prefect_world, SYNC, {})


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
    # Per-database deployments (other tests' databases) are ess-sync's, not the file's.
    shipped = {n: d for n, d in deployments.items() if MANAGED_TAG not in d.tags}
    assert sorted(shipped) == sorted(prefect_world.deployed)
    workdir = {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
    for deployment in deployments.values():
        assert deployment.work_pool_name == "ess-sync"
        assert deployment.pull_steps == [workdir]
    # The shipped schedules never point at a database: those are `ess-sync schedule`'s.
    for deployment in shipped.values():
        assert all("database" not in s.parameters for s in deployment.schedules), deployment
    if RETENTION in deployments:
        assert [s.active for s in deployments[RETENTION].schedules] == [True]


def test_a_database_s_deployment_asks_nothing_and_hides_the_job_id(prefect_world, synced):
    from prefect.client.orchestration import get_client

    with prefect_world.api(), get_client(sync_client=True) as client:
        sync = client.read_deployment_by_name(SYNC)
    assert sync.parameters == {"database": "demo_payroll"}
    database = sync.parameter_openapi_schema["properties"]["database"]
    assert "registered name" in database["description"]
    assert "job_id" not in sync.parameter_openapi_schema["properties"]


def test_a_worker_runs_sync_from_payroll_to_job_completed(synced):
    assert synced.state.is_completed(), synced.state.message
    log = [row.message for row in read_log("demo_payroll", limit=500)]
    assert log[0] == "Job Started."
    assert log[-1] == "Job Completed."
    imported = next(m for m in log if m.startswith("Imported employees:"))
    added = re.search(r"(\d+) added", imported)
    assert added is not None and int(added.group(1)) > 0, imported


def test_a_deployment_run_is_named_and_tagged_for_its_database(synced):
    assert synced.name.startswith("sync demo_payroll ")
    assert "database:demo_payroll" in synced.tags


def test_a_deployment_run_for_a_misspelled_database_fails_in_one_sentence(prefect_world, synced):
    import sqlalchemy as sa

    from ess.database import ess_engine
    from ess.schema import employee, payroll_database, sync_job, web_api_log

    def rows():
        with ess_engine().connect() as conn:
            return [
                conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (payroll_database, employee, sync_job, web_api_log)
            ]

    before = rows()
    flow_run = run_to_the_end(prefect_world, SYNC, {"database": "demo-payroll"})
    assert flow_run.state.is_failed()
    # The world is shared: other modules' databases are registered too.
    message = flow_run.state.message
    assert message.startswith("Unknown payroll database 'demo-payroll': the registered ones are ")
    assert "demo_payroll" in message and "\n" not in message
    assert message.endswith(". Register it with ess-sync databases add.")
    assert rows() == before


def test_the_sync_leaves_its_summary_as_an_artifact(prefect_world, synced):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    runs = FlowRunFilter(id=FlowRunFilterId(any_=[synced.id]))
    with prefect_world.api(), get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(flow_run_filter=runs)
    by_key = {a.key: a for a in artifacts}
    summary = by_key["sync-from-payroll-summary-demo-payroll"]
    assert summary.type == "markdown"
    assert "Result: Job Completed." in markdown_shown(str(summary.data))
    assert by_key["sync-from-payroll-log-demo-payroll"].type == "table"
    assert by_key["sync-from-payroll-progress-demo-payroll"].type == "progress"


def test_a_worker_runs_web_api_log_retention(prefect_world):
    assert RETENTION in prefect_world.deployed
    flow_run = run_to_the_end(prefect_world, RETENTION, {})
    assert flow_run.state.is_completed(), flow_run.state.message
    newest = read_log(limit=1)
    assert newest and newest[0].payroll_database is None, newest


def test_an_unauthenticated_client_gets_no_payroll_connection_string(prefect_world, synced):
    secrets_query = {"include_secrets": True}
    url = f"{prefect_world.api_url}/block_documents/filter"
    refused = httpx.post(url, json=secrets_query, timeout=10)
    assert refused.status_code == 401, refused.text
    assert demo_payroll_url(prefect_world) not in refused.text
    # The same request with the auth string does return it: the refusal is what hides it.
    allowed = httpx.post(
        url, json=secrets_query, timeout=10, auth=tuple(prefect_world.auth_string.split(":", 1))
    )
    assert allowed.status_code == 200
    assert demo_payroll_url(prefect_world) in allowed.text


def test_the_worker_s_flow_run_processes_inherit_the_auth_string(prefect_world, synced):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    # The flow-run process reports its own states and logs: on a server demanding basic
    # auth it gets that far only with the worker's PREFECT_API_AUTH_STRING.
    logs = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[synced.id]))
    with prefect_world.api(), get_client(sync_client=True) as client:
        sent = client.read_logs(log_filter=logs)
    assert synced.state.is_completed(), synced.state.message
    assert any("Job Completed." in log.message for log in sent), [log.message for log in sent]


def test_the_probe_tells_an_open_server_from_one_that_demands_auth(prefect_world, prefect_api):
    from prefect.settings import get_current_settings

    open_server = get_current_settings().api.url
    assert open_server and answers_without_auth(open_server)
    assert not answers_without_auth(prefect_world.api_url)
    # On loopback only this machine can reach it: allowed, open or not.
    assert check_exposure(open_server) is Exposure.LOOPBACK


def test_setup_refuses_a_remote_server_that_answers_anyone(prefect_world, prefect_api):
    from prefect.settings import get_current_settings

    open_server = str(get_current_settings().api.url)
    # Only 127.0.0.1 is at hand: the knob makes setup judge the server as a remote one.
    env = isolated_env(PREFECT_HOME=str(prefect_world.home / "other-home"))
    env.update({"PREFECT_API_URL": open_server, TREAT_AS_REMOTE: "1"})
    result = run(ess_sync("prefect", "setup"), env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        f"Refusing to use the Prefect server at {open_server}: it can be reached from other "
        "machines and answers without authentication" in words(result.stderr)
    )
    assert "Block type" not in result.stdout


def test_setup_accepts_a_remote_server_that_demands_auth(prefect_world):
    result = run(ess_sync("prefect", "setup"), {**prefect_world.env, TREAT_AS_REMOTE: "1"})
    output = words(ok(result))
    assert "(it requires authentication, but over plain HTTP:" in output
    assert output.count(": unchanged.") == 3, output


def test_setup_without_the_auth_string_says_which_setting_is_missing(prefect_world):
    env = {k: v for k, v in prefect_world.env.items() if k != "PREFECT_API_AUTH_STRING"}
    result = run(ess_sync("prefect", "setup"), env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "refused this machine (401 Unauthorized): set PREFECT_API_AUTH_STRING" in words(
        result.stderr
    )

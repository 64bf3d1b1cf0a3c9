import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.main import app
from ess.store.jobs import take_job
from jobs.kinds import SYNC_FROM_PAYROLL
from tests.support import execute, fill_lookups

runner = CliRunner()
PASSWORD = "Sup3r-S3cret-pw"


def invoke(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def acme(ess, payroll_sqlite, prefect_api):
    fill_lookups(payroll_sqlite)
    result = invoke("databases", "add", "acme_payroll", "--url", payroll_sqlite)
    assert result.exit_code == 0, result.output
    return payroll_sqlite


def test_a_registered_database_is_listed_without_its_password(ess, prefect_api, postgres_database):
    url = f"postgresql+psycopg://payroll:{PASSWORD}@127.0.0.1:5432/{postgres_database}"
    assert invoke("databases", "add", "acme_payroll", "--url", url).exit_code == 0
    listed = invoke("databases", "list")
    as_json = invoke("databases", "list", "--json")
    assert "acme_payroll" in listed.output
    assert PASSWORD not in listed.output + as_json.output
    assert json.loads(as_json.output)[0]["connection"].startswith(
        "postgresql+psycopg://payroll:***@"
    )


def test_a_bad_database_name_is_refused_with_the_rule(ess, prefect_api):
    result = runner.invoke(app, ["databases", "add", "Acme Payroll", "--url", "sqlite:///x.db"])
    assert result.exit_code == 2
    assert "not a valid payroll database name" in result.output


def test_run_exits_zero_when_the_job_completes(acme):
    result = invoke("run", "acme_payroll")
    assert result.exit_code == 0
    assert "Job Completed." in result.output


def test_run_exits_non_zero_when_the_job_fails(acme):
    execute(acme, "DROP TABLE gender")
    result = invoke("run", "acme_payroll")
    assert result.exit_code == 1
    assert "Job Failed: Importing gender failed" in result.output


def test_run_of_an_unknown_database_says_which_exist(acme):
    result = runner.invoke(app, ["run", "nowhere"])
    assert result.exit_code == 2
    assert "No payroll database is registered as 'nowhere'" in result.output
    assert "acme_payroll" in result.output


def test_a_second_run_is_answered_already_running_within_two_seconds(acme):
    take_job("acme_payroll", SYNC_FROM_PAYROLL.name, flow_run_id="held-by-test")
    started = time.monotonic()
    result = runner.invoke(app, ["run", "acme_payroll"])
    elapsed = time.monotonic() - started
    assert result.exit_code == 3
    assert "Job Not Started: a sync of acme_payroll is already running" in result.output
    assert elapsed < 2


@pytest.mark.parametrize("ess", ["sqlite"], indirect=True)
def test_a_run_while_another_job_writes_to_ess_on_sqlite_is_told_ess_is_busy(
    acme, ess, monkeypatch
):
    from ess.database import dispose_engines
    from flows.sync_from_payroll import sync_from_payroll

    monkeypatch.setattr("ess.database.SQLITE_BUSY_SECONDS", 1)
    dispose_engines()  # the engines made from here on wait 1 s for the write lock
    # Another job's long write step (a first import of another payroll database) holds
    # SQLite's one write lock, as this connection does.
    writer = sqlite3.connect(sa.make_url(ess).database, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        result = runner.invoke(app, ["run", "acme_payroll"])
        state = sync_from_payroll(database="acme_payroll", return_state=True)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    busy = (
        "Job Not Started: ESS is busy. Another job has been writing to it for over 1 seconds, "
        "and ESS on SQLite takes one write at a time."
    )
    assert result.exit_code == 3, result.output
    assert " ".join(result.output.split()).startswith(busy), result.output
    assert "Traceback" not in result.output and "UPDATE" not in result.output
    # A scheduled run did not sync its database: Failed, so its notification says so.
    assert state.is_failed() and state.message.startswith(busy), state
    assert invoke("run", "acme_payroll").exit_code == 0


def test_status_and_log_report_the_last_job(acme):
    invoke("run", "acme_payroll")
    status = json.loads(invoke("status", "--json").output)
    assert status[0]["database"] == "acme_payroll"
    assert status[0]["last_job_status"] == "completed"
    assert status[0]["last_sync_from_payroll"] is not None
    rows = json.loads(invoke("log", "acme_payroll", "--json", "--limit", "3").output)
    assert [r["message"] for r in rows][-1] == "Job Completed."
    assert len(rows) == 3
    assert "Sync status" in invoke("status").output


def test_a_lookup_list_is_served_through_the_cache(acme):
    invoke("run", "acme_payroll")
    first = json.loads(invoke("lookups", "acme_payroll", "state", "--json").output)
    assert [r["state_code"] for r in first] == ["NSW", "QLD", "VIC"]
    execute(acme, "DELETE FROM state WHERE state_code = 'QLD'")
    invoke("run", "acme_payroll")
    after = json.loads(invoke("lookups", "acme_payroll", "state", "--json").output)
    assert [r["state_code"] for r in after] == ["NSW", "VIC"]


def test_commands_that_need_no_flow_never_import_prefect(acme):
    invoke("run", "acme_payroll")
    # A fresh process, as `ess-sync` starts: the defaults are set before Prefect is imported.
    probe = (
        "import os, sys; from typer.testing import CliRunner; from cli.main import app; "
        "import jobs.__main__; "
        "assert 'prefect' not in sys.modules, 'importing the CLI imported Prefect'; "
        "assert os.environ['PREFECT_SERVER_ANALYTICS_ENABLED'] == 'false'; "
        "commands = [['status'], ['log', 'acme_payroll'], ['databases', 'list'], "
        "['rejects', 'acme_payroll'], ['show', 'employee', 'acme_payroll', 'E000001']]; "
        "codes = [CliRunner().invoke(app, c).exit_code for c in commands]; "
        "assert codes == [0, 0, 0, 0, 2], codes; "  # no such employee: exit 2, still no Prefect
        # ESS is at its newest revision: nobody needed alembic (or FastAPI) to find that out.
        "print('prefect' in sys.modules, 'alembic' in sys.modules, 'fastapi' in sys.modules); "
        # Nor SQL Server's SQLAlchemy dialect (ESS's schema names it; loading it costs 35 ms).
        "print('sqlalchemy.dialects.mssql' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_SERVER_ANALYTICS_ENABLED"}
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.splitlines() == ["False False False", "False"]

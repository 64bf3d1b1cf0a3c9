"""`ess-sync schedule` and `status` against a real ESS; Prefect's part is tests/integration's."""

import json

import pytest
from typer.testing import CliRunner

from cli.main import app
from ess.store.schedules import forget_schedules, schedules_of

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


def words(text):
    return " ".join(text.split())


@pytest.fixture
def acme(ess, payroll_sqlite, prefect_api):
    result = invoke("databases", "add", "acme_payroll", "--url", payroll_sqlite)
    assert result.exit_code == 0, result.output
    return "acme_payroll"


def test_a_server_without_the_work_pool_gets_no_deployment_and_says_what_to_run(acme, ess):
    # The session's Prefect server never had `ess-sync prefect setup`.
    result = invoke("databases", "add", "acme_payroll", "--url", ess)
    assert result.exit_code == 0, result.output
    assert "no 'ess-sync' work pool to run deployments on: run `ess-sync prefect setup`" in (
        words(result.output)
    )


def test_a_schedule_is_kept_in_ess_with_sydney_as_its_default_timezone(acme):
    result = invoke("schedule", acme, "--sync", "0 2 * * *", "--leave", "0  3 * * *")
    assert result.exit_code == 0, result.output
    assert [(s.kind, s.cron, s.timezone, s.active) for s in schedules_of(acme)] == [
        ("sync-from-payroll", "0 2 * * *", "Australia/Sydney", True),
        ("sync-leave-balances", "0 3 * * *", "Australia/Sydney", True),
    ]
    assert "sync-from-payroll of acme_payroll: '0 2 * * *' in Australia/Sydney, next" in (
        words(result.output)
    )


def test_the_weekly_check_against_payroll_is_scheduled_and_forgotten_like_the_syncs(acme):
    result = invoke("schedule", acme, "--reconcile", "0 3 * * 0")
    assert result.exit_code == 0, result.output
    assert [(s.kind, s.cron, s.active) for s in schedules_of(acme)] == [
        ("reconcile", "0 3 * * 0", True)
    ]
    assert invoke("schedule", acme, "--reconcile", "off").exit_code == 0
    assert schedules_of(acme) == []


def test_off_keeps_the_crons_and_on_brings_them_back(acme):
    invoke("schedule", acme, "--sync", "0 2 * * *")
    assert invoke("schedule", acme, "--off").exit_code == 0
    assert [(s.cron, s.active) for s in schedules_of(acme)] == [("0 2 * * *", False)]
    invoke("schedule", acme, "--on", "--timezone", "Australia/Perth")
    assert [(s.timezone, s.active) for s in schedules_of(acme)] == [("Australia/Perth", True)]
    invoke("schedule", acme, "--sync", "off")
    assert schedules_of(acme) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sync", "0 25 * * *"], "'0 25 * * *' is not a valid cron expression: Bad hour."),
        (["--leave", "daily"], "'daily' is not a cron expression of five fields"),
        (["--sync", "0 2 * * *", "--timezone", "Sydney"], "'Sydney' is not an IANA timezone"),
        (["--off", "--sync", "0 2 * * *"], "--off and --on switch the existing schedules"),
    ],
)
def test_a_schedule_that_cannot_run_exits_2_saying_why_and_keeps_nothing(acme, args, message):
    result = invoke("schedule", acme, *args)
    assert result.exit_code == 2
    assert message in words(result.output)
    assert schedules_of(acme) == []


def test_an_unknown_database_cannot_be_scheduled(acme):
    result = invoke("schedule", "acme-payroll", "--sync", "0 2 * * *")
    assert result.exit_code == 2
    assert "No payroll database is registered as 'acme-payroll'" in words(result.output)


def test_status_shows_each_database_s_next_scheduled_run_in_its_timezone(acme):
    invoke("schedule", acme, "--sync", "30 1 * * *", "--timezone", "UTC")
    [row] = json.loads(invoke("status", "--json").output)
    assert row["next_scheduled_run"].endswith("T01:30:00+00:00")
    assert "01:30 UTC" in invoke("status").output
    forget_schedules(acme)
    [row] = json.loads(invoke("status", "--json").output)
    assert row["next_scheduled_run"] is None
    assert "not scheduled" in invoke("status").output

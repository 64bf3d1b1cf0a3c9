from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core import messages
from ess.database import ess_engine
from ess.schema import LOOKUP_TABLES, ess_cache, payroll_database, sync_job
from ess.store.cache import TableCache
from ess.store.jobs import take_job
from ess.store.log import read_log
from ess.store.registry import get_database, register_database
from flows.sync_from_payroll import sync_from_payroll
from jobs.kinds import SYNC_FROM_PAYROLL
from tests.support import execute, fill_lookups, payroll_schema_sql

EXPECTED_FIRST_RUN = [
    "Job Started.",
    "Clearing cache.",
    "Cleared cache: 0 entries removed.",
    messages.IMPORTING_LOOKUPS,
    "Imported country: 2 added, 0 updated, 0 deactivated, 0 unchanged.",
    "Imported state: 3 added, 0 updated, 0 deactivated, 0 unchanged.",
    "Imported gender: 3 added, 0 updated, 0 deactivated, 0 unchanged.",
    "Imported super fund: 3 added, 0 updated, 0 deactivated, 0 unchanged.",
    "Imported cost account: 2 added, 0 updated, 0 deactivated, 0 unchanged.",
    "Imported job classification: 1 added, 0 updated, 0 deactivated, 0 unchanged.",
    "Imported employment type: 3 added, 0 updated, 0 deactivated, 0 unchanged.",
    "Imported location: 2 added, 0 updated, 0 deactivated, 0 unchanged.",
    "Imported pay point: 1 added, 0 updated, 0 deactivated, 0 unchanged.",
    "Imported leave type: 2 added, 0 updated, 0 deactivated, 0 unchanged.",
    "Imported leave reason: 3 added, 0 updated, 0 deactivated, 0 unchanged.",
    "Importing pay frequency.",
    "Imported pay frequency: 3 added, 0 updated, 0 deactivated, 0 unchanged.",
    "Importing employees.",
    "Imported employees: 0 added, 0 updated, 0 terminated, 0 unchanged, 0 rejected.",
    "Job Completed.",
]


@pytest.fixture
def acme(ess, payroll_sqlite, prefect_api):
    fill_lookups(payroll_sqlite)
    register_database("acme_payroll", url=payroll_sqlite)
    return payroll_sqlite


def _job_messages(database, job_id=None):
    rows = read_log(database, limit=500)
    job_id = job_id or max(r.job_id for r in rows if r.job_id)
    return [r.message for r in rows if r.job_id == job_id]


def _rows(table, database):
    t = LOOKUP_TABLES[table]
    with ess_engine().connect() as conn:
        return conn.execute(sa.select(t).where(t.c.payroll_database == database)).mappings().all()


def test_a_first_sync_logs_every_step_in_order(acme):
    state = sync_from_payroll(database="acme_payroll", return_state=True)
    assert state.is_completed()
    assert _job_messages("acme_payroll") == EXPECTED_FIRST_RUN
    assert {r["fund_code"] for r in _rows("super_fund", "acme_payroll")} == {
        "AUSSUP",
        "HOSTPLUS",
        "SMSF01",
    }


def test_a_second_sync_of_an_unchanged_payroll_changes_nothing(acme):
    sync_from_payroll(database="acme_payroll")
    before = _rows("state", "acme_payroll")
    sync_from_payroll(database="acme_payroll")
    counts_rows = [m for m in _job_messages("acme_payroll") if m.startswith("Imported ")]
    counts_rows = [m for m in counts_rows if not m.startswith("Imported employees")]
    assert len(counts_rows) == 12
    assert all(" 0 added, 0 updated, 0 deactivated," in m for m in counts_rows)
    assert _rows("state", "acme_payroll") == before


def test_payroll_changes_are_added_updated_and_deactivated_never_deleted(acme):
    sync_from_payroll(database="acme_payroll")
    execute(acme, "UPDATE super_fund SET fund_name = 'Hostplus Pty' WHERE fund_code = 'HOSTPLUS'")
    execute(acme, "DELETE FROM super_fund WHERE fund_code = 'SMSF01'")
    execute(
        acme, "INSERT INTO super_fund VALUES ('REST', 'Rest', '62653671394', 'RES0103AU', 0, 1)"
    )
    sync_from_payroll(database="acme_payroll")
    assert "Imported super fund: 1 added, 1 updated, 1 deactivated, 1 unchanged." in (
        _job_messages("acme_payroll")
    )
    funds = {r["fund_code"]: r for r in _rows("super_fund", "acme_payroll")}
    assert funds["HOSTPLUS"]["fund_name"] == "Hostplus Pty"
    assert funds["SMSF01"]["in_payroll"] is False
    assert funds["REST"]["in_payroll"] is True


def test_a_failed_sync_says_why_and_leaves_the_last_sync_date(acme):
    sync_from_payroll(database="acme_payroll")
    completed_at = get_database("acme_payroll").last_sync_from_payroll
    assert completed_at is not None
    execute(acme, "DROP TABLE cost_account")
    state = sync_from_payroll(database="acme_payroll", return_state=True)
    assert state.is_failed()
    last = _job_messages("acme_payroll")[-1]
    assert last.startswith(
        "Job Failed: Importing cost account failed: payroll database acme_payroll:"
    )
    assert "cost_account" in last
    assert get_database("acme_payroll").last_sync_from_payroll == completed_at


def test_the_last_sync_date_moves_when_a_sync_completes(acme):
    assert get_database("acme_payroll").last_sync_from_payroll is None
    before = datetime.now(UTC)
    sync_from_payroll(database="acme_payroll")
    moved = get_database("acme_payroll").last_sync_from_payroll
    assert moved is not None and moved >= before - timedelta(seconds=1)


def test_clearing_the_cache_empties_that_databases_entries_and_no_others(acme):
    cache = TableCache()
    cache.put("acme_payroll", "lookup:state", "[]")
    cache.put("acme_payroll", "lookup:country", "[]")
    cache.put("other_payroll", "lookup:state", "[]")
    sync_from_payroll(database="acme_payroll")
    assert "Cleared cache: 2 entries removed." in _job_messages("acme_payroll")
    with ess_engine().connect() as conn:
        left = conn.execute(sa.select(ess_cache.c.payroll_database)).scalars().all()
    assert left == ["other_payroll"]


def test_two_payroll_databases_sync_independently(acme, payroll_sqlite, tmp_path):
    other = f"sqlite:///{tmp_path / 'beta.db'}"
    engine = sa.create_engine(other)
    with engine.begin() as conn:
        for statement in payroll_schema_sql():
            conn.exec_driver_sql(statement)
    engine.dispose()
    fill_lookups(other)
    execute(
        other, "UPDATE country SET description = 'Aotearoa New Zealand' WHERE country_code='NZL'"
    )
    register_database("beta_payroll", url=other)
    sync_from_payroll(database="acme_payroll")
    acme_before = _rows("country", "acme_payroll")
    sync_from_payroll(database="beta_payroll")
    execute(other, "DELETE FROM country WHERE country_code = 'AUS'")
    sync_from_payroll(database="beta_payroll")
    assert _rows("country", "acme_payroll") == acme_before
    beta = {r["country_code"]: r for r in _rows("country", "beta_payroll")}
    assert beta["NZL"]["description"] == "Aotearoa New Zealand"
    assert beta["AUS"]["in_payroll"] is False


def test_a_sync_requested_while_another_runs_is_not_started(acme):
    holder = take_job("acme_payroll", SYNC_FROM_PAYROLL.name, flow_run_id="run-held-by-test")
    state = sync_from_payroll(database="acme_payroll", return_state=True)
    assert state.is_cancelled()
    assert "Job Not Started: a sync of acme_payroll is already running" in state.message
    assert "run run-held-by-test" in state.message
    refused_rows = [r for r in read_log("acme_payroll") if r.message.startswith("Job Not Started")]
    assert len(refused_rows) == 1
    with ess_engine().connect() as conn:
        running = (
            conn.execute(sa.select(sync_job.c.id).where(sync_job.c.status == "running"))
            .scalars()
            .all()
        )
    assert running == [holder.id]


def test_a_job_whose_heartbeat_stopped_is_abandoned_and_the_next_sync_runs(acme):
    dead = take_job("acme_payroll", SYNC_FROM_PAYROLL.name)
    with ess_engine().begin() as conn:
        conn.execute(
            sa.update(sync_job)
            .where(sync_job.c.id == dead.id)
            .values(heartbeat_at=datetime.now(UTC) - timedelta(minutes=5))
        )
    assert sync_from_payroll(database="acme_payroll", return_state=True).is_completed()
    abandoned = _job_messages("acme_payroll", dead.id)
    assert abandoned[-1].startswith("Job Abandoned: no heartbeat since ")


def test_an_unknown_database_fails_with_a_clear_message(ess, prefect_api):
    # A Failed state in one sentence, not a traceback: the run may come from the Prefect UI.
    state = sync_from_payroll(database="nowhere", return_state=True)
    assert state.is_failed()
    assert state.message == (
        "Unknown payroll database 'nowhere': the registered ones are none yet. "
        "Register it with ess-sync databases add."
    )
    with ess_engine().connect() as conn:
        assert conn.execute(sa.select(payroll_database)).first() is None

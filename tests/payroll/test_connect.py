"""Finding a payroll database's block: once per job, with words a person can act on."""

import pytest
from pydantic import SecretStr

from blocks.payroll_database import PayrollDatabase, block_name_for
from ess.store.registry import UnknownDatabase, get_database, register_database
from jobs.context import JobContext, job_context
from payroll.connect import load_payroll, unregistered


def test_a_job_loads_a_block_once_and_every_step_shares_it(ess, payroll_sqlite, prefect_api):
    register_database("acme_payroll", url=payroll_sqlite)
    with job_context(JobContext("acme_payroll", 1, 60)):
        first = load_payroll("acme_payroll")
        assert load_payroll("acme_payroll") is first
    with job_context(JobContext("acme_payroll", 2, 60)):
        assert load_payroll("acme_payroll") is not first


def test_outside_a_job_each_load_reads_the_block_as_saved_now(ess, payroll_sqlite, prefect_api):
    register_database("acme_payroll", url=payroll_sqlite, query_timeout_seconds=30)
    assert load_payroll("acme_payroll").query_timeout_seconds == 30
    register_database("acme_payroll", url=payroll_sqlite, query_timeout_seconds=45)
    assert load_payroll("acme_payroll").query_timeout_seconds == 45


def test_an_unregistered_database_names_the_registered_ones(ess, payroll_sqlite, prefect_api):
    register_database("acme_payroll", url=payroll_sqlite)
    with pytest.raises(UnknownDatabase, match=r"'nowhere' \(registered: acme_payroll\)"):
        load_payroll("nowhere")


def test_an_unregistered_name_is_one_sentence_naming_the_registered_ones(
    ess, payroll_sqlite, prefect_api
):
    assert unregistered("acme_payroll") is not None
    register_database("acme_payroll", url=payroll_sqlite)
    assert unregistered("acme_payroll") is None
    assert unregistered("Acme Payroll; --") == (
        "Unknown payroll database 'Acme Payroll; --': the registered ones are acme_payroll. "
        "Register it with ess-sync databases add."
    )


def test_a_block_made_in_the_prefect_ui_registers_nothing(ess, payroll_sqlite, prefect_api):
    PayrollDatabase(
        database_name="ui_payroll",
        connection_kind="url",
        connection_string=SecretStr(payroll_sqlite),
    ).save(block_name_for("ui_payroll"), overwrite=True)
    assert "none yet" in (unregistered("ui_payroll") or "")
    with pytest.raises(UnknownDatabase):
        get_database("ui_payroll")


def test_a_sync_loads_its_payroll_block_once_for_all_its_steps(
    ess, payroll_sqlite, prefect_api, monkeypatch
):
    from flows.sync_from_payroll import sync_from_payroll
    from tests.support import fill_lookups

    fill_lookups(payroll_sqlite)
    register_database("acme_payroll", url=payroll_sqlite)
    loads = []
    load = PayrollDatabase.load.__func__  # type: ignore[attr-defined]

    def counted(cls, name, *args, **kwargs):
        loads.append(name)
        return load(cls, name, *args, **kwargs)

    monkeypatch.setattr(PayrollDatabase, "load", classmethod(counted))
    assert sync_from_payroll(database="acme_payroll", return_state=True).is_completed()
    assert loads == [block_name_for("acme_payroll")]


def test_a_sync_whose_block_is_gone_from_prefect_fails_in_its_first_payroll_step_saying_so(
    ess, payroll_sqlite, prefect_api
):
    from blocks.payroll_database import delete_block
    from ess.store.log import read_log
    from flows.sync_from_payroll import sync_from_payroll
    from tests.support import fill_lookups

    fill_lookups(payroll_sqlite)
    register_database("acme_payroll", url=payroll_sqlite)
    assert delete_block("acme_payroll")
    # Fetched ahead while the job starts and clears the cache: the failure is still the
    # first step that reads payroll, in the words load_payroll has for it.
    state = sync_from_payroll(database="acme_payroll", return_state=True)
    assert state.is_failed()
    messages = [r.message for r in read_log("acme_payroll", limit=100)]
    assert "Clearing cache." in messages
    assert messages[-1].startswith("Job Failed: Importing ")
    assert "its connection block 'payroll-acme-payroll' is missing from Prefect" in messages[-1]
    # A retry (here, the next sync after it is registered again) loads the block afresh.
    register_database("acme_payroll", url=payroll_sqlite)
    assert sync_from_payroll(database="acme_payroll", return_state=True).is_completed()

"""`ess-sync databases remove`: the registration and everything ESS holds from the database,
in one transaction, after a confirmation, never while a job holds it (SQLite and PostgreSQL)."""

import socket

import sqlalchemy as sa
from typer.testing import CliRunner

import cli.databases
from blocks.payroll_database import PayrollDatabase, block_name_for
from cli.main import app
from core.lookups import spec_named
from ess.database import ess_engine
from ess.schema import metadata, payroll_database
from ess.store.jobs import take_job
from ess.store.lookup_lists import lookup_list
from ess.store.registry import register_database
from flows.sync_from_payroll import sync_from_payroll
from flows.sync_leave_balances import sync_leave_balances
from generator import build_payroll
from jobs.kinds import SYNC_FROM_PAYROLL

runner = CliRunner()


def _counts(database):
    """Rows per ESS table that belong to the database (the registration included)."""
    with ess_engine().connect() as conn:
        counts = {
            t.name: conn.execute(
                sa.select(sa.func.count()).select_from(t).where(t.c.payroll_database == database)
            ).scalar_one()
            for t in metadata.sorted_tables
            if "payroll_database" in t.c
        }
        counts["payroll_database"] = conn.execute(
            sa.select(sa.func.count())
            .select_from(payroll_database)
            .where(payroll_database.c.name == database)
        ).scalar_one()
    return counts


def _synced(url, database, employees):
    engine = sa.create_engine(url)
    build_payroll(engine, employees=employees, leave_types_per_employee=1)
    engine.dispose()
    register_database(database, url=url)
    assert sync_from_payroll(database=database, return_state=True).is_completed()
    assert sync_leave_balances(database=database, return_state=True).is_completed()
    lookup_list(database, spec_named("state"))  # a cache entry


def test_remove_deletes_the_database_s_ess_data_and_no_other_s(
    ess, payroll_sqlite, tmp_path, prefect_api
):
    _synced(payroll_sqlite, "acme_payroll", 30)
    _synced(f"sqlite:///{tmp_path / 'other.db'}", "other_payroll", 12)
    before = _counts("acme_payroll")
    for table in ("employee", "leave_balance", "state", "ess_cache", "sync_job", "web_api_log"):
        assert before[table] > 0, table
    other = _counts("other_payroll")

    result = runner.invoke(app, ["databases", "remove", "acme_payroll", "--yes"])

    assert result.exit_code == 0, result.output
    assert "Removed payroll database acme_payroll: 30 employee(s)" in result.output
    assert set(_counts("acme_payroll").values()) == {0}
    assert _counts("other_payroll") == other
    listed = runner.invoke(app, ["databases", "list", "--json"]).output
    assert "acme_payroll" not in listed and "other_payroll" in listed


def test_remove_is_refused_while_a_job_holds_the_database(ess, payroll_sqlite, prefect_api):
    _synced(payroll_sqlite, "acme_payroll", 5)
    take_job("acme_payroll", SYNC_FROM_PAYROLL.name)
    before = _counts("acme_payroll")
    result = runner.invoke(app, ["databases", "remove", "acme_payroll", "--yes"])
    assert result.exit_code == 3, result.output
    assert result.output.startswith("Job Not Started: a sync of acme_payroll is already running")
    assert _counts("acme_payroll") == before
    assert _block("acme_payroll") is not None


def test_remove_without_a_terminal_or_yes_refuses_and_removes_nothing(
    ess, payroll_sqlite, prefect_api
):
    register_database("acme_payroll", url=payroll_sqlite)
    result = runner.invoke(app, ["databases", "remove", "acme_payroll"])
    assert result.exit_code == 2
    assert "Not removed: removing acme_payroll deletes its ESS data" in result.output
    assert "--yes" in result.output
    assert _counts("acme_payroll")["payroll_database"] == 1


def test_remove_asks_first_and_a_no_keeps_everything(ess, payroll_sqlite, prefect_api, monkeypatch):
    register_database("acme_payroll", url=payroll_sqlite)
    monkeypatch.setattr(cli.databases, "_interactive", lambda: True)
    kept = runner.invoke(app, ["databases", "remove", "acme_payroll"], input="n\n")
    assert kept.exit_code == 1
    assert "delete everything ESS holds from it" in kept.output
    assert _counts("acme_payroll")["payroll_database"] == 1
    removed = runner.invoke(app, ["databases", "remove", "acme_payroll"], input="y\n")
    assert removed.exit_code == 0, removed.output
    assert _counts("acme_payroll")["payroll_database"] == 0


def test_a_removal_that_fails_removes_nothing_and_frees_the_database(
    ess, payroll_sqlite, prefect_api, monkeypatch
):
    import ess.store.removal as removal

    _synced(payroll_sqlite, "acme_payroll", 5)
    before = _counts("acme_payroll")

    def broken(conn, database):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(removal, "delete_jobs", broken)
    result = runner.invoke(app, ["databases", "remove", "acme_payroll", "--yes"])
    assert isinstance(result.exception, RuntimeError)
    after = _counts("acme_payroll")
    # The removal's own job row and its two log rows are all that was added.
    assert after["employee"] == before["employee"] and after["ess_cache"] == before["ess_cache"]
    assert after["sync_job"] == before["sync_job"] + 1
    assert sync_from_payroll(database="acme_payroll", return_state=True).is_completed()


def _block(database):
    """The database's saved Payroll Database block, or None when Prefect has none."""
    try:
        return PayrollDatabase.load(block_name_for(database))
    except ValueError:  # Prefect's "Unable to find block document named ..."
        return None


def test_remove_deletes_the_database_s_block_and_with_it_its_connection_string(
    ess, payroll_sqlite, tmp_path, prefect_api
):
    register_database("acme_payroll", url=payroll_sqlite)
    register_database("other_payroll", url=f"sqlite:///{tmp_path / 'other.db'}")
    assert _block("acme_payroll").connection_string.get_secret_value() == payroll_sqlite

    result = runner.invoke(app, ["databases", "remove", "acme_payroll", "--yes"])

    assert result.exit_code == 0, result.output
    assert (
        "Payroll Database block payroll-database/payroll-acme-payroll: deleted, with its "
        "connection string." in " ".join(result.output.split())
    )
    assert _block("acme_payroll") is None
    assert _block("other_payroll") is not None


def test_remove_says_so_when_the_database_s_block_was_already_gone(
    ess, payroll_sqlite, prefect_api
):
    register_database("acme_payroll", url=payroll_sqlite)
    PayrollDatabase.delete(block_name_for("acme_payroll"))
    result = runner.invoke(app, ["databases", "remove", "acme_payroll", "--yes"])
    assert result.exit_code == 0, result.output
    assert "payroll-acme-payroll: none saved, nothing to delete." in " ".join(result.output.split())
    assert _counts("acme_payroll")["payroll_database"] == 0


def test_remove_without_prefect_removes_the_ess_data_and_names_the_block_left(
    ess, payroll_sqlite, prefect_api
):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    register_database("acme_payroll", url=payroll_sqlite)
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with temporary_settings({PREFECT_API_URL: f"http://127.0.0.1:{port}/api"}):
        result = runner.invoke(app, ["databases", "remove", "acme_payroll", "--yes"])
    output = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "Removed payroll database acme_payroll" in output
    assert "Prefect did not delete acme_payroll's Payroll Database block" in output
    assert "`prefect block delete payroll-database/payroll-acme-payroll`" in output
    assert payroll_sqlite not in output
    assert _counts("acme_payroll")["payroll_database"] == 0
    assert _block("acme_payroll") is not None

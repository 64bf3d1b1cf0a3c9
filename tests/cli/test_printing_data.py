"""Print data as data: a payroll value is never read as Rich markup by the CLI (issue 13)."""

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.main import app
from generator import build_payroll
from tests.support import execute

runner = CliRunner()
CLOSING_TAG, STYLED = "[/]", "[bold red]x"


def invoke(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def marked(ess, payroll_sqlite, prefect_api):
    """A payroll whose employees carry Rich markup in names and codes; their codes."""
    engine = sa.create_engine(payroll_sqlite)
    build_payroll(engine, employees=6, leave_types_per_employee=1)
    with engine.connect() as conn:
        codes = conn.execute(sa.text("SELECT employee_code FROM employee ORDER BY 1")).scalars()
        codes = list(codes)[:4]
    engine.dispose()
    set_ = "UPDATE employee SET {} = :value WHERE employee_code = :code"
    execute(payroll_sqlite, set_.format("surname"), {"value": CLOSING_TAG, "code": codes[0]})
    execute(payroll_sqlite, set_.format("first_name"), {"value": STYLED, "code": codes[1]})
    # Unknown location codes put the values themselves into the Web API Log's issue rows.
    execute(payroll_sqlite, set_.format("location_code"), {"value": CLOSING_TAG, "code": codes[2]})
    execute(payroll_sqlite, set_.format("location_code"), {"value": STYLED, "code": codes[3]})
    assert invoke("databases", "add", "acme_payroll", "--url", payroll_sqlite).exit_code == 0
    return codes


def test_names_and_codes_holding_rich_markup_print_literally_and_the_run_exits_zero(
    marked, monkeypatch
):
    # One log row per line, so a value is never wrapped. Rich fixes a console's width when
    # COLUMNS is set as it is made (at import), so setting COLUMNS now would not be enough.
    from cli import main

    monkeypatch.setattr(main.console, "_width", 300)
    run = invoke("run", "acme_payroll")
    assert run.exit_code == 0, run.output
    assert "Job Completed." in run.output
    for value in (CLOSING_TAG, STYLED):
        assert f"'{value}'" in run.output  # the issue rows, printed as payroll wrote them
    log = invoke("log", "acme_payroll", "--limit", "200")
    assert log.exit_code == 0, log.output
    assert f"'{CLOSING_TAG}'" in log.output and f"'{STYLED}'" in log.output
    surname = invoke("show", "employee", "acme_payroll", marked[0])
    first_name = invoke("show", "employee", "acme_payroll", marked[1])
    assert surname.exit_code == 0 and CLOSING_TAG in surname.output
    assert first_name.exit_code == 0 and STYLED in first_name.output
    rejects = invoke("rejects", "acme_payroll")
    assert rejects.exit_code == 0 and CLOSING_TAG in rejects.output and STYLED in rejects.output
    assert invoke("status").exit_code == 0


def test_a_completed_job_exits_zero_even_if_its_log_cannot_be_printed(marked, monkeypatch):
    from cli import render

    def broken(*args, **kwargs):
        raise RuntimeError("the terminal went away")

    monkeypatch.setattr(render, "log_table", broken)
    run = runner.invoke(app, ["run", "acme_payroll"])
    assert run.exit_code == 0, run.output
    assert "could not be shown" in run.output

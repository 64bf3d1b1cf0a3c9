"""Reconcile end to end (real SQLite and PostgreSQL ESS): what it reports, what --repair fixes,
and that no secret or markup leaves through any of its outputs."""

import json
import zipfile

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.main import app
from ess.database import ess_engine
from ess.schema import LOOKUP_TABLES, employee
from ess.store.log import read_log
from ess.store.registry import register_database
from flows.sync_from_payroll import sync_from_payroll
from flows.sync_leave_balances import sync_leave_balances
from generator import build_payroll
from tests.support import execute, query_rows

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def acme(ess, payroll_sqlite, prefect_api):
    engine = sa.create_engine(payroll_sqlite)
    build_payroll(engine, employees=40, seed=3, leave_types_per_employee=2, quirks=False)
    engine.dispose()
    register_database("acme_payroll", url=payroll_sqlite)
    assert sync_from_payroll(database="acme_payroll", return_state=True).is_completed()
    assert sync_leave_balances(database="acme_payroll", return_state=True).is_completed()
    return payroll_sqlite


def _ess(statement):
    with ess_engine().begin() as conn:
        conn.execute(statement)


def _reconcile(*options):
    result = invoke("reconcile", "acme_payroll", "--json", *options)
    return result.exit_code, json.loads(result.stdout)


def _messages():
    rows = read_log("acme_payroll", limit=1000)
    last = max(r.job_id for r in rows if r.job_id)
    return [r.message for r in rows if r.job_id == last]


def test_reconcile_reports_exactly_the_drift_and_repair_fixes_the_employees(acme):
    code, report = _reconcile()
    assert (code, report["differences"]) == (0, 0), report["shown"]
    (x, x_surname), (y,), (z,) = (
        query_rows(acme, "SELECT employee_code, surname FROM employee WHERE employee_id = 3")[0],
        query_rows(acme, "SELECT employee_code FROM employee WHERE employee_id = 5")[0],
        query_rows(acme, "SELECT employee_code FROM employee WHERE employee_id = 7")[0],
    )
    [(leave_type, balance)] = query_rows(
        acme,
        "SELECT leave_type_code, balance FROM leave_balance WHERE employee_id = 7 "
        "ORDER BY leave_type_code LIMIT 1",
    )
    [(country, description)] = query_rows(
        acme, "SELECT country_code, description FROM country ORDER BY country_code LIMIT 1"
    )
    # Surname changed in payroll with no change-feed row: a sync of changes never sees it.
    execute(acme, "UPDATE employee SET surname = 'Drifted' WHERE employee_id = 3")
    _ess(sa.delete(employee).where(employee.c.payroll_employee_id == 5))
    countries = LOOKUP_TABLES["country"]
    _ess(
        sa.update(countries)
        .where(countries.c.country_code == country)
        .values(description="Edited by hand")
    )
    execute(
        acme,
        "UPDATE leave_balance SET balance = 99.5 "
        f"WHERE employee_id = 7 AND leave_type_code = '{leave_type}'",
    )
    # ESS owns the mobile once imported: a difference by design, never reported.
    _ess(sa.update(employee).where(employee.c.payroll_employee_id == 9).values(mobile="0400"))

    code, report = _reconcile()
    assert code == 1
    found = {
        (d["table"], d["code"], d["field"], d["payroll_value"], d["ess_value"])
        for d in report["shown"]
    }
    assert found == {
        ("employee", x, "surname", "Drifted", x_surname.strip()),
        ("employee", y, "(only in payroll)", "present", ""),
        ("country", country, "description", description, "Edited by hand"),
        (
            "leave_balance",
            f"{z}/{leave_type.strip()}",
            "balance",
            "99.5000",
            f"{float(balance):.4f}",
        ),
    }
    assert report["differences"] == 4 and report["employees"] == 3
    assert "Reconciled: 4 differences in 3 employees." in _messages()
    employees = next(t for t in report["tables"] if t["table"] == "employee")
    assert employees["only in payroll"] == 1 and employees["fields"] == {
        "(only in payroll)": 1,
        "surname": 1,
    }

    repaired = invoke("run", "acme_payroll", "--repair")
    assert repaired.exit_code == 0, repaired.output
    messages = _messages()
    assert f"Repairing 3 employees found different by reconciliation {report['id']}." in messages
    assert (
        "Imported employees: 1 added, 1 updated, 0 terminated, 1 unchanged, 0 rejected." in messages
    )
    assert sync_leave_balances(database="acme_payroll", return_state=True).is_completed()
    code, report = _reconcile()
    assert (code, report["differences"], report["employees"]) == (0, 0, 0)


def test_repair_without_a_reconciliation_says_so_in_one_sentence(acme):
    result = invoke("run", "acme_payroll", "--repair")
    assert result.exit_code == 0
    assert (
        "Nothing to repair: acme_payroll has not been reconciled "
        "(run `ess-sync reconcile acme_payroll` first)."
    ) in _messages()


def test_a_changed_tfn_is_masked_on_both_sides_in_every_output(acme, tmp_path):
    [(old_tfn,)] = query_rows(acme, "SELECT tax_file_number FROM employee WHERE employee_id = 4")
    new_tfn = "876543210" if not str(old_tfn).endswith("210") else "876543321"
    execute(acme, f"UPDATE employee SET tax_file_number = '{new_tfn}' WHERE employee_id = 4")
    execute(acme, "UPDATE employee SET surname = '<b>x</b>' WHERE employee_id = 6")
    execute(
        acme,
        """UPDATE employee SET surname = '=HYPERLINK("http://x","y")' """
        "WHERE employee_id = 7",
    )
    outputs = {}
    for suffix in ("csv", "xlsx", "html"):
        path = tmp_path / f"report.{suffix}"
        result = invoke("reconcile", "acme_payroll", "-o", str(path))
        assert result.exit_code == 1, result.output
        outputs[f"stdout {suffix}"] = result.output
        if suffix == "xlsx":
            with zipfile.ZipFile(path) as book:
                outputs[suffix] = "".join(book.read(n).decode() for n in book.namelist())
        else:
            outputs[suffix] = path.read_text()
        assert path.stat().st_mode & 0o077 == 0
    fields = invoke("reconcile", "acme_payroll", "--fields")
    outputs["stdout --fields"] = fields.output
    as_json = invoke("reconcile", "acme_payroll", "--json")
    outputs["json"] = as_json.output
    outputs["log"] = "\n".join(r.message for r in read_log("acme_payroll", limit=1000))

    digits = {str(old_tfn).replace(" ", ""), new_tfn}
    for name, text in outputs.items():
        assert not any(d in text.replace(" ", "") for d in digits), name
    masked_new, masked_old = "*****" + new_tfn[-3:], "*****" + str(old_tfn).strip()[-3:]
    for name in ("csv", "xlsx", "html", "json"):
        assert masked_new in outputs[name] and masked_old in outputs[name], name
    assert "&lt;b&gt;x&lt;/b&gt;" in outputs["html"] and "<b>x</b>" not in outputs["html"]
    # Excel runs a CSV cell starting with '=': the report's is marked as text.
    assert "'=HYPERLINK" in outputs["csv"] and ",=HYPERLINK" not in outputs["csv"]


def test_status_and_the_support_bundle_show_the_last_reconciliation(acme, tmp_path):
    execute(acme, "UPDATE employee SET surname = 'Drifted' WHERE employee_id = 3")
    assert invoke("reconcile", "acme_payroll").exit_code == 1
    [status] = json.loads(invoke("status", "--json").stdout)
    assert status["last_reconciliation_differences"] == 1
    assert status["last_reconciled_at"] is not None
    bundle = tmp_path / "case.zip"
    assert invoke("support-bundle", "acme_payroll", "-o", str(bundle)).exit_code == 0
    with zipfile.ZipFile(bundle) as archive:
        reconciliation = json.loads(archive.read("reconciliation.json"))
    assert reconciliation["differences"] == 1 and "shown" not in reconciliation

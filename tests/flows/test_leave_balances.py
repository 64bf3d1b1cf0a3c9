import json
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.main import app
from ess.database import ess_engine
from ess.schema import leave_balance
from ess.store.log import read_log
from ess.store.registry import get_database, register_database
from flows.sync_leave_balances import sync_leave_balances
from tests.support import execute, fill_lookups, insert_rows, payroll_schema_sql, query_rows

EXPECTED = [
    "Job Started.",
    "Start get leave type and reasons from payroll.",
    "Successfully got leave type and reasons from payroll.",
    "Updating leave type and reasons to the database.",
    "Finished updating leave type and reasons to the database.",
    "Retrieving Leave Balances.",
    "Imported leave balances: 3 employees, 5 balances updated, 0 unchanged.",
    "Job Completed.",
]


@pytest.fixture
def payroll(request, ess):
    """Payroll on the engine ESS is on: SQLite (the digests are our function's) and
    PostgreSQL (its own hash)."""
    engine = request.node.callspec.params["ess"]
    return request.getfixturevalue(f"payroll_{engine}")


@pytest.fixture
def acme(ess, payroll, prefect_api):
    payroll_sqlite = payroll
    fill_lookups(payroll_sqlite)
    insert_rows(
        payroll_sqlite,
        "leave_balance",
        [
            {"employee_id": e, "leave_type_code": t, "balance": b, "accrued_to": date(2025, 6, 26)}
            for e, t, b in [
                (1, "AL", "76.0000"),
                (1, "SL", "38.5000"),
                (2, "al ", "-4.2500"),
                (3, "AL", "0"),
                (3, "SL", "12.1234"),
            ]
        ],
    )
    register_database("acme_payroll", url=payroll_sqlite)
    return payroll_sqlite


def _messages(job_id=None):
    rows = read_log("acme_payroll", limit=500)
    job_id = job_id or max(r.job_id for r in rows if r.job_id)
    return [r.message for r in rows if r.job_id == job_id]


def _balances():
    with ess_engine().connect() as conn:
        rows = conn.execute(sa.select(leave_balance)).mappings()
        return {(r["payroll_employee_id"], r["leave_type_code"]): r["balance"] for r in rows}


def test_the_leave_sync_logs_its_steps_and_imports_every_balance(acme):
    assert sync_leave_balances(database="acme_payroll", return_state=True).is_completed()
    assert _messages() == EXPECTED
    assert str(_balances()[(2, "AL")]) == "-4.2500"
    assert get_database("acme_payroll").last_leave_balance_sync is not None


def test_a_second_leave_sync_changes_only_what_payroll_changed(acme):
    sync_leave_balances(database="acme_payroll")
    sync_leave_balances(database="acme_payroll")
    assert _messages()[-2] == (
        "Imported leave balances: 3 employees, 0 balances updated, 5 unchanged. Read again: "
        "0 employees whose balances changed in payroll since the last sync; the other 3 were "
        "not read."
    )
    execute(
        acme,
        "UPDATE leave_balance SET balance = 80 WHERE employee_id = 1 AND leave_type_code = 'AL'",
    )
    execute(acme, "DELETE FROM leave_balance WHERE employee_id = 3")
    sync_leave_balances(database="acme_payroll")
    assert _messages()[-2] == (
        "Imported leave balances: 2 employees, 3 balances updated, 2 unchanged. Read again: "
        "1 employees whose balances changed in payroll since the last sync; the other 1 were "
        "not read."
    )
    balances = _balances()
    assert str(balances[(1, "AL")]) == "80.0000"
    assert (3, "AL") not in balances and (3, "SL") not in balances


def test_a_re_sync_adds_new_balances_and_moves_ones_only_accrued_to_a_later_pay(acme):
    sync_leave_balances(database="acme_payroll")
    new = {
        "employee_id": 2,
        "leave_type_code": "SL",
        "balance": "7.5",
        "accrued_to": date(2025, 7, 10),
    }
    insert_rows(acme, "leave_balance", [new])
    execute(acme, "UPDATE leave_balance SET accrued_to = '2025-07-10' WHERE employee_id = 3")
    sync_leave_balances(database="acme_payroll")
    assert _messages()[-2] == (
        "Imported leave balances: 3 employees, 3 balances updated, 3 unchanged. Read again: "
        "2 employees whose balances changed in payroll since the last sync; the other 1 were "
        "not read."
    )
    with ess_engine().connect() as conn:
        rows = conn.execute(sa.select(leave_balance)).mappings().all()
    stored = {(r["payroll_employee_id"], r["leave_type_code"]): r for r in rows}
    assert len(stored) == 6
    assert str(stored[(2, "SL")]["balance"]) == "7.5000"
    assert {stored[(3, t)]["accrued_to"] for t in ("AL", "SL")} == {date(2025, 7, 10)}
    assert stored[(1, "AL")]["accrued_to"] == date(2025, 6, 26)


def _edited_before_the_digests_are_read(monkeypatch, url):
    """Change a balance in payroll just before a first import reads payroll's digests: after
    its balances' snapshot began (beside the copy on PostgreSQL, in turn on SQLite)."""
    import tasks.leave_balances

    read_digests = tasks.leave_balances._digests_of
    edits = []

    def edited_first(reader, types):
        if not edits:
            edits.append("AL 99")
            execute(
                url,
                "UPDATE leave_balance SET balance = 99 WHERE employee_id = 1 AND "
                "leave_type_code = 'AL'",
            )
        return read_digests(reader, types)

    monkeypatch.setattr(tasks.leave_balances, "_digests_of", edited_first)
    return edits


def test_a_first_import_keeps_the_digests_of_the_balances_it_copied(acme, monkeypatch):
    """Payroll's digests are read in the copy's snapshot, beside it where payroll can share
    one: a balance changed meanwhile is copied as it was, its digest kept as it was, and the
    next re-sync reads that employee again and brings the change."""
    edits = _edited_before_the_digests_are_read(monkeypatch, acme)
    assert sync_leave_balances(database="acme_payroll", return_state=True).is_completed()
    assert edits == ["AL 99"]
    copied = str(_balances()[(1, "AL")])
    sync_leave_balances(database="acme_payroll")
    assert str(_balances()[(1, "AL")]) == "99.0000"
    if acme.startswith("postgresql"):
        # The snapshot began with the step (pg_export_snapshot), before the edit.
        assert copied == "76.0000"
        assert "Read again: 1 employees whose balances changed" in _messages()[-2]
    else:
        # SQLite's read snapshot begins at the first read, the digests': after the edit.
        assert copied == "99.0000"


def test_a_first_import_whose_digests_cannot_be_read_beside_it_reads_them_in_turn(
    acme, monkeypatch
):
    """A second payroll connection refused (a login limit): the digests are read on the
    copy's own, in its snapshot, and the next re-sync still reads nobody again."""
    from payroll.source import PayrollReader

    def refused(self, name):
        raise RuntimeError("too many connections for role")

    monkeypatch.setattr(PayrollReader, "join_snapshot", refused)
    assert sync_leave_balances(database="acme_payroll", return_state=True).is_completed()
    sync_leave_balances(database="acme_payroll")
    assert _messages()[-2] == (
        "Imported leave balances: 3 employees, 0 balances updated, 5 unchanged. Read again: "
        "0 employees whose balances changed in payroll since the last sync; the other 3 were "
        "not read."
    )


def test_a_re_sync_of_one_payroll_leaves_another_payrolls_balances_alone(acme, tmp_path):
    other = f"sqlite:///{tmp_path / 'other_payroll.db'}"
    for statement in payroll_schema_sql():
        execute(other, statement)
    fill_lookups(other)
    insert_rows(
        other,
        "leave_balance",
        [
            {
                "employee_id": e,
                "leave_type_code": "AL",
                "balance": b,
                "accrued_to": date(2025, 6, 26),
            }
            for e, b in [(1, "10"), (3, "30"), (9, "90")]
        ],
    )
    register_database("other_payroll", url=other)
    sync_leave_balances(database="acme_payroll")
    sync_leave_balances(database="other_payroll")
    # acme: employee 3 leaves, employee 1's AL changes, employee 9 is new.
    execute(acme, "DELETE FROM leave_balance WHERE employee_id = 3")
    execute(
        acme,
        "UPDATE leave_balance SET balance = 1 WHERE employee_id = 1 AND leave_type_code = 'AL'",
    )
    insert_rows(
        acme,
        "leave_balance",
        [
            {
                "employee_id": 9,
                "leave_type_code": "AL",
                "balance": "9",
                "accrued_to": date(2025, 6, 26),
            }
        ],
    )
    sync_leave_balances(database="acme_payroll")
    assert _messages()[-2] == (
        "Imported leave balances: 3 employees, 4 balances updated, 2 unchanged. Read again: "
        "2 employees whose balances changed in payroll since the last sync; the other 1 were "
        "not read."
    )
    with ess_engine().connect() as conn:
        rows = conn.execute(sa.select(leave_balance)).mappings().all()
    by_payroll: dict[str, dict[tuple[int, str], str]] = {}
    for r in rows:
        key = (r["payroll_employee_id"], r["leave_type_code"])
        by_payroll.setdefault(r["payroll_database"], {})[key] = str(r["balance"])
    assert by_payroll["other_payroll"] == {
        (1, "AL"): "10.0000",
        (3, "AL"): "30.0000",
        (9, "AL"): "90.0000",
    }
    assert by_payroll["acme_payroll"] == {
        (1, "AL"): "1.0000",
        (1, "SL"): "38.5000",
        (2, "AL"): "-4.2500",
        (9, "AL"): "9.0000",
    }


def test_balances_of_an_unknown_leave_type_are_skipped_with_a_warning(acme):
    insert_rows(
        acme,
        "leave_balance",
        [
            {
                "employee_id": 4,
                "leave_type_code": "ZZ",
                "balance": 1,
                "accrued_to": date(2025, 6, 26),
            }
        ],
    )
    sync_leave_balances(database="acme_payroll")
    assert "Skipped balances of unknown leave types: 'ZZ' (1)." in _messages()


def _payroll_balances(url):
    rows = query_rows(url, "SELECT employee_id, leave_type_code, balance FROM leave_balance")
    return {(int(e), t.strip().upper()): f"{Decimal(str(b)):.4f}" for e, t, b in rows}


def _ess_balances():
    return {k: str(v) for k, v in _balances().items()}


def test_balances_swapped_between_two_employees_are_both_read_again(acme):
    sync_leave_balances(database="acme_payroll")
    swap = (
        "UPDATE leave_balance SET balance = {b} WHERE employee_id = {e} AND leave_type_code = 'AL'"
    )
    execute(acme, swap.format(b="0", e=1))
    execute(acme, swap.format(b="76", e=3))
    sync_leave_balances(database="acme_payroll")
    assert _ess_balances() == _payroll_balances(acme)
    assert "Read again: 2 employees" in _messages()[-2]


def test_a_re_sync_leaves_esss_own_edits_until_a_reconcile_finds_them(acme):
    """The re-sync reads what payroll changed, not what ESS changed: an edit made in ESS
    itself stays until a reconcile finds it; the next leave sync then reads every balance."""
    sync_leave_balances(database="acme_payroll")
    with ess_engine().begin() as conn:
        conn.execute(
            sa.update(leave_balance)
            .where(
                leave_balance.c.payroll_employee_id == 3, leave_balance.c.leave_type_code == "SL"
            )
            .values(balance=Decimal("999.0000"))
        )
    sync_leave_balances(database="acme_payroll")
    assert _ess_balances()[(3, "SL")] == "999.0000"
    result = CliRunner().invoke(app, ["reconcile", "acme_payroll", "--json"])
    assert result.exit_code == 1, result.output
    tables = {t["table"]: t for t in json.loads(result.stdout)["tables"]}
    assert tables["leave_balance"]["differing"] == 1, tables["leave_balance"]
    sync_leave_balances(database="acme_payroll")
    assert (
        _messages()[-2] == "Imported leave balances: 3 employees, 1 balances updated, 4 unchanged."
    )
    assert _ess_balances() == _payroll_balances(acme)


def test_an_unknown_leave_type_is_reported_every_time_and_imported_once_payroll_has_it(acme):
    zz = {"employee_id": 4, "leave_type_code": "ZZ", "balance": 1, "accrued_to": date(2025, 6, 26)}
    al = {**zz, "leave_type_code": "AL", "balance": 2}
    insert_rows(acme, "leave_balance", [zz, al])
    for _ in range(2):
        sync_leave_balances(database="acme_payroll")
        assert "Skipped balances of unknown leave types: 'ZZ' (1)." in _messages()
    assert (4, "ZZ") not in _ess_balances()
    assert _ess_balances()[(4, "AL")] == "2.0000"
    leave_type = {"leave_type_code": "ZZ", "description": "Zed", "category": "Other", "unit": "H"}
    insert_rows(acme, "leave_type", [leave_type])
    sync_leave_balances(database="acme_payroll")
    # ESS's leave types changed: every employee is read again.
    assert (
        _messages()[-2] == "Imported leave balances: 4 employees, 1 balances updated, 6 unchanged."
    )
    assert _ess_balances() == _payroll_balances(acme)


def test_a_re_sync_reads_changed_employees_by_key_range_and_by_list(ess, payroll, prefect_api):
    """Dense runs of changed employees are read by key range, scattered ones by IN lists;
    new, gone and negative ids too. ESS ends equal to payroll."""
    fill_lookups(payroll)
    day = date(2025, 6, 26)
    ids = [-7, -3, *range(1, 301)]
    rows = [
        {"employee_id": e, "leave_type_code": t, "balance": f"{e}.{n}", "accrued_to": day}
        for e in ids
        for n, t in enumerate(("AL", "sl "))
    ]
    insert_rows(payroll, "leave_balance", rows)
    register_database("acme_payroll", url=payroll)
    sync_leave_balances(database="acme_payroll")
    changed = [-7, 3, 50, *range(101, 201), 250]
    for e in changed:
        execute(payroll, f"UPDATE leave_balance SET balance = balance + 1 WHERE employee_id = {e}")
    execute(payroll, "DELETE FROM leave_balance WHERE employee_id IN (-3, 299)")
    execute(payroll, "DELETE FROM leave_balance WHERE employee_id = 7 AND leave_type_code = 'AL'")
    insert_rows(payroll, "leave_balance", [{**rows[0], "employee_id": 400}])
    sync_leave_balances(database="acme_payroll")
    read = len(changed) + 2  # employee 7 and the new 400
    assert f"Read again: {read} employees" in _messages()[-2]
    assert _ess_balances() == _payroll_balances(payroll)


def test_a_balance_ess_cannot_hold_is_named_every_sync_and_the_rest_sync(request, acme):
    on_sqlite = request.node.callspec.params["ess"] == "sqlite"
    bad = "<script>1</script>" if on_sqlite else "NaN"  # PostgreSQL's NUMERIC holds a NaN
    row = {"employee_id": 4, "leave_type_code": "AL", "balance": 5, "accrued_to": date(2025, 6, 26)}
    insert_rows(acme, "leave_balance", [row, {**row, "leave_type_code": "SL", "balance": 1}])
    execute(
        acme,
        "UPDATE leave_balance SET balance = :bad WHERE employee_id = 4 AND leave_type_code = 'AL'",
        {"bad": bad},
    )
    warning = f"Skipped 1 balances ESS cannot hold: employee 4 AL: balance '{bad}' is not a number."
    for _ in range(2):
        assert sync_leave_balances(database="acme_payroll", return_state=True).is_completed()
        assert warning in _messages()
    held = _ess_balances()
    assert (4, "AL") not in held and held[(4, "SL")] == "1.0000" and len(held) == 6

"""A sync of changes reads by id when the feed names a few, and everyone when it names most."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

import tasks.employees
from core import plans
from core.plans import DENSE_RUN, FULL_READ_FROM, FULL_READ_FROM_IN_SERVER
from ess.database import ess_engine
from ess.schema import employee
from ess.store.log import read_log
from ess.store.registry import get_database, register_database
from flows.sync_from_payroll import sync_from_payroll
from generator import build_payroll, change_employees
from tasks.employees import FEED_OVERLAP
from tests.support import execute, query_rows

EMPLOYEES = 60
FED = "The change feed names"


@pytest.fixture(params=["here", "by payroll's server"])
def acme(ess, payroll_sqlite, prefect_api, monkeypatch, request):
    # A payroll this small is read by id whatever its feed names: weigh it as a large one.
    monkeypatch.setattr(plans, "SMALL_PAYROLL", 1)
    if request.param != "here":
        # Every feed of more than one change is weighed by payroll's server first, as a pay
        # review's is (tasks.employees._read_changes): the same plan, rows and watermark.
        monkeypatch.setattr(tasks.employees, "FEED_READ_HERE", 1)
    engine = sa.create_engine(payroll_sqlite)
    build_payroll(engine, employees=EMPLOYEES, seed=1, leave_types_per_employee=2)
    engine.dispose()
    register_database("acme_payroll", url=payroll_sqlite)
    return payroll_sqlite


def _sync():
    state = sync_from_payroll(database="acme_payroll", return_state=True)
    assert state.is_completed(), state.message
    return state.result()


def _feed_rows():
    return [r for r in read_log("acme_payroll", limit=500) if r.message.startswith(FED)]


def _payroll_surnames_and_salaries(url):
    rows = query_rows(url, "SELECT employee_code, surname, yearly_salary FROM employee")
    return {code.strip(): (surname, float(salary or 0)) for code, surname, salary in rows}


def _ess_surnames_and_salaries():
    query = sa.select(employee.c.employee_code, employee.c.surname, employee.c.yearly_salary)
    with ess_engine().connect() as conn:
        rows = conn.execute(query.where(employee.c.payroll_database == "acme_payroll")).all()
    return {code.strip(): (surname, float(salary or 0)) for code, surname, salary in rows}


def test_a_feed_naming_every_employee_is_read_in_full_and_says_so(acme):
    _sync()
    later = datetime(2025, 7, 1, 9, 0)
    changed = change_employees(sa.create_engine(acme), 1.0, seed=3, at=later)
    assert len(changed) == EMPLOYEES
    before = len(_feed_rows())
    result = _sync()
    rows = _feed_rows()[before:]
    assert [(r.level, r.message) for r in rows] == [
        (
            "info",
            f"The change feed names {EMPLOYEES} of {EMPLOYEES} employees; reading every "
            "employee (faster than reading them by id).",
        )
    ]
    counts = result.step("employees")
    assert counts.count("updated") + counts.count("terminated") > 0
    assert _ess_surnames_and_salaries() == _payroll_surnames_and_salaries(acme)
    # The full read took in every change: the watermark moves to the feed's end.
    assert get_database("acme_payroll").employee_watermark == later.replace(tzinfo=UTC)
    # Re-reading changes nothing.
    result = _sync()
    assert result.step("employees").count("updated") == 0
    assert _ess_surnames_and_salaries() == _payroll_surnames_and_salaries(acme)


def _read(counts):
    return sum(counts.count(n) for n in ("added", "updated", "terminated", "unchanged"))


def test_a_sync_straight_after_one_that_read_everyone_reads_only_changes_it_has_not_read(acme):
    _sync()
    later = datetime(2025, 7, 1, 9, 0)
    change_employees(sa.create_engine(acme), 1.0, seed=3, at=later)
    assert _read(_sync().step("employees")) == EMPLOYEES
    # Every change is still within the overlap, and every one was read: nobody is read.
    before = len(_feed_rows())
    assert _read(_sync().step("employees")) == 0
    assert _feed_rows()[before:] == []
    # A change committed late, stamped inside the overlap before the watermark, is read.
    execute(acme, "UPDATE employee SET surname = 'Late' WHERE employee_id = 5")
    stamp = later - timedelta(minutes=5)
    execute(acme, f"INSERT INTO employee_changed VALUES (990001, 5, '{stamp}')")
    counts = _sync().step("employees")
    assert (_read(counts), counts.count("updated") + counts.count("terminated")) == (1, 1)
    # A change id payroll re-used (renumbered feed) with a later time is read too.
    [(reused,)] = query_rows(acme, "SELECT MIN(change_id) FROM employee_changed")
    execute(acme, "UPDATE employee SET surname = 'Reused' WHERE employee_id = 6")
    stamp = later + timedelta(minutes=1)
    execute(
        acme,
        f"UPDATE employee_changed SET employee_id = 6, changed_at = '{stamp}' "
        f"WHERE change_id = {reused}",
    )
    assert _read(_sync().step("employees")) == 1
    assert _ess_surnames_and_salaries() == _payroll_surnames_and_salaries(acme)


def test_a_feed_naming_a_few_employees_reads_only_them(acme):
    _sync()
    since = get_database("acme_payroll").employee_watermark - FEED_OVERLAP
    # The lower of the two shares (a full read compared in Python, or by PostgreSQL).
    share = min(FULL_READ_FROM, FULL_READ_FROM_IN_SERVER)
    fraction = share / 4
    changed = change_employees(sa.create_engine(acme), fraction, seed=4, at=datetime(2025, 7, 2))
    # The feed's employees: those changed, and any the overlap re-reads.
    fed = {
        employee_id
        for employee_id, at in query_rows(
            acme, "SELECT employee_id, changed_at FROM employee_changed"
        )
        if datetime.fromisoformat(str(at)).replace(tzinfo=UTC) >= since
    }
    assert set(changed) <= fed and len(fed) < share * EMPLOYEES
    before = len(_feed_rows())
    counts = _sync().step("employees")
    assert _feed_rows()[before:] == []
    # Only the new changes' employees: the first sync read the rest of the overlap already.
    read = sum(counts.count(n) for n in ("added", "updated", "terminated", "unchanged"))
    assert read == len(set(changed))
    assert _ess_surnames_and_salaries() == _payroll_surnames_and_salaries(acme)


def test_a_dense_run_of_changed_ids_is_read_as_a_key_range_and_lands(
    ess, payroll_sqlite, prefect_api
):
    engine = sa.create_engine(payroll_sqlite)
    build_payroll(engine, employees=300, seed=1, leave_types_per_employee=0)
    engine.dispose()
    register_database("acme_payroll", url=payroll_sqlite)
    _sync()
    run = range(101, 101 + DENSE_RUN + 6)  # one key range, and two ids read by list
    with sa.create_engine(payroll_sqlite).begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE employee SET surname = 'Ranged' WHERE employee_id >= 101"
                f" AND employee_id < {run.stop}"
            )
        )
        conn.execute(
            sa.text("UPDATE employee SET surname = 'Listed' WHERE employee_id IN (7, 250)")
        )
        for change_id, employee_id in enumerate([7, *run, 250], start=990_000):
            conn.execute(
                sa.text("INSERT INTO employee_changed VALUES (:c, :e, '2025-07-03 00:00:00')"),
                {"c": change_id, "e": employee_id},
            )
    counts = _sync().step("employees")
    assert _feed_rows() == []
    assert counts.count("updated") + counts.count("terminated") == len(run) + 2
    assert _ess_surnames_and_salaries() == _payroll_surnames_and_salaries(payroll_sqlite)


def test_a_small_payroll_is_read_by_id_even_when_its_feed_names_everyone(
    ess, payroll_sqlite, prefect_api
):
    engine = sa.create_engine(payroll_sqlite)
    build_payroll(engine, employees=EMPLOYEES, seed=1, leave_types_per_employee=0)
    register_database("acme_payroll", url=payroll_sqlite)
    _sync()
    change_employees(engine, 1.0, seed=3, at=datetime(2025, 7, 1, 9, 0))
    engine.dispose()
    result = _sync()
    assert _feed_rows() == []
    assert result.step("employees").count("updated") > 0
    assert _ess_surnames_and_salaries() == _payroll_surnames_and_salaries(payroll_sqlite)

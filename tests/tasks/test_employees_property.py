"""Hypothesis over the real employees step: payroll-owned fields follow payroll, ESS's stay."""

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.employees import ESS_OWNED, PAYROLL_COLUMNS
from core.lookups import ALL_SPECS
from ess.database import ess_engine
from ess.schema import employee
from ess.store.registry import register_database
from tasks.employees import import_employees
from tasks.lookups.importer import read_lookups, write_lookups
from tests.support import fill_lookups

NAMES = st.sampled_from(["Ava", "Noah", "Zoe", "Li", "O'Brien", "Smith-Jones"])
payroll_employee = st.fixed_dictionaries(
    {
        "surname": NAMES,
        "first_name": NAMES,
        "mobile": st.one_of(st.none(), st.sampled_from(["0400 111 222", "0411 333 444"])),
        "suburb": st.one_of(st.none(), st.sampled_from(["Parramatta", "Hobart"])),
        "date_hired": st.dates(date(1990, 1, 1), date(2025, 1, 1)),
        "termination_date": st.one_of(
            st.none(), st.just(date(1900, 1, 1)), st.dates(date(2020, 1, 1), date(2026, 1, 1))
        ),
        "yearly_salary": st.one_of(
            st.none(), st.decimals(Decimal("30000"), Decimal("250000"), places=2)
        ),
        "cost_account_code": st.sampled_from(["100-ADMIN", "200-ops ", None]),
        "pay_frequency_code": st.sampled_from(["W", "f", "M "]),
    }
)
payrolls = st.dictionaries(st.integers(1, 12), payroll_employee, max_size=8)
ess_edits = st.dictionaries(
    st.integers(1, 12),
    st.fixed_dictionaries(
        {
            "mobile": st.sampled_from(["0499 000 000", None]),
            "preferred_name": st.sampled_from(["Bec", "Sam"]),
        }
    ),
    max_size=4,
)


@pytest.fixture
def setup(ess, payroll_sqlite, prefect_api):
    fill_lookups(payroll_sqlite)
    register_database("prop_payroll", url=payroll_sqlite)
    write_lookups.fn(ALL_SPECS, "prop_payroll", read_lookups.fn(ALL_SPECS, "prop_payroll"))
    return payroll_sqlite


def _load_payroll(url, employees):
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM employee")
        for employee_id, fields in employees.items():
            row = dict.fromkeys(PAYROLL_COLUMNS)
            row.update(
                fields,
                employee_id=employee_id,
                employee_code=f"E{employee_id:04d}",
                tax_free_threshold=1,
                last_modified="2025-01-01 00:00:00",
            )
            if row["yearly_salary"] is not None:
                row["yearly_salary"] = str(row["yearly_salary"])
            columns = ", ".join(PAYROLL_COLUMNS)
            marks = ", ".join(f":{c}" for c in PAYROLL_COLUMNS)
            conn.execute(sa.text(f"INSERT INTO employee ({columns}) VALUES ({marks})"), row)
    engine.dispose()


def _ess():
    with ess_engine().connect() as conn:
        return {r.code_key: r for r in conn.execute(sa.select(employee)).mappings()}


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=payrolls, edits=ess_edits, second=payrolls)
def test_a_sync_makes_payroll_owned_fields_equal_payroll_and_leaves_ess_fields(
    setup, first, edits, second
):
    _load_payroll(setup, first)
    import_employees.fn("prop_payroll", full=True)
    with ess_engine().begin() as conn:
        for employee_id, values in edits.items():
            conn.execute(
                sa.update(employee)
                .where(employee.c.code_key == f"E{employee_id:04d}")
                .values(values)
            )
    before = _ess()
    _load_payroll(setup, second)
    import_employees.fn("prop_payroll", full=True)
    after = _ess()
    for employee_id, fields in second.items():
        row = after[f"E{employee_id:04d}"]
        assert row["in_payroll"] is True
        assert row["surname"] == fields["surname"]
        assert row["date_hired"] == fields["date_hired"]
        expected_end = fields["termination_date"]
        assert row["termination_date"] == (
            None if expected_end == date(1900, 1, 1) else expected_end
        )
        assert row["yearly_salary"] == fields["yearly_salary"]
        assert row["pay_frequency_code"] == fields["pay_frequency_code"].strip().upper()
        old = before.get(f"E{employee_id:04d}")
        for column in ESS_OWNED:
            expected = (
                old[column]
                if old is not None
                else {"mobile": fields["mobile"], "suburb": fields["suburb"]}.get(column)
            )
            assert row[column] == expected, column
    for code, row in after.items():
        if int(code[1:]) not in second:
            assert row["in_payroll"] is False
    again = import_employees.fn("prop_payroll", full=True).counts
    assert (again.added, again.updated, again.terminated) == (0, 0, 0)
    assert _ess() == after
    with ess_engine().begin() as conn:
        conn.execute(sa.delete(employee))

import sqlite3

import pytest

from core.lookups import ALL_SPECS, LOOKUPS, PAY_FREQUENCY, spec_named
from core.queries import placeholder, select_all
from ess.schema import LOOKUP_TABLES
from tests.support import payroll_schema_sql


@pytest.fixture(scope="module")
def payroll_tables():
    """Each payroll table's (column, primary-key position) pairs, from the real schema."""
    conn = sqlite3.connect(":memory:")
    for statement in payroll_schema_sql():
        conn.execute(statement)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    info = {t: [(r[1], r[5]) for r in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
    conn.close()
    return info


def test_every_lookup_of_the_contract_has_a_spec():
    names = {s.source_table for s in LOOKUPS}
    assert names == {
        "country",
        "state",
        "gender",
        "super_fund",
        "cost_account",
        "job_classification",
        "employment_type",
        "location",
        "pay_point",
        "leave_type",
        "leave_reason",
    }
    assert PAY_FREQUENCY not in LOOKUPS


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_a_spec_copies_every_column_of_its_payroll_table(spec, payroll_tables):
    columns = payroll_tables[spec.source_table]
    assert list(spec.columns) == [name for name, _ in columns]
    assert list(spec.key) == [name for name, pk in sorted(columns, key=lambda c: c[1]) if pk]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_a_spec_has_an_ess_table_with_its_columns(spec):
    table = LOOKUP_TABLES[spec.ess_table]
    assert set(spec.columns) <= set(table.c.keys())
    assert {"payroll_database", "in_payroll", "synced_at"} <= set(table.c.keys())


def test_a_lookup_is_found_by_its_log_name_or_table():
    assert spec_named("super fund").source_table == "super_fund"
    assert spec_named("super_fund").name == "super fund"
    with pytest.raises(KeyError, match="Unknown lookup"):
        spec_named("planet")


def test_the_select_reads_the_same_on_every_engine():
    assert select_all("state", ("country_code", "state_code"), order_by=("state_code",)) == (
        "SELECT country_code, state_code FROM state ORDER BY state_code"
    )
    with pytest.raises(ValueError):
        select_all("state; DROP TABLE x", ("a",))
    assert [placeholder(s, 0) for s in ("qmark", "format", "numeric")] == ["?", "%s", ":1"]

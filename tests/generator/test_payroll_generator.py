"""The payroll generator against real SQLite files and a real PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from generator import (
    PayrollSummary,
    add_hard_cases,
    build_payroll,
    change_employees,
    create_payroll_schema,
)
from generator import reference_data as ref
from generator.identifiers import is_valid_abn, is_valid_tfn
from generator.workforce import EMPLOYEE_COLUMNS, LEAVE_BALANCE_COLUMNS

SCHEMA = Path(__file__).resolve().parents[2] / "generator" / "schema.sql"
TABLES = (
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
    "pay_frequency",
    "employee",
    "employee_changed",
    "leave_balance",
)
# employee's code columns and the lookup (table, code column) each must resolve to
EMPLOYEE_CODES = {
    "gender_code": ("gender", "gender_code"),
    "state_code": ("state", "state_code"),
    "country_code": ("country", "country_code"),
    "employment_type_code": ("employment_type", "employment_type_code"),
    "classification_code": ("job_classification", "classification_code"),
    "cost_account_code": ("cost_account", "account_code"),
    "location_code": ("location", "location_code"),
    "pay_point_code": ("pay_point", "pay_point_code"),
    "pay_frequency_code": ("pay_frequency", "frequency_code"),
    "fund_code": ("super_fund", "fund_code"),
}
POSTGRES_ADMIN_URL = os.environ.get(
    "ESS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine on an empty SQLite file."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'payroll.db'}")
    yield engine
    engine.dispose()


def _rows(engine: sa.Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(sa.text(sql), params)]


def _count(engine: sa.Engine, table: str) -> int:
    return int(_rows(engine, f"SELECT count(*) FROM {table}")[0][0])


def _every_row(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    return {t: _rows(engine, f"SELECT * FROM {t} ORDER BY 1, 2") for t in TABLES}


def test_the_vendored_schema_defines_every_table_and_employee_column(engine: sa.Engine) -> None:
    create_payroll_schema(engine)
    create_payroll_schema(engine)  # a second call leaves the existing tables alone

    inspector = sa.inspect(engine)
    assert set(inspector.get_table_names()) == set(TABLES)
    assert tuple(c["name"] for c in inspector.get_columns("employee")) == EMPLOYEE_COLUMNS
    balance_columns = tuple(c["name"] for c in inspector.get_columns("leave_balance"))
    assert balance_columns == LEAVE_BALANCE_COLUMNS


def test_every_table_is_filled_and_the_summary_counts_its_rows(engine: sa.Engine) -> None:
    summary = build_payroll(engine, 300, leave_types_per_employee=3)

    counts = {table: _count(engine, table) for table in TABLES}
    assert all(counts.values()), counts
    assert summary == PayrollSummary(
        employees=300,
        leave_balances=900,
        changes=counts["employee_changed"],
        tables=counts,
    )
    assert counts["leave_type"] == 8
    assert counts["pay_frequency"] == 5
    assert counts["super_fund"] >= 40
    assert counts["job_classification"] >= 60


def test_the_same_seed_gives_the_same_payroll_and_another_seed_another(tmp_path: Path) -> None:
    engines = [sa.create_engine(f"sqlite:///{tmp_path / f'p{n}.db'}") for n in range(3)]
    for engine, seed in zip(engines, (7, 7, 8), strict=True):
        build_payroll(engine, 250, seed=seed)

    first, again, other = (_every_row(engine) for engine in engines)
    for engine in engines:
        engine.dispose()
    assert first == again
    assert first["employee"] != other["employee"]
    assert first["country"] == other["country"]  # lookups are the same for every seed


def test_tax_file_numbers_pass_the_check_digit_are_unique_and_distinctive(
    engine: sa.Engine,
) -> None:
    build_payroll(engine, 2000)
    add_hard_cases(engine)

    tfns = [t for (t,) in _rows(engine, "SELECT tax_file_number FROM employee") if t]
    assert len(tfns) > 1900
    assert len(set(tfns)) == len(tfns)
    for tfn in tfns:
        assert is_valid_tfn(tfn), tfn
        assert not any(d * 3 in tfn for d in "0123456789"), tfn
    accounts = [a for (a,) in _rows(engine, "SELECT bank_account_number FROM employee") if a]
    assert len(set(accounts)) == len(accounts)
    assert all(a.isdigit() and 6 <= len(a) <= 9 for a in accounts)


def test_the_check_digit_algorithms_agree_with_the_published_examples() -> None:
    # The ATO's and ABR's own worked examples.
    assert is_valid_tfn("123456782")
    assert not is_valid_tfn("123456789")
    assert is_valid_abn("51824753556")
    assert all(is_valid_abn(fund[2]) for fund in ref.SUPER_FUNDS)


def test_quirky_codes_differ_from_their_lookup_but_resolve_after_trim_and_case(
    engine: sa.Engine,
) -> None:
    build_payroll(engine, 1500)

    quirky = 0
    for column, (table, key) in EMPLOYEE_CODES.items():
        known = {code for (code,) in _rows(engine, f"SELECT {key} FROM {table}")}
        values = [v for (v,) in _rows(engine, f"SELECT {column} FROM employee") if v is not None]
        assert {v.strip().upper() for v in values} <= known, column
        quirky += sum(v not in known for v in values)
    assert 0 < quirky < 1500 * 0.2
    leave_types = {code for (code,) in _rows(engine, "SELECT leave_type_code FROM leave_type")}
    balance_codes = [c for (c,) in _rows(engine, "SELECT leave_type_code FROM leave_balance")]
    assert {c.strip().upper() for c in balance_codes} <= leave_types
    assert any(c not in leave_types for c in balance_codes)
    not_terminated = _count(engine, "employee WHERE termination_date = '1900-01-01'")
    assert 0 < not_terminated < 1500


def test_without_quirks_every_code_is_exactly_its_lookup_code(engine: sa.Engine) -> None:
    build_payroll(engine, 500, quirks=False)

    for column, (table, key) in EMPLOYEE_CODES.items():
        known = {code for (code,) in _rows(engine, f"SELECT {key} FROM {table}")}
        values = {v for (v,) in _rows(engine, f"SELECT {column} FROM employee") if v is not None}
        assert values <= known, column
    assert _count(engine, "employee WHERE termination_date = '1900-01-01'") == 0


def test_employees_look_like_an_australian_workforce(engine: sa.Engine) -> None:
    build_payroll(engine, 1000)

    suburbs = {
        (s, st, p)
        for s, st, p in _rows(
            engine, "SELECT suburb, state_code, postcode FROM employee WHERE suburb IS NOT NULL"
        )
    }
    assert len(suburbs) > 50
    mobiles = [m for (m,) in _rows(engine, "SELECT mobile FROM employee") if m]
    assert all(len(m) == 12 and m.startswith("04") and m[4] == m[8] == " " for m in mobiles)
    codes = [c for (c,) in _rows(engine, "SELECT employee_code FROM employee")]
    assert len(set(codes)) == len(codes)
    assert all(len(c) == 7 and c.startswith("E") for c in codes)
    terminated = _count(
        engine, "employee WHERE termination_date IS NOT NULL AND termination_date <> '1900-01-01'"
    )
    assert 40 <= terminated <= 130  # about 8%
    too_young_or_old = _count(
        engine,
        "employee WHERE date_of_birth > '2009-06-26' OR date_of_birth < '1955-06-26'"
        " OR termination_date <> '1900-01-01' AND termination_date < date_hired",
    )
    assert too_young_or_old == 0


def test_managers_form_a_hierarchy_under_a_few_people_at_the_top(engine: sa.Engine) -> None:
    build_payroll(engine, 800)

    manager_of = dict(_rows(engine, "SELECT employee_code, manager_code FROM employee"))
    tops = [code for code, manager in manager_of.items() if manager is None]
    assert 1 <= len(tops) <= 5
    for code in manager_of:
        seen = {code}
        while manager_of[code] is not None:
            code = manager_of[code]
            assert code in manager_of and code not in seen
            seen.add(code)


def test_every_employee_has_a_feed_row_no_later_than_its_last_modified(
    engine: sa.Engine,
) -> None:
    build_payroll(engine, 600)

    feed = _rows(
        engine, "SELECT change_id, employee_id, changed_at FROM employee_changed ORDER BY change_id"
    )
    last_modified = dict(_rows(engine, "SELECT employee_id, last_modified FROM employee"))
    assert {employee for _, employee, _ in feed} == set(last_modified)
    assert [change_id for change_id, _, _ in feed] == list(range(1, len(feed) + 1))
    assert [at for _, _, at in feed] == sorted(at for _, _, at in feed)
    latest: dict[int, str] = {}
    for _, employee, at in feed:
        latest[employee] = max(latest.get(employee, at), at)
    assert latest == last_modified


def test_leave_balances_cover_distinct_leave_types_per_employee(engine: sa.Engine) -> None:
    build_payroll(engine, 200, leave_types_per_employee=8)

    per_employee: dict[int, set[str]] = {}
    for employee, code in _rows(engine, "SELECT employee_id, leave_type_code FROM leave_balance"):
        per_employee.setdefault(employee, set()).add(code.strip().upper())
    assert len(per_employee) == 200
    assert all(len(codes) == 8 for codes in per_employee.values())
    assert _count(engine, "leave_balance WHERE balance < 0") > 0
    with pytest.raises(ValueError, match="leave_types_per_employee"):
        build_payroll(engine, 10, leave_types_per_employee=9)


def test_building_into_a_payroll_that_has_rows_is_refused(engine: sa.Engine) -> None:
    build_payroll(engine, 20)

    with pytest.raises(ValueError, match="already has rows"):
        build_payroll(engine, 20)
    assert _count(engine, "employee") == 20


def test_hard_cases_are_data_errors_payroll_lets_through(engine: sa.Engine) -> None:
    build_payroll(engine, 100)

    cases = add_hard_cases(engine)

    assert set(cases) == {
        "duplicate_code",
        "unknown_location",
        "unknown_manager",
        "impossible_date",
    }
    [duplicate] = cases["duplicate_code"]
    assert _count(engine, f"employee WHERE employee_code = '{duplicate}'") == 2
    [unknown_location] = cases["unknown_location"]
    assert _rows(
        engine, "SELECT location_code FROM employee WHERE employee_code = :c", c=unknown_location
    ) == [("ZZZ",)]
    [orphan] = cases["unknown_manager"]
    [(manager,)] = _rows(
        engine, "SELECT manager_code FROM employee WHERE employee_code = :c", c=orphan
    )
    assert manager and _count(engine, f"employee WHERE employee_code = '{manager}'") == 0
    [impossible] = cases["impossible_date"]
    assert _rows(
        engine, "SELECT date_hired FROM employee WHERE employee_code = :c", c=impossible
    ) == [("2023-02-30",)]
    assert _count(engine, "employee") == 105
    assert (
        _count(
            engine,
            "employee WHERE employee_id > 100 AND employee_id NOT IN "
            "(SELECT employee_id FROM employee_changed)",
        )
        == 0
    )


def test_changing_employees_moves_last_modified_and_appends_to_the_feed(
    engine: sa.Engine,
) -> None:
    build_payroll(engine, 400)
    before = _every_row(engine)["employee"]
    last_change = _rows(engine, "SELECT max(change_id) FROM employee_changed")[0][0]
    at = datetime(2026, 1, 5, 9, 30, 15, 250_000)

    changed = change_employees(engine, 0.1, at=at)

    assert len(changed) == 40 and changed == sorted(set(changed))
    after = {row[0]: row for row in _every_row(engine)["employee"]}
    stamp = "2026-01-05 09:30:15.250000"
    for row in before:
        if row[0] in changed:
            assert after[row[0]][-1] == stamp
            assert after[row[0]][:-1] != row[:-1]  # a payroll-owned field changed too
        else:
            assert after[row[0]] == row
    feed = _rows(
        engine,
        "SELECT change_id, employee_id, changed_at FROM employee_changed "
        "WHERE change_id > :last ORDER BY change_id",
        last=last_change,
    )
    assert [employee for _, employee, _ in feed] == changed
    assert [change_id for change_id, _, _ in feed] == list(range(last_change + 1, last_change + 41))
    assert {at for _, _, at in feed} == {stamp}


def test_changing_employees_is_repeatable_and_bounded(tmp_path: Path) -> None:
    engines = [sa.create_engine(f"sqlite:///{tmp_path / f'p{n}.db'}") for n in range(2)]
    results = []
    for engine in engines:
        build_payroll(engine, 100)
        results.append(change_employees(engine, 0.25, seed=5, at=datetime(2026, 1, 1)))
    assert results[0] == results[1]
    assert change_employees(engines[0], 0.0) == []
    with pytest.raises(ValueError, match="fraction"):
        change_employees(engines[0], 1.5)
    for engine in engines:
        engine.dispose()


@pytest.fixture
def postgres_engine() -> Iterator[sa.Engine]:
    """An engine on a new, empty PostgreSQL database, dropped afterwards."""
    admin = sa.create_engine(
        POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    name = f"payroll_generator_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_ADMIN_URL.split('@')[-1]}: {exc.orig}")
    engine = sa.create_engine(sa.make_url(POSTGRES_ADMIN_URL).set(database=name))
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.mark.postgres
def test_on_postgresql_the_payroll_loads_by_copy_with_exact_types(
    postgres_engine: sa.Engine, tmp_path: Path
) -> None:
    summary = build_payroll(postgres_engine, 300)
    sqlite = sa.create_engine(f"sqlite:///{tmp_path / 'same.db'}")
    build_payroll(sqlite, 300)

    assert summary.tables == {table: _count(postgres_engine, table) for table in TABLES}
    assert summary.tables == {table: _count(sqlite, table) for table in TABLES}
    postgres_names = _rows(
        postgres_engine, "SELECT employee_code, surname, tax_file_number FROM employee ORDER BY 1"
    )
    assert postgres_names == _rows(
        sqlite, "SELECT employee_code, surname, tax_file_number FROM employee ORDER BY 1"
    )
    sqlite.dispose()
    salary, rate, hired = _rows(
        postgres_engine,
        "SELECT yearly_salary, normal_rate, date_hired FROM employee"
        " WHERE yearly_salary IS NOT NULL ORDER BY employee_id LIMIT 1",
    )[0]
    assert isinstance(salary, Decimal) and salary.as_tuple().exponent == -2
    assert isinstance(rate, Decimal) and rate.as_tuple().exponent == -4
    assert hired.year >= 1995

    cases = add_hard_cases(postgres_engine)
    assert set(cases) == {"duplicate_code", "unknown_location", "unknown_manager"}
    changed = change_employees(postgres_engine, 0.05, at=datetime(2026, 2, 1, 8, 0))
    assert len(changed) == 15
    stamps = _rows(
        postgres_engine,
        "SELECT DISTINCT last_modified FROM employee WHERE employee_id = ANY(:ids)",
        ids=changed,
    )
    assert stamps == [(datetime(2026, 2, 1, 8, 0),)]

import re
from dataclasses import replace
from pathlib import Path

import pytest

from core.lookups import ALL_SPECS, LOOKUPS, PAY_FREQUENCY, LookupColumn, spec_named, text
from core.queries import placeholder, select_all
from tests.support import SHARED_SCHEMA, VENDORED_SCHEMA

MSSQL_SCHEMA = SHARED_SCHEMA.with_name("schema.mssql.sql")


def lookup_section(schema: Path) -> dict[str, dict[str, tuple[str, bool, bool]]]:
    """The tables under the schema's "-- Lookups" heading: column -> (type, nullable, in key)."""
    section = schema.read_text().split("-- Lookups", 1)[1]
    section = re.split(r"^-- \w+ -{5,}", section, maxsplit=1, flags=re.M)[0]
    tables: dict[str, dict[str, tuple[str, bool, bool]]] = {}
    for name, body in re.findall(r"CREATE TABLE (\w+) \((.*?)\n\);", section, flags=re.S):
        columns: dict[str, tuple[str, bool, bool]] = {}
        key: list[str] = []
        for line in (raw.split("--", 1)[0].strip().rstrip(",") for raw in body.splitlines()):
            if compound := re.match(r"PRIMARY KEY \((.*)\)", line):
                key = [c.strip() for c in compound[1].split(",")]
            elif column := re.match(r"(\w+)\s+(\w+(?:\(\d+(?:,\s*\d+)?\))?)(.*)", line):
                rest = column[3].upper()
                columns[column[1]] = (
                    column[2].upper(),
                    "NOT NULL" not in rest,
                    "PRIMARY KEY" in rest,
                )
        tables[name] = {c: (t, n, pk or c in key) for c, (t, n, pk) in columns.items()}
    return tables


def disagreements(column: LookupColumn, declared: str, nullable: bool) -> list[str]:
    """Why payroll's column (its declared type, its nullability) would not fit the spec's."""
    problems = []
    if nullable and not column.nullable:
        problems.append("payroll allows NULL, the spec does not")
    sized = re.fullmatch(r"(\w+)(?:\((\d+)(?:,\s*(\d+))?\))?", declared)
    assert sized, declared
    base, size, places = sized[1], int(sized[2] or 0), int(sized[3] or 0)
    if column.kind == "text":
        fits = base in ("VARCHAR", "NVARCHAR", "CHAR", "NCHAR") and size <= (column.width or 0)
    elif column.kind == "smallint":
        fits = base in ("SMALLINT", "TINYINT")
    elif column.kind == "integer":
        fits = base in ("INTEGER", "INT", "SMALLINT", "TINYINT")
    elif column.kind == "boolean":
        fits = base in ("BOOLEAN", "BIT")
    else:
        digits, scale = column.width or 0, column.scale or 0
        fits = (
            base in ("DECIMAL", "NUMERIC") and places <= scale and size - places <= digits - scale
        )
    if not fits:
        problems.append(f"payroll's {declared} does not fit the spec's {column}")
    return problems


def spec_problems(spec, tables) -> list[str]:
    """Every way a spec disagrees with one payroll schema."""
    table = tables.get(spec.source_table)
    if table is None:
        return [f"payroll has no table {spec.source_table}"]
    problems = []
    if list(spec.columns) != list(table):
        problems.append(f"columns {list(spec.columns)} are not payroll's {list(table)}")
    if list(spec.key) != [c for c, (_, _, in_key) in table.items() if in_key]:
        problems.append(f"key {spec.key} is not payroll's primary key")
    for column in spec.fields:
        if column.name in table:
            declared, nullable, _ = table[column.name]
            problems += [f"{column.name}: {p}" for p in disagreements(column, declared, nullable)]
    return problems


SCHEMAS = [VENDORED_SCHEMA, MSSQL_SCHEMA]


@pytest.fixture(scope="module", params=SCHEMAS, ids=lambda p: p.name)
def payroll_lookups(request):
    """The lookup tables of one of the contract's schemas (SQL Server's, where it is at hand)."""
    if not request.param.exists():
        pytest.skip(f"{request.param} is not beside this checkout")
    return lookup_section(request.param)


def test_every_lookup_of_the_contract_has_one_spec(payroll_lookups):
    assert sorted(s.source_table for s in ALL_SPECS) == sorted(payroll_lookups)
    assert (
        len({s.name for s in ALL_SPECS}) == len({s.ess_table for s in ALL_SPECS}) == len(ALL_SPECS)
    )
    assert PAY_FREQUENCY not in LOOKUPS


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
def test_a_spec_agrees_with_the_payroll_schema(spec, payroll_lookups):
    assert spec_problems(spec, payroll_lookups) == []


def test_a_spec_that_disagrees_with_payroll_is_caught():
    tables = lookup_section(VENDORED_SCHEMA)
    country = spec_named("country")
    narrow = replace(country, value_columns=(text("description", 40),))
    assert spec_problems(narrow, tables) == [
        f"description: payroll's VARCHAR(60) does not fit the spec's {text('description', 40)}"
    ]
    fund = spec_named("super fund")
    abn_required = replace(
        fund, value_columns=(fund.value_columns[0], text("abn", 11), *fund.value_columns[2:])
    )
    assert spec_problems(abn_required, tables) == ["abn: payroll allows NULL, the spec does not"]
    assert spec_problems(replace(fund, value_columns=fund.value_columns[:1]), tables) == [
        "columns ['fund_code', 'fund_name'] are not payroll's "
        "['fund_code', 'fund_name', 'abn', 'usi', 'is_smsf', 'is_active']"
    ]


def test_a_spec_key_is_never_null():
    with pytest.raises(ValueError, match="non-null"):
        replace(spec_named("country"), key_columns=(text("country_code", 3, nullable=True),))


def test_a_lookup_is_kept_in_the_table_its_spec_names():
    assert spec_named("super fund").ess_table == "super_fund"
    assert replace(spec_named("gender"), ess_table="ess_gender").ess_table == "ess_gender"


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

"""A lookup ESS has never heard of goes through the same importer: a spec is all it takes."""

from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.lookups import LookupSpec, boolean, code, decimal, integer, text
from ess.database import ess_engine
from ess.schema import metadata, table_of
from ess.store.log import read_log
from ess.store.registry import register_database
from tasks.lookups.importer import import_lookups, read_lookups, write_lookups
from tests.support import execute, insert_rows

PLANET = LookupSpec(
    "planet",
    "planet",
    (code("planet_code", 5),),
    (
        text("description", 40),
        decimal("mass", 12, 4, nullable=True),
        boolean("has_rings"),
        integer("moons", nullable=True),
    ),
    ess_table="ess_planet",
)
PAYROLL_DDL = """CREATE TABLE planet (
    planet_code VARCHAR(5)    NOT NULL PRIMARY KEY,
    description VARCHAR(40)   NOT NULL,
    mass        DECIMAL(12,4),
    has_rings   BOOLEAN       NOT NULL,
    moons       INTEGER
)"""
PLANETS = [
    {
        "planet_code": "MERC",
        "description": "Mercury",
        "mass": "0.3300",
        "has_rings": False,
        "moons": 0,
    },
    {
        "planet_code": "SAT",
        "description": "Saturn",
        "mass": "568.3200",
        "has_rings": True,
        "moons": 146,
    },
    {
        "planet_code": "X9",
        "description": "Unnamed",
        "mass": None,
        "has_rings": False,
        "moons": None,
    },
]


@pytest.fixture
def planets(ess, request, prefect_api):
    """A payroll on ESS's engine with a planet table, ESS with the table the spec generates."""
    payroll = request.getfixturevalue(
        "payroll_sqlite" if ess.startswith("sqlite") else "payroll_postgres"
    )
    execute(payroll, PAYROLL_DDL)
    insert_rows(payroll, "planet", PLANETS)
    table_of(PLANET).create(ess_engine())
    register_database("solar_payroll", url=payroll)
    return payroll


def _read_then_write(preview=False):
    rows = read_lookups.fn((PLANET,), "solar_payroll")
    [counts] = write_lookups.fn((PLANET,), "solar_payroll", rows, None, preview)
    return counts


def _read_and_write(preview=False):
    [counts] = import_lookups.fn((PLANET,), "solar_payroll", None, preview)
    return counts


def _ess_planets():
    table = table_of(PLANET)
    with ess_engine().connect() as conn:
        rows = conn.execute(sa.select(table).order_by(table.c.planet_code)).mappings()
        return {r["planet_code"]: r for r in rows}


def _counts_rows():
    return [r.message for r in read_log("solar_payroll") if r.message.startswith("Imported planet")]


# Sync from Payroll imports in one task run; Sync balances for Leave Report logs between halves.
@pytest.mark.parametrize("_import", [_read_and_write, _read_then_write])
def test_a_throwaway_lookup_is_added_then_left_alone_then_marked_gone(planets, _import):
    assert PLANET.ess_table not in metadata.tables  # ESS's own schema is untouched
    assert _import(preview=True).added == 3
    assert _ess_planets() == {}

    assert _import().added == 3
    stored = _ess_planets()
    assert stored["SAT"]["mass"] == Decimal("568.3200") and stored["SAT"]["has_rings"] is True
    assert stored["X9"]["mass"] is None and stored["X9"]["moons"] is None
    assert all(
        r["in_payroll"] and r["payroll_database"] == "solar_payroll" for r in stored.values()
    )

    again = _import()
    assert (again.added, again.updated, again.deactivated, again.unchanged) == (0, 0, 0, 3)

    execute(planets, "DELETE FROM planet WHERE planet_code = 'X9'")
    gone = _import()
    assert (gone.added, gone.updated, gone.deactivated, gone.unchanged) == (0, 0, 1, 2)
    assert {code: r["in_payroll"] for code, r in _ess_planets().items()} == {
        "MERC": True,
        "SAT": True,
        "X9": False,
    }
    assert _counts_rows() == [
        "Imported planet: 3 added, 0 updated, 0 deactivated, 0 unchanged.",
        "Imported planet: 0 added, 0 updated, 0 deactivated, 3 unchanged.",
        "Imported planet: 0 added, 0 updated, 1 deactivated, 2 unchanged.",
    ]


@pytest.mark.parametrize("_import", [_read_and_write, _read_then_write])
def test_a_failure_names_the_throwaway_lookup(planets, _import):
    execute(planets, "DROP TABLE planet")
    with pytest.raises(Exception) as failure:
        _import()
    assert failure.value.step == "Importing planet"


def test_a_lookups_counts_row_commits_with_its_changes_or_neither_does(planets, monkeypatch):
    import tasks.lookups.importer as importer

    def full_log(*args, **kwargs):
        raise RuntimeError("the Web API Log refused the row")

    with monkeypatch.context() as patched:
        patched.setattr(importer, "insert_log", full_log)
        with pytest.raises(Exception) as failure:
            _read_and_write()
    assert failure.value.step == "Importing planet"
    # The three planets were written in the transaction the row failed in: gone with it.
    assert _ess_planets() == {} and _counts_rows() == []

    assert _read_and_write().added == 3  # the retry finds them still to add, and says so
    assert set(_ess_planets()) == {"MERC", "SAT", "X9"}
    assert _counts_rows() == ["Imported planet: 3 added, 0 updated, 0 deactivated, 0 unchanged."]

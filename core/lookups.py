"""The lookups Sync from Payroll copies, described as data: one spec per payroll table.

A spec says everything the sync needs: which payroll table, its key, and each column with
its type, from which ESS generates the lookup's table (ess/schema.py) and Alembic its
migration. Adding a lookup is one more spec in LOOKUPS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["text", "smallint", "integer", "decimal", "boolean"]


@dataclass(frozen=True)
class LookupColumn:
    """One column a lookup copies, typed as ESS stores it."""

    name: str
    kind: Kind
    width: int | None = None
    """Text: its length in characters. Decimal: its digits in all."""
    scale: int | None = None
    """Decimal: its digits after the point."""
    nullable: bool = False


def code(name: str, width: int) -> LookupColumn:
    """A code: text, never null (every key column is one)."""
    return LookupColumn(name, "text", width)


def text(name: str, width: int, *, nullable: bool = False) -> LookupColumn:
    """Text of at most `width` characters."""
    return LookupColumn(name, "text", width, nullable=nullable)


def flag(name: str) -> LookupColumn:
    """A yes/no payroll keeps as SMALLINT 0/1; ESS keeps it the same way."""
    return LookupColumn(name, "smallint")


def small_int(name: str, *, nullable: bool = False) -> LookupColumn:
    """A small whole number (SMALLINT)."""
    return LookupColumn(name, "smallint", nullable=nullable)


def integer(name: str, *, nullable: bool = False) -> LookupColumn:
    """A whole number (INTEGER)."""
    return LookupColumn(name, "integer", nullable=nullable)


def decimal(name: str, digits: int, places: int, *, nullable: bool = False) -> LookupColumn:
    """An exact decimal: `digits` in all, `places` of them after the point."""
    return LookupColumn(name, "decimal", digits, places, nullable=nullable)


def boolean(name: str, *, nullable: bool = False) -> LookupColumn:
    """A true/false a payroll keeps as BOOLEAN (or BIT)."""
    return LookupColumn(name, "boolean", nullable=nullable)


@dataclass(frozen=True)
class LookupSpec:
    """How one payroll lookup table is copied into ESS."""

    name: str
    """The lookup as the Web API Log names it ("super fund")."""
    source_table: str
    key_columns: tuple[LookupColumn, ...]
    value_columns: tuple[LookupColumn, ...]
    ess_table: str = field(default="")
    """The ESS table that holds this lookup; the payroll table's name unless given."""

    def __post_init__(self) -> None:
        if not self.ess_table:
            object.__setattr__(self, "ess_table", self.source_table)
        if not self.key_columns or any(c.nullable for c in self.key_columns):
            raise ValueError(f"Lookup {self.name!r}: its key must be non-null columns.")

    @property
    def fields(self) -> tuple[LookupColumn, ...]:
        """Every column copied, key columns first."""
        return self.key_columns + self.value_columns

    @property
    def key(self) -> tuple[str, ...]:
        """The key columns' names."""
        return tuple(c.name for c in self.key_columns)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every copied column's name, key columns first."""
        return tuple(c.name for c in self.fields)

    @property
    def values(self) -> tuple[str, ...]:
        """The non-key columns' names."""
        return tuple(c.name for c in self.value_columns)


# Widths are payroll's (CONTRACT.md, schema.sql); tests/core/test_lookups.py checks them.
LOOKUPS: tuple[LookupSpec, ...] = (
    LookupSpec("country", "country", (code("country_code", 3),), (text("description", 60),)),
    LookupSpec(
        "state",
        "state",
        (code("country_code", 3), code("state_code", 3)),
        (text("description", 60),),
    ),
    LookupSpec("gender", "gender", (code("gender_code", 1),), (text("description", 40),)),
    LookupSpec(
        "super fund",
        "super_fund",
        (code("fund_code", 10),),
        (
            text("fund_name", 100),
            text("abn", 11, nullable=True),
            text("usi", 20, nullable=True),
            flag("is_smsf"),
            flag("is_active"),
        ),
    ),
    LookupSpec(
        "cost account",
        "cost_account",
        (code("account_code", 20),),
        (text("description", 100), flag("is_active")),
    ),
    LookupSpec(
        "job classification",
        "job_classification",
        (code("classification_code", 20),),
        (text("description", 100), text("award_code", 20, nullable=True)),
    ),
    LookupSpec(
        "employment type",
        "employment_type",
        (code("employment_type_code", 1),),
        (text("description", 40),),
    ),
    LookupSpec(
        "location",
        "location",
        (code("location_code", 10),),
        (text("description", 100), text("state_code", 3, nullable=True)),
    ),
    LookupSpec(
        "pay point", "pay_point", (code("pay_point_code", 10),), (text("description", 100),)
    ),
    LookupSpec(
        "leave type",
        "leave_type",
        (code("leave_type_code", 10),),
        (text("description", 60), text("category", 20), text("unit", 1)),
    ),
    LookupSpec(
        "leave reason",
        "leave_reason",
        (code("leave_type_code", 10), code("reason_code", 10)),
        (text("description", 60),),
    ),
)
"""The eleven lookups of generator/CONTRACT.md, in the order Sync from Payroll imports them."""

PAY_FREQUENCY = LookupSpec(
    "pay frequency",
    "pay_frequency",
    (code("frequency_code", 1),),
    (text("description", 40), small_int("periods_per_year")),
)
"""Imported as its own step, after the lookups."""

LEAVE_LOOKUPS: tuple[LookupSpec, ...] = tuple(
    s for s in LOOKUPS if s.source_table in ("leave_type", "leave_reason")
)
"""Refreshed again by "Sync balances for Leave Report"."""

ALL_SPECS: tuple[LookupSpec, ...] = (*LOOKUPS, PAY_FREQUENCY)


def spec_named(name: str) -> LookupSpec:
    """Find a spec by its log name or its table name."""
    wanted = name.strip().lower().replace("-", " ").replace("_", " ")
    for spec in ALL_SPECS:
        if wanted in (spec.name, spec.source_table.replace("_", " ")):
            return spec
    known = ", ".join(s.source_table for s in ALL_SPECS)
    raise KeyError(f"Unknown lookup {name!r}: the lookups are {known}.")

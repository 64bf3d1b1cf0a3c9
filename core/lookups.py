"""The lookups Sync from Payroll copies, described as data: one spec per payroll table."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LookupSpec:
    """How one payroll lookup table is copied into ESS."""

    name: str
    """The lookup as the Web API Log names it ("super fund")."""
    source_table: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    """Every column copied, key columns first."""

    @property
    def values(self) -> tuple[str, ...]:
        """The non-key columns."""
        return tuple(c for c in self.columns if c not in self.key)

    @property
    def ess_table(self) -> str:
        """The ESS table that holds this lookup."""
        return self.source_table


def _spec(name: str, table: str, key: tuple[str, ...], values: tuple[str, ...]) -> LookupSpec:
    return LookupSpec(name, table, key, key + values)


LOOKUPS: tuple[LookupSpec, ...] = (
    _spec("country", "country", ("country_code",), ("description",)),
    _spec("state", "state", ("country_code", "state_code"), ("description",)),
    _spec("gender", "gender", ("gender_code",), ("description",)),
    _spec(
        "super fund",
        "super_fund",
        ("fund_code",),
        ("fund_name", "abn", "usi", "is_smsf", "is_active"),
    ),
    _spec("cost account", "cost_account", ("account_code",), ("description", "is_active")),
    _spec(
        "job classification",
        "job_classification",
        ("classification_code",),
        ("description", "award_code"),
    ),
    _spec("employment type", "employment_type", ("employment_type_code",), ("description",)),
    _spec("location", "location", ("location_code",), ("description", "state_code")),
    _spec("pay point", "pay_point", ("pay_point_code",), ("description",)),
    _spec("leave type", "leave_type", ("leave_type_code",), ("description", "category", "unit")),
    _spec("leave reason", "leave_reason", ("leave_type_code", "reason_code"), ("description",)),
)
"""The eleven lookups of generator/CONTRACT.md, in the order Sync from Payroll imports them."""

PAY_FREQUENCY = _spec(
    "pay frequency", "pay_frequency", ("frequency_code",), ("description", "periods_per_year")
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

"""Employees: normalising payroll's rows, the field-ownership rules, and what makes a row bad.

Decisions on bad rows (README "Bad employee rows" says the same to support staff):

| problem | outcome |
|---|---|
| two employees share one code | both rejected (ESS knows employees by code) |
| date_hired missing or impossible; termination_date impossible | rejected |
| a payroll-owned value too long for ESS | rejected |
| unknown pay frequency (required) | rejected |
| unknown optional lookup code (gender, state, location, ...) | imported, field empty, warning |
| manager who does not exist | imported without a manager, warning |
| impossible date_of_birth; an ESS-owned value too long | imported, field left empty, warning |

A rejected employee is neither added nor updated (ESS keeps what it had); a warning imports
the employee. Both are kept as issues until a later sync imports the row cleanly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

PAYROLL_COLUMNS: tuple[str, ...] = (
    "employee_id",
    "employee_code",
    "title",
    "first_name",
    "middle_name",
    "preferred_name",
    "surname",
    "gender_code",
    "date_of_birth",
    "marital_status",
    "personal_email",
    "work_email",
    "mobile",
    "phone",
    "address_line1",
    "address_line2",
    "suburb",
    "state_code",
    "postcode",
    "country_code",
    "date_hired",
    "termination_date",
    "employment_type_code",
    "classification_code",
    "cost_account_code",
    "location_code",
    "pay_point_code",
    "pay_frequency_code",
    "fund_code",
    "super_member_number",
    "yearly_salary",
    "normal_rate",
    "tax_file_number",
    "tax_free_threshold",
    "bank_bsb",
    "bank_account_number",
    "manager_code",
    "last_modified",
)
"""payroll.employee's columns, in schema.sql's order."""

# generator/CONTRACT.md's table, left column. gender, date_of_birth and work_email are not in
# the table; payroll keeps them (the employee cannot edit them in ESS), so payroll owns them.
PAYROLL_OWNED: tuple[str, ...] = (
    "employee_code",
    "first_name",
    "middle_name",
    "surname",
    "gender_code",
    "date_of_birth",
    "work_email",
    "date_hired",
    "termination_date",
    "employment_type_code",
    "classification_code",
    "cost_account_code",
    "location_code",
    "pay_point_code",
    "pay_frequency_code",
    "fund_code",
    "super_member_number",
    "yearly_salary",
    "normal_rate",
    "tax_free_threshold",
    "manager_code",
    "tax_file_number_masked",
)
"""Updated by every sync."""

# generator/CONTRACT.md's right column. The bank account number goes with the BSB: the employee
# edits their bank details in ESS, so it is taken once like the BSB.
ESS_OWNED: tuple[str, ...] = (
    "title",
    "preferred_name",
    "marital_status",
    "personal_email",
    "mobile",
    "phone",
    "address_line1",
    "address_line2",
    "suburb",
    "state_code",
    "postcode",
    "country_code",
    "bank_bsb",
    "bank_account_masked",
)
"""Taken on the first import, then owned by ESS."""

ESS_COLUMNS: tuple[str, ...] = PAYROLL_OWNED + ESS_OWNED

SECRET_COLUMNS = ("tax_file_number", "bank_account_number")

# ESS's column widths (ess/schema.py holds the same numbers; a test checks they agree).
WIDTHS: dict[str, int] = {
    "employee_code": 15,
    "title": 10,
    "first_name": 50,
    "middle_name": 50,
    "preferred_name": 50,
    "surname": 50,
    "gender_code": 1,
    "marital_status": 1,
    "personal_email": 254,
    "work_email": 254,
    "mobile": 20,
    "phone": 20,
    "address_line1": 100,
    "address_line2": 100,
    "suburb": 60,
    "state_code": 3,
    "postcode": 10,
    "country_code": 3,
    "employment_type_code": 1,
    "classification_code": 20,
    "cost_account_code": 20,
    "location_code": 10,
    "pay_point_code": 10,
    "pay_frequency_code": 1,
    "fund_code": 10,
    "super_member_number": 20,
    "manager_code": 15,
    "bank_bsb": 6,
}

# Employee field -> the lookup (ESS table) its code must name.
LOOKUP_FIELDS: dict[str, str] = {
    "gender_code": "gender",
    "state_code": "state",
    "country_code": "country",
    "employment_type_code": "employment_type",
    "classification_code": "job_classification",
    "cost_account_code": "cost_account",
    "location_code": "location",
    "pay_point_code": "pay_point",
    "pay_frequency_code": "pay_frequency",
    "fund_code": "super_fund",
}
REQUIRED_LOOKUPS = ("pay_frequency_code",)
NOT_TERMINATED = date(1900, 1, 1)


@dataclass(frozen=True)
class Issue:
    """A problem with one payroll employee row: a rejection or a warning. Never a secret."""

    employee_code: str
    payroll_employee_id: int | None
    field: str
    value: str | None
    reason: str
    rejected: bool

    def message(self) -> str:
        """The Web API Log row for this issue."""
        what = "Rejected" if self.rejected else "Warning for"
        shown = "" if self.value is None else f" {self.value!r}"
        return f"{what} employee {self.employee_code}: {self.field}{shown} {self.reason}."


def code_key(code: str | None) -> str:
    """The key an employee or lookup code is matched by: trimmed, without case."""
    return (code or "").strip().upper()


@dataclass(frozen=True)
class LookupCodes:
    """The codes each lookup holds in ESS: matched without case, mapped to the lookup's own."""

    codes: Mapping[str, Mapping[str, str]]

    def resolve(self, lookup: str, code: str) -> str | None:
        """The lookup's own spelling of a code, or None if the lookup has no such code."""
        return self.codes.get(lookup, {}).get(code_key(code))


class _NoLookups(LookupCodes):
    def resolve(self, lookup: str, code: str) -> str | None:
        raise AssertionError("a step that reads no employee was asked to resolve a code")


NO_LOOKUPS = _NoLookups({})
"""The lookups of a step that prepares no row: none are read, and none may be asked for."""


def parse_date(value: Any) -> date | None:
    """A date from a driver: a date, a datetime, or ISO text (SQLite). ValueError if impossible."""
    if value is None or value == "":
        return None
    if type(value) is date:
        return value
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip()[:10])


def duplicate_codes(pairs: Iterable[tuple[int, str | None]]) -> dict[str, list[int]]:
    """Codes held by more than one payroll employee, with their payroll ids."""
    by_code: dict[str, list[int]] = {}
    for payroll_id, code in pairs:
        by_code.setdefault(code_key(code), []).append(payroll_id)
    return {code: sorted(ids) for code, ids in by_code.items() if len(ids) > 1 and code}


def duplicate_issue(code: str, payroll_ids: Sequence[int], payroll_id: int) -> Issue:
    """The rejection of one of several employees sharing a code."""
    ids = ", ".join(str(i) for i in payroll_ids)
    return Issue(
        code,
        payroll_id,
        "employee_code",
        code,
        f"is held by {len(payroll_ids)} payroll employees (ids {ids}); neither is imported "
        "until payroll gives each its own code",
        True,
    )


SAMPLED = 10
"""The codes of each kind of change a step remembers (a preview shows them)."""


@dataclass
class EmployeeCounts:
    """What the employees step did."""

    added: int = 0
    updated: int = 0
    terminated: int = 0
    unchanged: int = 0
    rejected: int = 0
    removed: int = 0
    samples: dict[str, list[str]] = field(default_factory=dict)

    def counted(self) -> dict[str, int]:
        """Each count by its name, as the Web API Log orders them."""
        return {
            "added": self.added,
            "updated": self.updated,
            "terminated": self.terminated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "removed": self.removed,
        }

    def note_first(self, kind: str, count: int, first: Sequence[str]) -> None:
        """Count `count` changes of one kind, given only the first codes (for previews)."""
        self.note_all(kind, first)
        setattr(self, kind, getattr(self, kind) + count - len(first))

    def note(self, kind: str, code: str, keep: int = SAMPLED) -> None:
        """Count one change and remember the first codes of each kind (for previews)."""
        self.note_all(kind, [code], keep)

    def note_all(self, kind: str, codes: Sequence[str], keep: int = SAMPLED) -> None:
        """Count changes of one kind and remember the first codes (for previews)."""
        setattr(self, kind, getattr(self, kind) + len(codes))
        sample = self.samples.setdefault(kind, [])
        for code in codes:
            if len(sample) >= keep:
                break
            if code not in sample:
                sample.append(code)

    def merge(self, other: EmployeeCounts) -> None:
        """Add another part's counts; the samples keep the first codes of each kind."""
        for kind in ("added", "updated", "terminated", "unchanged", "rejected", "removed"):
            setattr(self, kind, getattr(self, kind) + getattr(other, kind))
        for kind, codes in other.samples.items():
            sample = self.samples.setdefault(kind, [])
            sample += [c for c in codes if c not in sample][: max(0, SAMPLED - len(sample))]


def is_newly_terminated(old_termination: date | None, new_termination: date | None) -> bool:
    """True when a sync sets an employee's termination date."""
    return old_termination is None and new_termination is not None

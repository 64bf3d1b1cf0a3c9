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

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core.redact import mask_number

PAYROLL_COLUMNS: tuple[str, ...] = (
    "employee_id", "employee_code", "title", "first_name", "middle_name", "preferred_name",
    "surname", "gender_code", "date_of_birth", "marital_status", "personal_email", "work_email",
    "mobile", "phone", "address_line1", "address_line2", "suburb", "state_code", "postcode",
    "country_code", "date_hired", "termination_date", "employment_type_code",
    "classification_code", "cost_account_code", "location_code", "pay_point_code",
    "pay_frequency_code", "fund_code", "super_member_number", "yearly_salary", "normal_rate",
    "tax_file_number", "tax_free_threshold", "bank_bsb", "bank_account_number", "manager_code",
    "last_modified",
)  # fmt: skip
"""payroll.employee's columns, in schema.sql's order."""

# CONTRACT.md's table, left column. gender, date_of_birth and work_email are not in
# the table; payroll keeps them (the employee cannot edit them in ESS), so payroll owns them.
PAYROLL_OWNED: tuple[str, ...] = (
    "employee_code", "first_name", "middle_name", "surname", "gender_code", "date_of_birth",
    "work_email", "date_hired", "termination_date", "employment_type_code",
    "classification_code", "cost_account_code", "location_code", "pay_point_code",
    "pay_frequency_code", "fund_code", "super_member_number", "yearly_salary", "normal_rate",
    "tax_free_threshold", "manager_code", "tax_file_number_masked",
)  # fmt: skip
"""Updated by every sync."""

# CONTRACT.md's right column. The bank account number goes with the BSB: the employee
# edits their bank details in ESS, so it is taken once like the BSB.
ESS_OWNED: tuple[str, ...] = (
    "title", "preferred_name", "marital_status", "personal_email", "mobile", "phone",
    "address_line1", "address_line2", "suburb", "state_code", "postcode", "country_code",
    "bank_bsb", "bank_account_masked",
)  # fmt: skip
"""Taken on the first import, then owned by ESS."""

ESS_COLUMNS: tuple[str, ...] = PAYROLL_OWNED + ESS_OWNED

SECRET_COLUMNS = ("tax_file_number", "bank_account_number")

# ESS's column widths (ess/schema.py holds the same numbers; a test checks they agree).
WIDTHS: dict[str, int] = {
    "employee_code": 15, "title": 10, "first_name": 50, "middle_name": 50,
    "preferred_name": 50, "surname": 50, "gender_code": 1, "marital_status": 1,
    "personal_email": 254, "work_email": 254, "mobile": 20, "phone": 20,
    "address_line1": 100, "address_line2": 100, "suburb": 60, "state_code": 3, "postcode": 10,
    "country_code": 3, "employment_type_code": 1, "classification_code": 20,
    "cost_account_code": 20, "location_code": 10, "pay_point_code": 10,
    "pay_frequency_code": 1, "fund_code": 10, "super_member_number": 20, "manager_code": 15,
    "bank_bsb": 6,
}  # fmt: skip

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


@dataclass
class Employee:
    """One payroll employee, normalised to ESS's columns."""

    code_key: str
    payroll_employee_id: int
    values: dict[str, Any]
    warnings: list[Issue] = field(default_factory=list)
    payroll_hash: str = ""
    """A fingerprint of the payroll-owned fields: equal fingerprints, nothing to update."""

    def __post_init__(self) -> None:
        if not self.payroll_hash:
            self.payroll_hash = fingerprint(self.values)


def fingerprint(values: Mapping[str, Any]) -> str:
    """The hash of the payroll-owned values of an ESS employee row."""
    text = "\x1f".join(_canonical(values.get(c)) for c in PAYROLL_OWNED)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _canonical(value: Any) -> str:
    if value is None:
        return "\x00"
    if type(value) is str:
        return value
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


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


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value.strip() if type(value) is str else str(value).strip()
    return text or None


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


def _decimal(value: Any, places: str) -> Decimal | None:
    if value is None or value == "":
        return None
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    return number.quantize(Decimal(places))


def prepare_employee(
    row: Sequence[Any], lookups: LookupCodes
) -> tuple[Employee | None, list[Issue]]:
    """Normalise one payroll row; (None, issues) when it is rejected."""
    raw = dict(zip(PAYROLL_COLUMNS, row, strict=True))
    code = _text(raw["employee_code"]) or ""
    payroll_id = int(raw["employee_id"])
    issues: list[Issue] = []

    def issue(column: str, value: Any, reason: str, rejected: bool) -> None:
        shown = None if value is None else str(value)
        issues.append(Issue(code, payroll_id, column, shown, reason, rejected))

    values: dict[str, Any] = {}
    if not code:
        issue("employee_code", None, "is empty", True)
    for column, width in WIDTHS.items():
        text = _text(raw.get(column)) if column in raw else None
        if text is not None and len(text) > width:
            owned = column in PAYROLL_OWNED
            issue(column, text[:40], f"is longer than ESS allows ({len(text)} > {width})", owned)
            text = None
        values[column] = text
    values["employee_code"] = code

    for column in ("date_hired", "termination_date", "date_of_birth"):
        try:
            values[column] = parse_date(raw[column])
        except ValueError:
            issue(column, raw[column], "is not a possible date", column != "date_of_birth")
            values[column] = None
    if values["date_hired"] is None and not any(i.field == "date_hired" for i in issues):
        issue("date_hired", None, "is missing", True)
    if values["termination_date"] == NOT_TERMINATED:
        values["termination_date"] = None

    for column, lookup in LOOKUP_FIELDS.items():
        given = values.get(column)
        if given is None:
            continue
        own = lookups.resolve(lookup, given)
        if own is None:
            required = column in REQUIRED_LOOKUPS
            issue(column, given, f"is not a known {lookup.replace('_', ' ')} code", required)
        values[column] = own

    try:
        values["yearly_salary"] = _decimal(raw["yearly_salary"], "0.01")
        values["normal_rate"] = _decimal(raw["normal_rate"], "0.0001")
    except (InvalidOperation, ValueError):
        issue("yearly_salary", None, "is not a number", True)
    values["tax_free_threshold"] = int(raw["tax_free_threshold"] or 0)
    values["manager_code"] = code_key(values["manager_code"]) or None
    # Privacy (TFN) Rule 2015: only masked forms ever leave this function.
    values["tax_file_number_masked"] = mask_number(_text(raw["tax_file_number"]))
    values["bank_account_masked"] = mask_number(_text(raw["bank_account_number"]))

    if any(i.rejected for i in issues):
        return None, issues
    return Employee(code_key(code), payroll_id, values, warnings=issues), issues


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
        code, payroll_id, "employee_code", code,
        f"is held by {len(payroll_ids)} payroll employees (ids {ids}); neither is imported "
        "until payroll gives each its own code", True,
    )  # fmt: skip


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

    def note(self, kind: str, code: str, keep: int = 10) -> None:
        """Count one change and remember the first codes of each kind (for previews)."""
        setattr(self, kind, getattr(self, kind) + 1)
        sample = self.samples.setdefault(kind, [])
        if len(sample) < keep and code not in sample:
            sample.append(code)


def is_newly_terminated(old_termination: date | None, new_termination: date | None) -> bool:
    """True when a sync sets an employee's termination date."""
    return old_termination is None and new_termination is not None

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

# generator/CONTRACT.md's table, left column. gender, date_of_birth and work_email are not in
# the table; payroll keeps them (the employee cannot edit them in ESS), so payroll owns them.
PAYROLL_OWNED: tuple[str, ...] = (
    "employee_code", "first_name", "middle_name", "surname", "gender_code", "date_of_birth",
    "work_email", "date_hired", "termination_date", "employment_type_code",
    "classification_code", "cost_account_code", "location_code", "pay_point_code",
    "pay_frequency_code", "fund_code", "super_member_number", "yearly_salary", "normal_rate",
    "tax_free_threshold", "manager_code", "tax_file_number_masked",
)  # fmt: skip
"""Updated by every sync."""

# generator/CONTRACT.md's right column. The bank account number goes with the BSB: the employee
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

    def owned(self) -> tuple[Any, ...]:
        """The payroll-owned values, in PAYROLL_OWNED order: equal tuples, nothing to update."""
        return tuple(self.values.get(c) for c in PAYROLL_OWNED)


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

    def note(self, kind: str, code: str, keep: int = 10) -> None:
        """Count one change and remember the first codes of each kind (for previews)."""
        self.note_all(kind, [code], keep)

    def note_all(self, kind: str, codes: Sequence[str], keep: int = 10) -> None:
        """Count changes of one kind and remember the first codes (for previews)."""
        setattr(self, kind, getattr(self, kind) + len(codes))
        sample = self.samples.setdefault(kind, [])
        for code in codes:
            if len(sample) >= keep:
                break
            if code not in sample:
                sample.append(code)


def is_newly_terminated(old_termination: date | None, new_termination: date | None) -> bool:
    """True when a sync sets an employee's termination date."""
    return old_termination is None and new_termination is not None


@dataclass
class PreparedRows:
    """A chunk of payroll rows normalised column by column: the accepted rows and the issues.

    `columns[c][n]` is ESS column c of the n-th accepted employee, whose code key is
    `keys[n]` and payroll id `payroll_ids[n]`. `codes` holds the code key of every row read,
    in order, rejected or not (for duplicate checks).
    """

    keys: list[str]
    payroll_ids: list[int]
    columns: dict[str, list[Any]]
    issues: list[Issue]
    rejected_keys: list[str]
    codes: list[str]

    def __len__(self) -> int:
        return len(self.keys)

    def owned(self) -> list[tuple[Any, ...]]:
        """Each accepted row's payroll-owned values (as Employee.owned)."""
        return list(zip(*(self.columns[c] for c in PAYROLL_OWNED), strict=True))

    def keep(self, picked: list[int]) -> None:
        """Keep only the accepted rows at `picked`."""
        self.keys = [self.keys[n] for n in picked]
        self.payroll_ids = [self.payroll_ids[n] for n in picked]
        self.columns = {c: [v[n] for n in picked] for c, v in self.columns.items()}


_SOURCE_AT = {c: PAYROLL_COLUMNS.index(c) for c in PAYROLL_COLUMNS}
_DATES = ("date_hired", "termination_date", "date_of_birth")
_DECIMALS = {"yearly_salary": Decimal("0.01"), "normal_rate": Decimal("0.0001")}


def prepare_rows(
    rows: Sequence[Sequence[Any]],
    lookups: LookupCodes,
    declared_widths: Mapping[str, int | None] | None = None,
) -> PreparedRows:
    """prepare_employee for a whole chunk, column by column: the same result, far faster.

    Each column is normalised and checked as one list; a row that any check flags is handed
    to prepare_employee, which says exactly what is wrong with it. Clean rows never are.
    `declared_widths` are payroll's column widths where its engine enforces them: a column
    no wider than ESS's needs no length check.
    """
    declared = declared_widths or {}
    if not rows:
        return PreparedRows([], [], {c: [] for c in ESS_COLUMNS}, [], [], [])
    source = list(zip(*rows, strict=True))
    flagged: set[int] = set()
    out: dict[str, list[Any]] = {}
    for column, width in WIDTHS.items():
        texts = _texts(source[_SOURCE_AT[column]])
        fits = (declared.get(column) or width + 1) <= width
        if not fits and max(map(len, filter(None, texts)), default=0) > width:
            flagged.update(i for i, t in enumerate(texts) if t is not None and len(t) > width)
        out[column] = texts
    codes = out["employee_code"]
    if None in codes:
        flagged.update(i for i, c in enumerate(codes) if c is None)
    for column in _DATES:
        out[column] = _dates(source[_SOURCE_AT[column]], flagged)
    if None in out["date_hired"]:
        flagged.update(i for i, d in enumerate(out["date_hired"]) if d is None)
    if NOT_TERMINATED in out["termination_date"]:
        out["termination_date"] = [
            None if d == NOT_TERMINATED else d for d in out["termination_date"]
        ]
    for column, lookup in LOOKUP_FIELDS.items():
        texts = out[column]
        own: dict[str | None, str | None] = {
            t: lookups.resolve(lookup, t) for t in set(texts) if t is not None
        }
        unknown = {t for t, o in own.items() if o is None}
        if unknown:
            flagged.update(i for i, t in enumerate(texts) if t in unknown)
        own[None] = None
        out[column] = list(map(own.__getitem__, texts))
    for column, places in _DECIMALS.items():
        out[column] = _decimals(source[_SOURCE_AT[column]], places, flagged)
    out["tax_free_threshold"] = [int(v or 0) for v in source[_SOURCE_AT["tax_free_threshold"]]]
    managers = out["manager_code"]
    out["manager_code"] = [None if m is None else m.upper() for m in managers]
    out["tax_file_number_masked"] = _masks(source[_SOURCE_AT["tax_file_number"]])
    out["bank_account_masked"] = _masks(source[_SOURCE_AT["bank_account_number"]])

    keys = [c.upper() if c else "" for c in codes]
    ids = list(map(int, source[0]))
    columns = {c: out[c] for c in ESS_COLUMNS}
    prepared = PreparedRows(keys, ids, columns, [], [], list(keys))
    if flagged:
        _redo_flagged(prepared, rows, lookups, sorted(flagged))
    return prepared


def _redo_flagged(
    prepared: PreparedRows, rows: Sequence[Sequence[Any]], lookups: LookupCodes,
    flagged: list[int],
) -> None:  # fmt: skip
    """Replace each flagged row by prepare_employee's verdict on it, in row order."""
    rejected: set[int] = set()
    for i in flagged:
        emp, issues = prepare_employee(rows[i], lookups)
        prepared.issues += issues
        prepared.codes[i] = code_key(rows[i][1])
        if emp is None:
            rejected.add(i)
            prepared.rejected_keys.append(prepared.codes[i])
            continue
        prepared.keys[i] = emp.code_key
        for column, values in prepared.columns.items():
            values[i] = emp.values.get(column)
    if rejected:
        prepared.keep([i for i in range(len(rows)) if i not in rejected])


def _texts(values: Sequence[Any]) -> list[str | None]:
    """_text of each value."""
    return [
        (v.strip() or None) if type(v) is str else (None if v is None else _text(v)) for v in values
    ]


def _dates(values: Sequence[Any], flagged: set[int]) -> list[date | None]:
    """parse_date of each value; an impossible one flags its row (and reads None)."""
    if set(map(type, values)) <= {date, type(None)}:
        return list(values)
    out: list[date | None] = []
    for i, value in enumerate(values):
        try:
            out.append(parse_date(value))
        except ValueError:
            flagged.add(i)
            out.append(None)
    return out


def _decimals(values: Sequence[Any], places: Decimal, flagged: set[int]) -> list[Decimal | None]:
    """_decimal of each value; one that is not a number flags its row."""
    if set(map(type, values)) <= {Decimal, type(None)}:
        try:
            return [None if v is None else v.quantize(places) for v in values]
        except InvalidOperation:
            pass
    out: list[Decimal | None] = []
    text = str(places)
    for i, value in enumerate(values):
        try:
            out.append(_decimal(value, text))
        except (InvalidOperation, ValueError):
            flagged.add(i)
            out.append(None)
    return out


def _masks(values: Sequence[Any]) -> list[str | None]:
    """mask_number(_text(v)) of each value: only the last three digits are kept."""
    return [
        (("*****" + t[-3:]) if t.isalnum() else mask_number(t))
        if (t := v.strip() if type(v) is str else (_text(v) or "")) else None
        for v in values
    ]  # fmt: skip

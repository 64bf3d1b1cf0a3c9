"""Payroll's employee rows normalised to ESS's columns, a chunk at a time, column by column.

The one normaliser: each column is normalised and checked as one list (clean rows, nearly all
of them, cost a few list passes); a check that fails records an issue for its row, and rows
with a rejection are dropped. core/employees.py's table says which problem rejects and which
only warns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from core.employees import (
    ESS_COLUMNS,
    LOOKUP_FIELDS,
    NOT_TERMINATED,
    PAYROLL_COLUMNS,
    PAYROLL_OWNED,
    REQUIRED_LOOKUPS,
    WIDTHS,
    Issue,
    LookupCodes,
    parse_date,
)
from core.redact import mask_number


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
        """Each accepted row's payroll-owned values, in PAYROLL_OWNED order."""
        return list(zip(*(self.columns[c] for c in PAYROLL_OWNED), strict=True))

    def keep(self, picked: list[int]) -> None:
        """Keep only the accepted rows at `picked`."""
        self.keys = [self.keys[n] for n in picked]
        self.payroll_ids = [self.payroll_ids[n] for n in picked]
        self.columns = {c: [v[n] for n in picked] for c, v in self.columns.items()}


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


def prepare_employee(
    row: Sequence[Any], lookups: LookupCodes
) -> tuple[Employee | None, list[Issue]]:
    """Normalise one payroll row (prepare_rows of a chunk of one); (None, issues) if rejected."""
    prepared = prepare_rows([row], lookups)
    if not prepared:
        return None, prepared.issues
    values = {c: v[0] for c, v in prepared.columns.items()}
    employee = Employee(prepared.keys[0], prepared.payroll_ids[0], values, prepared.issues)
    return employee, prepared.issues


_SOURCE_AT = {c: PAYROLL_COLUMNS.index(c) for c in PAYROLL_COLUMNS}
_DATES = ("date_hired", "termination_date", "date_of_birth")
_DECIMALS = {"yearly_salary": Decimal("0.01"), "normal_rate": Decimal("0.0001")}
_DIGITS = 12  # ESS keeps both as DECIMAL(12, places)


class _Problems:
    """The problems found in a chunk, by row, in the order the checks ran."""

    def __init__(self) -> None:
        self.by_row: dict[int, list[tuple[str, str | None, str, bool]]] = {}

    def add(self, row: int, column: str, value: Any, reason: str, rejected: bool) -> None:
        """Note one problem of one row; the value is shown as text (never a secret column)."""
        shown = None if value is None else str(value)
        self.by_row.setdefault(row, []).append((column, shown, reason, rejected))

    def has(self, row: int, column: str) -> bool:
        """Whether a check already found a problem with this row's column."""
        return any(p[0] == column for p in self.by_row.get(row, ()))


def prepare_rows(
    rows: Sequence[Sequence[Any]],
    lookups: LookupCodes,
    declared_widths: Mapping[str, int | None] | None = None,
) -> PreparedRows:
    """Normalise a chunk of payroll rows (PAYROLL_COLUMNS) to ESS's columns, checking each.

    `declared_widths` are payroll's column widths where its engine enforces them: a column
    no wider than ESS's needs no length check.
    """
    declared = declared_widths or {}
    if not rows:
        return PreparedRows([], [], {c: [] for c in ESS_COLUMNS}, [], [], [])
    source = list(zip(*rows, strict=True))
    found = _Problems()
    out: dict[str, list[Any]] = {}
    codes = _texts(source[_SOURCE_AT["employee_code"]])
    if None in codes:
        for i in (i for i, c in enumerate(codes) if c is None):
            found.add(i, "employee_code", None, "is empty", True)
    for column, width in WIDTHS.items():
        texts = codes if column == "employee_code" else _texts(source[_SOURCE_AT[column]])
        fits = (declared.get(column) or width + 1) <= width
        if not fits and max(map(len, filter(None, texts)), default=0) > width:
            _too_long(texts, column, width, found)
        out[column] = texts
    for column in _DATES:
        out[column] = _dates(source[_SOURCE_AT[column]], column, found)
    if None in out["date_hired"]:
        for i in (i for i, d in enumerate(out["date_hired"]) if d is None):
            if not found.has(i, "date_hired"):
                found.add(i, "date_hired", None, "is missing", True)
    if NOT_TERMINATED in out["termination_date"]:
        out["termination_date"] = [
            None if d == NOT_TERMINATED else d for d in out["termination_date"]
        ]
    for column, lookup in LOOKUP_FIELDS.items():
        out[column] = _resolved(out[column], column, lookup, lookups, found)
    for column, places in _DECIMALS.items():
        out[column] = _decimals(source[_SOURCE_AT[column]], places, column, found)
    out["tax_free_threshold"] = [int(v or 0) for v in source[_SOURCE_AT["tax_free_threshold"]]]
    out["manager_code"] = [None if m is None else m.upper() for m in out["manager_code"]]
    # Privacy (TFN) Rule 2015: only masked forms ever leave this function.
    out["tax_file_number_masked"] = _masks(source[_SOURCE_AT["tax_file_number"]])
    out["bank_account_masked"] = _masks(source[_SOURCE_AT["bank_account_number"]])

    keys = [c.upper() if c else "" for c in codes]
    ids = list(map(int, source[0]))
    prepared = PreparedRows(keys, ids, {c: out[c] for c in ESS_COLUMNS}, [], [], list(keys))
    if found.by_row:
        _reject(prepared, codes, found)
    return prepared


def _too_long(texts: list[str | None], column: str, width: int, found: _Problems) -> None:
    """Note each value longer than ESS's column; a warned one is left empty."""
    owned = column in PAYROLL_OWNED
    for i, text in enumerate(texts):
        if text is not None and len(text) > width:
            reason = f"is longer than ESS allows ({len(text)} > {width})"
            found.add(i, column, text[:40], reason, owned)
            # The code stays as read: it names the employee in the rejection.
            if column != "employee_code":
                texts[i] = None


def _resolved(
    texts: list[str | None], column: str, lookup: str, lookups: LookupCodes, found: _Problems
) -> list[str | None]:
    """Each code as the lookup spells it; an unknown one is noted and left empty."""
    own: dict[str | None, str | None] = {
        t: lookups.resolve(lookup, t) for t in set(texts) if t is not None
    }
    unknown = {t for t, o in own.items() if o is None}
    if unknown:
        reason = f"is not a known {lookup.replace('_', ' ')} code"
        required = column in REQUIRED_LOOKUPS
        for i in (i for i, t in enumerate(texts) if t in unknown):
            found.add(i, column, texts[i], reason, required)
    own[None] = None
    return list(map(own.__getitem__, texts))


def _reject(prepared: PreparedRows, codes: list[str | None], found: _Problems) -> None:
    """Turn the problems into issues, in row order, and drop the rows with a rejection."""
    rejected: list[int] = []
    for i in sorted(found.by_row):
        problems = found.by_row[i]
        code, payroll_id = codes[i] or "", prepared.payroll_ids[i]
        prepared.issues += [Issue(code, payroll_id, *p) for p in problems]
        if any(p[3] for p in problems):
            rejected.append(i)
            prepared.rejected_keys.append(prepared.codes[i])
    if rejected:
        dropped = set(rejected)
        prepared.keep([i for i in range(len(prepared)) if i not in dropped])


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value.strip() if type(value) is str else str(value).strip()
    return text or None


def _texts(values: Sequence[Any]) -> list[str | None]:
    """Each value as trimmed text, None when empty. (A column of text throughout: a str
    subclass reads as its text, not as its `str()`; the drivers give plain str.)"""
    try:
        # Most columns of a chunk are text throughout: stripped in C, a third of the time.
        stripped: list[str | None] = list(map(str.strip, values))
    except TypeError:  # a None, a number or a date: each value on its own
        return [
            (v.strip() or None) if type(v) is str else (None if v is None else _text(v))
            for v in values
        ]
    return [t or None for t in stripped] if "" in stripped else stripped


def _dates(values: Sequence[Any], column: str, found: _Problems) -> list[date | None]:
    """parse_date of each value; an impossible one is noted (and reads None)."""
    if set(map(type, values)) <= {date, type(None)}:
        return list(values)
    out: list[date | None] = []
    for i, value in enumerate(values):
        try:
            out.append(parse_date(value))
        except ValueError:
            # An impossible birth date only warns: ESS does not need it.
            found.add(i, column, value, "is not a possible date", column != "date_of_birth")
            out.append(None)
    return out


def _decimal(value: Any, places: str) -> Decimal | None:
    if value is None or value == "":
        return None
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    return number.quantize(Decimal(places))


def _decimals(
    values: Sequence[Any], places: Decimal, column: str, found: _Problems
) -> list[Decimal | None]:
    """_decimal of each value; one that is not a number, or too large for ESS's DECIMAL(12,
    n), is noted (the value is not shown: a salary is nobody else's business) and reads None."""
    digits = _DIGITS + int(places.as_tuple().exponent)
    limit = Decimal(10) ** digits
    if set(map(type, values)) <= {Decimal, type(None)}:
        try:
            out = [None if v is None else v.quantize(places) for v in values]
            present = list(filter(None, out))  # zero needs no check
            # A NaN refuses to be ordered; an infinity or a huge number is out of range.
            if not present or (min(present) > -limit and max(present) < limit):
                return out
        except InvalidOperation:
            pass
    out = []
    text = str(places)
    for i, value in enumerate(values):
        try:
            number = _decimal(value, text)
        except (InvalidOperation, ValueError):
            number = Decimal("NaN")
        if number is not None and not number.is_finite():
            found.add(i, column, None, "is not a number", True)
            number = None
        elif number is not None and abs(number) >= limit:
            reason = f"is larger than ESS allows ({digits} digits before the point)"
            found.add(i, column, None, reason, True)
            number = None
        out.append(number)
    return out


def _masks(values: Sequence[Any]) -> list[str | None]:
    """mask_number(_text(v)) of each value: only the last three digits are kept."""
    return [
        (("*****" + t[-3:]) if t.isalnum() else mask_number(t))
        if (t := v.strip() if type(v) is str else (_text(v) or ""))
        else None
        for v in values
    ]

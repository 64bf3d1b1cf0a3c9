"""Reconciling ESS with payroll: comparing one key-ordered chunk of each side, from plain values.

tasks/reconcile.py reads both sides (one snapshot each) and feeds the chunks in key order;
here each chunk's payroll and ESS frames are joined on their key and compared field by field.
Payroll's values arrive normalised by the sync's own rules (core/employee_rows.py,
core/changes.py, core/leave.py), so an employee a sync would leave alone never differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

import pandas as pd

from core.redact import mask_number

KEY, CODE, EMPLOYEE = "key", "code", "employee"
"""Columns every frame has: the join key, the code people know the row by, and the employee
code it belongs to (None for a lookup row)."""
DIFFERENCE_COLUMNS = ("table", "code", "field", "payroll_value", "ess_value")
ONLY_IN_PAYROLL = "(only in payroll)"
ONLY_IN_ESS = "(only in ESS)"
EXAMPLES = 10
SECRET_FIELDS = frozenset(
    {"tax_file_number", "tax_file_number_masked", "bank_account_number", "bank_account_masked"}
)
"""Fields shown masked on both sides, whatever either side holds (Privacy (TFN) Rule 2015)."""


@dataclass
class TableReport:
    """What one table's comparison found, as the report's summary shows it."""

    table: str
    in_payroll: int = 0
    in_ess: int = 0
    only_in_payroll: int = 0
    only_in_ess: int = 0
    differing: int = 0
    fields: dict[str, int] = field(default_factory=dict)
    """How many rows differ in each field (and ONLY_IN_PAYROLL, ONLY_IN_ESS rows)."""
    samples: dict[str, list[str]] = field(default_factory=dict)
    """Up to ten codes for each entry of `fields`."""

    @property
    def differences(self) -> int:
        """Every difference: a row on one side only counts once, a differing row once a field."""
        return sum(self.fields.values())

    def counted(self) -> dict[str, int]:
        """Each count by its name, in the order the report shows them."""
        return {
            "in payroll": self.in_payroll,
            "in ESS": self.in_ess,
            "only in payroll": self.only_in_payroll,
            "only in ESS": self.only_in_ess,
            "differing": self.differing,
        }

    def note(self, name: str, codes: Sequence[str]) -> None:
        """Count `codes` under one field and keep the first ten."""
        if not len(codes):
            return
        self.fields[name] = self.fields.get(name, 0) + len(codes)
        sample = self.samples.setdefault(name, [])
        sample += [c for c in codes[: EXAMPLES - len(sample)] if c not in sample]

    def merge(self, other: TableReport) -> None:
        """Add another chunk's findings."""
        self.in_payroll += other.in_payroll
        self.in_ess += other.in_ess
        self.only_in_payroll += other.only_in_payroll
        self.only_in_ess += other.only_in_ess
        self.differing += other.differing
        for name, count in other.fields.items():
            self.fields[name] = self.fields.get(name, 0) + count
            sample = self.samples.setdefault(name, [])
            sample += [c for c in other.samples.get(name, ()) if c not in sample]
            del sample[EXAMPLES:]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (stored with the reconciliation, printed by --json)."""
        return {"table": self.table, **self.counted(), "fields": self.fields}

    @classmethod
    def from_json(cls, data: dict[str, Any], samples: dict[str, list[str]]) -> TableReport:
        """A report back from to_json() and its samples."""
        return cls(
            data["table"],
            data["in payroll"],
            data["in ESS"],
            data["only in payroll"],
            data["only in ESS"],
            data["differing"],
            dict(data["fields"]),
            samples,
        )


@dataclass(frozen=True)
class Rejected:
    """An employee payroll has that the sync holds back from ESS, and why."""

    code: str
    field: str
    reason: str


@dataclass
class Chunk:
    """One chunk's comparison: its counts, its differences, and the employees that differ."""

    report: TableReport
    differences: pd.DataFrame
    employees: set[int]
    """Payroll ids of the employees whose rows differ."""


def same_rows(payroll: list[tuple[Any, ...]], ess: list[tuple[Any, ...]], width: int) -> bool:
    """Whether both sides hold the same rows (key in the first `width` values), in any order.

    Python equality of whole rows: when it holds, compare() would find nothing, so a chunk
    in step (nearly every chunk of a synced database) skips the frames and the join, about
    ten times the cost. Any other chunk (a difference, NaN, a code or id that differs
    without its fields differing) goes through compare() for the details.
    """
    if len(payroll) != len(ess):
        return False
    if payroll == ess:
        return True
    key = itemgetter(*range(width))
    ordered = sorted(payroll, key=key)
    # ESS's rows come in key order (as its primary key orders them): sorted only if not.
    return ordered == ess or ordered == sorted(ess, key=key)


def frame(rows: Iterable[tuple[Any, ...]], columns: Sequence[str]) -> pd.DataFrame:
    """Rows as a frame of plain Python values (no float or NaN conversion: NULL stays None)."""
    return pd.DataFrame.from_records(list(rows), columns=list(columns)).astype(object)


def compare(table: str, payroll: pd.DataFrame, ess: pd.DataFrame, fields: Sequence[str]) -> Chunk:
    """Join payroll's and ESS's rows of one chunk on KEY and compare each of `fields`.

    Both frames hold KEY, CODE, EMPLOYEE and `fields`, values normalised alike. NULL equals
    NULL; a value equals its like in the other's type only when Python says so
    (Decimal('1.50') == Decimal('1.5')).
    """
    report = TableReport(table, in_payroll=len(payroll), in_ess=len(ess))
    merged = payroll.merge(ess, on=KEY, how="outer", suffixes=("_p", "_e"), indicator=True)
    side = merged["_merge"]
    parts: list[pd.DataFrame] = []
    employees: set[int] = set()

    only_p = merged[side == "left_only"]
    only_e = merged[side == "right_only"]
    report.only_in_payroll, report.only_in_ess = len(only_p), len(only_e)
    for rows, name, suffix in ((only_p, ONLY_IN_PAYROLL, "_p"), (only_e, ONLY_IN_ESS, "_e")):
        if len(rows):
            codes = rows[CODE + suffix].astype(str).tolist()
            report.note(name, codes)
            shown = "present"
            parts.append(
                _differences(
                    table,
                    codes,
                    name,
                    [shown if suffix == "_p" else ""] * len(rows),
                    [shown if suffix == "_e" else ""] * len(rows),
                )
            )
            employees.update(int(e) for e in rows[EMPLOYEE + suffix] if e is not None)

    both = merged[side == "both"]
    differing = pd.Series(False, index=both.index)
    for name in fields:
        ours, theirs = both[name + "_p"], both[name + "_e"]
        differs = ~(_equal(ours, theirs) | (ours.isna() & theirs.isna()))
        if not differs.any():
            continue
        differing |= differs
        rows = both[differs]
        codes = rows[CODE + "_p"].astype(str).tolist()
        report.note(name, codes)
        secret = name in SECRET_FIELDS
        parts.append(
            _differences(
                table,
                codes,
                name,
                [shown_value(v, secret) for v in rows[name + "_p"]],
                [shown_value(v, secret) for v in rows[name + "_e"]],
            )
        )
        employees.update(int(e) for e in rows[EMPLOYEE + "_p"] if e is not None)
    report.differing = int(differing.sum())
    differences = pd.concat(parts, ignore_index=True) if parts else frame([], DIFFERENCE_COLUMNS)
    return Chunk(report, differences, employees)


def _equal(ours: pd.Series, theirs: pd.Series) -> pd.Series:
    """Element by element Python equality of two object columns (False where either is None)."""
    return pd.Series(
        [a == b for a, b in zip(ours.tolist(), theirs.tolist(), strict=True)],
        index=ours.index,
        dtype=bool,
    )


def _differences(
    table: str, codes: list[str], name: str, ours: list[str], theirs: list[str]
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "table": [table] * len(codes),
            "code": codes,
            "field": [name] * len(codes),
            "payroll_value": ours,
            "ess_value": theirs,
        },
        dtype=object,
    )


def shown_value(value: Any, secret: bool = False) -> str:
    """A value as the report shows it: text; a secret field's only masked."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, Decimal):
        text = format(value, "f")
    elif isinstance(value, datetime | date):
        text = value.isoformat()
    else:
        text = str(value)
    return (mask_number(text) or "") if secret else text


def lookup_key(values: Sequence[Any]) -> str:
    """A lookup row's key as one text: its key columns trimmed, without case, joined by '/'."""
    return "/".join(str(v).strip().upper() if isinstance(v, str) else str(v) for v in values)


def balance_key(payroll_id: int, leave_type: str) -> str:
    """A leave balance's key: the payroll employee id, zero-padded so it sorts, and its type."""
    return f"{int(payroll_id):012d}/{leave_type}"

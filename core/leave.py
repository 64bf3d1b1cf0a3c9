"""Leave balances: normalising payroll's rows and diffing one range of employees against ESS."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from core.employees import code_key, parse_date

BALANCE_COLUMNS = ("employee_id", "leave_type_code", "balance", "accrued_to")
"""payroll.leave_balance's columns, in schema.sql's order."""

Key = tuple[int, str]
Balance = tuple[Decimal, date]


def _exact(value: Any) -> Decimal:
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    return number.quantize(Decimal("0.0001"))


@dataclass
class BalanceChanges:
    """The writes that make ESS's balances equal payroll's for a range of employees."""

    inserts: list[tuple[int, str, Decimal, date]] = field(default_factory=list)
    updates: list[tuple[int, Decimal, date]] = field(default_factory=list)  # (ESS id, ...)
    deletes: list[int] = field(default_factory=list)  # ESS ids
    unchanged: int = 0
    employees: set[int] = field(default_factory=set)
    unknown_types: dict[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        """Balances added, changed or gone."""
        return len(self.inserts) + len(self.updates) + len(self.deletes)


def diff_balances(
    payroll_rows: Iterable[Sequence[Any]],
    ess_rows: Mapping[Key, tuple[int, Decimal, date]],
    leave_types: Mapping[str, str],
) -> BalanceChanges:
    """Compare payroll's balances with ESS's for the same employees.

    ESS rows are keyed by (payroll employee id, leave type code) and hold (ESS id, balance,
    accrued_to). Leave type codes are matched trimmed and without case to the leave type's
    own code; a balance of an unknown leave type is counted, not imported.
    """
    changes = BalanceChanges()
    seen: set[Key] = set()
    for employee_id, type_code, balance, accrued_to in payroll_rows:
        own = leave_types.get(code_key(type_code))
        if own is None:
            shown = str(type_code).strip()
            changes.unknown_types[shown] = changes.unknown_types.get(shown, 0) + 1
            continue
        key = (int(employee_id), own)
        if key in seen:
            continue
        seen.add(key)
        changes.employees.add(key[0])
        value = (_exact(balance), parse_date(accrued_to))
        current = ess_rows.get(key)
        if current is None:
            changes.inserts.append((key[0], own, *value))  # type: ignore[arg-type]
        elif (current[1], current[2]) != value:
            changes.updates.append((current[0], *value))  # type: ignore[arg-type]
        else:
            changes.unchanged += 1
    changes.deletes = [ess_id for key, (ess_id, _, _) in ess_rows.items() if key not in seen]
    return changes


def by_whole_employees(
    chunks: Iterable[list[tuple[Any, ...]]],
) -> Iterator[list[tuple[Any, ...]]]:
    """Re-cut chunks of rows ordered by employee id so no employee spans two chunks."""
    carry: list[tuple[Any, ...]] = []
    for chunk in chunks:
        rows = carry + chunk
        if not rows:
            continue
        last = rows[-1][0]
        cut = len(rows)
        while cut > 0 and rows[cut - 1][0] == last:
            cut -= 1
        if cut == 0:
            carry = rows
            continue
        yield rows[:cut]
        carry = rows[cut:]
    if carry:
        yield carry

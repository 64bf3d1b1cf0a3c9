"""Leave balances: normalising payroll's rows, whole employees at a time."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import compress, repeat
from operator import itemgetter, ne
from typing import Any

from core.employees import code_key, parse_date

BALANCE_COLUMNS = ("employee_id", "leave_type_code", "balance", "accrued_to")
"""payroll.leave_balance's columns, in schema.sql's order."""

PLACES = 4
"""Decimal places of a balance in ESS (leave_balance.balance is DECIMAL(12,4))."""
_PLACES = Decimal(1).scaleb(-PLACES)


def _exact(value: Any) -> Decimal:
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    return number.quantize(_PLACES)


@dataclass
class PreparedBalances:
    """Payroll's balances of whole employees, as ESS keeps them."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    """(payroll employee id, the leave type's own code, balance, accrued_to, *tail)."""
    employees: int = 0
    """Employees with at least one balance of a known leave type."""
    unknown_types: dict[str, int] = field(default_factory=dict)
    invalid: list[tuple[int, str, str]] = field(default_factory=list)
    """Balances ESS cannot hold: (payroll employee id, leave type code, why), not kept."""


_LIMIT = Decimal(10) ** (12 - PLACES)  # DECIMAL(12,4): eight digits before the point


def _values(
    balances: Sequence[Any], dates: Sequence[Any], exact: bool
) -> tuple[Sequence[Decimal | None], Sequence[date | None], dict[int, str]]:
    """Each balance with ESS's four places and each accrued_to date, column by column; a
    value ESS cannot hold reads None and its row's reason is returned by position."""
    try:
        if set(map(type, balances)) == {Decimal}:
            places = balances if exact else [b.quantize(_PLACES) for b in balances]
        else:
            places = list(map(_exact, balances))
        days = dates if set(map(type, dates)) == {date} else list(map(parse_date, dates))
        # A NaN refuses to be ordered; an infinity or a huge number is out of range.
        if min(places) > -_LIMIT and max(places) < _LIMIT:
            return places, days, {}
    except (ArithmeticError, ValueError, TypeError):
        pass
    return _values_one_by_one(balances, dates)


def _values_one_by_one(
    balances: Sequence[Any], dates: Sequence[Any]
) -> tuple[list[Decimal | None], list[date | None], dict[int, str]]:
    places: list[Decimal | None] = []
    days: list[date | None] = []
    bad: dict[int, str] = {}
    for i, (value, day) in enumerate(zip(balances, dates, strict=True)):
        number: Decimal | None = None
        try:
            number = _exact(value)
        except (ArithmeticError, ValueError, TypeError):
            bad[i] = f"balance {_shown(value)} is not a number"
        else:
            if not number.is_finite():
                bad[i], number = f"balance {_shown(value)} is not a number", None
            elif abs(number) >= _LIMIT:
                bad[i] = (
                    f"balance {_shown(value)} is larger than ESS allows (8 digits before the point)"
                )
                number = None
        places.append(number)
        try:
            days.append(parse_date(day))
        except (ValueError, TypeError):
            bad[i] = bad.get(i, f"accrued_to {_shown(day)} is not a possible date")
            days.append(None)
    return places, days, bad


def _shown(value: Any) -> str:
    return repr(str(value)[:40]) if value is not None else "empty"


def prepare_balances(
    payroll_rows: Sequence[Sequence[Any]],
    leave_types: Mapping[str, str],
    exact: bool = False,
    tail: tuple[Any, ...] = (),
) -> PreparedBalances:
    """Normalise balances (whole employees) column by column.

    Leave type codes are matched trimmed and without case to the leave type's own code; a
    balance of an unknown leave type is counted, not kept; one ESS cannot hold (not a number,
    too large, an impossible date) is noted in `invalid`, not kept. Two payroll codes that match the
    same leave type give one balance: the first. `exact`: payroll declares balances with
    ESS's four places, so its Decimals need no rounding. `tail` ends every row (the same
    values for all: a database name, a time), so a writer need not copy each row again.
    """
    prepared = PreparedBalances()
    if not payroll_rows:
        return prepared
    ids, codes, balances, dates = zip(*payroll_rows, strict=True)
    own = {code: leave_types.get(code_key(code)) for code in set(codes)}
    for code, type_code in own.items():
        if type_code is None:
            shown = str(code).strip()
            prepared.unknown_types[shown] = prepared.unknown_types.get(shown, 0) + codes.count(code)
    kept_ids = list(map(int, ids))
    kept_codes = list(map(own.__getitem__, codes))
    places, days, bad = _values(balances, dates, exact)
    ends = map(repeat, tail)
    rows: list[Any] = list(zip(kept_ids, kept_codes, places, days, *ends))  # noqa: B905
    if bad:
        for i, reason in bad.items():
            code = kept_codes[i]
            if code is not None:  # an unknown type is counted as such already
                prepared.invalid.append((kept_ids[i], code, reason))
        rows = [r for i, r in enumerate(rows) if i not in bad]
    if prepared.unknown_types:
        rows = [r for r in rows if r[1] is not None]
    spellings = Counter(m for m in own.values() if m is not None)
    shared = {m for m, n in spellings.items() if n > 1}
    # Two codes name one type: only balances of such a type can share a key.
    suspects = list(compress(rows, map(shared.__contains__, map(itemgetter(1), rows))))
    if suspects and len(set(map(itemgetter(0, 1), suspects))) < len(suspects):
        first: dict[tuple[int, str], Any] = {}
        for row in rows:
            first.setdefault(row[:2], row)
        rows = list(first.values())
    prepared.rows = rows
    prepared.employees = len(set(map(itemgetter(0), rows)))
    return prepared


Balance = tuple[int, str, Decimal, date]
"""(payroll employee id, the leave type's own code, balance, accrued_to): one balance."""


@dataclass
class BalanceDiff:
    """What makes ESS's balances of some employees equal payroll's."""

    new: list[Balance] = field(default_factory=list)
    """Payroll's balances ESS does not hold."""
    changed: list[Balance] = field(default_factory=list)
    """Payroll's balances whose value or date differs from ESS's."""
    gone: list[tuple[int, str]] = field(default_factory=list)
    """Keys (employee id, type code) of ESS's balances payroll no longer has."""

    def __len__(self) -> int:
        return len(self.new) + len(self.changed) + len(self.gone)


def compare_balances(payroll: Sequence[Balance], ess: Sequence[Balance]) -> BalanceDiff:
    """What differs between payroll's and ESS's balances of the same employees.

    Each side comes in key order (employee id, type code) as its database gives it, so the
    usual re-sync (nothing changed, or balances changed in place) is decided by comparing
    the two lists position by position. Payroll orders the codes it spells ('al', ' AL')
    and a database's collation may order codes differently from Python: then both sides
    are sorted here first, cheaply, as they are nearly in order already. Keys that still
    differ at a position (a balance new or gone) are matched by key instead.
    """
    if payroll == ess:
        return BalanceDiff()
    payroll, ess = sorted(payroll), sorted(ess)  # keys are unique: values never compared
    if len(payroll) == len(ess):
        at = list(compress(range(len(payroll)), map(ne, payroll, ess)))
        if all(payroll[i][:2] == ess[i][:2] for i in at):
            return BalanceDiff(changed=[payroll[i] for i in at])
    held = {b[:2]: b for b in ess}
    diff = BalanceDiff()
    for balance in payroll:
        key = balance[:2]
        same = held.pop(key, None)
        if same is None:
            diff.new.append(balance)
        elif same != balance:
            diff.changed.append(balance)
    diff.gone = list(held)
    return diff


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

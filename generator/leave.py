"""Leave balances as at the last pay, in each leave type's unit."""

from __future__ import annotations

import random
from typing import Any

from generator import reference_data as ref
from generator.quirks import vary_code
from generator.timeline import day_text

_CORE_LEAVE = ("AL", "PCL", "LSL")  # the National Employment Standards' own
_LEAVE_TYPE_WIDTH = 10
_LSL_PER_YEAR = 329_333  # ten-thousandths of an hour: 8.667 weeks of 38 h per 10 years
# Balances are as at each pay frequency's last pay day before LAST_PAY_DATE.
_ACCRUED_TO = {
    "W": "2025-06-26",
    "F": "2025-06-26",
    "4": "2025-06-19",
    "S": "2025-06-15",
    "M": "2025-05-31",
}


class LeaveBalances:
    """Rows of leave_balance: `per_employee` distinct leave types each."""

    def __init__(self, rng: random.Random, per_employee: int, *, quirks: bool) -> None:
        self._rng = rng
        self._per_employee = per_employee
        self._quirks = quirks
        self._others = [t[0] for t in ref.LEAVE_TYPES if t[0] not in _CORE_LEAVE]
        self._ranges = {
            code: (low, high - low, negative)
            for code, (low, high, negative) in ref.LEAVE_BALANCE_RANGES.items()
        }

    def add(
        self,
        employee_id: int,
        employment: str,
        frequency: str,
        years_of_service: float,
        terminated: int | None,
        out: list[Any],
    ) -> None:
        """Append the employee's balances to `out`."""
        r = self._rng.random
        k = self._per_employee
        types = list(_CORE_LEAVE[:k])
        if k > len(_CORE_LEAVE):
            extra = k - len(_CORE_LEAVE)
            others = self._others
            types += others if extra == len(others) else self._rng.sample(others, extra)
        accrued_to = day_text(terminated) if terminated is not None else _ACCRUED_TO[frequency]
        append, quirks = out.append, self._quirks
        for leave_type in types:
            if terminated is not None or (employment == "C" and leave_type in ("AL", "PCL")):
                balance = 0  # paid out on termination; casuals accrue no paid leave
            elif leave_type == "LSL":
                balance = int(years_of_service * _LSL_PER_YEAR * (0.8 + 0.2 * r()))
            else:
                low, span, negative = self._ranges[leave_type]
                # Leave taken in advance: a little below zero, never a year's worth.
                balance = low + int(r() * span) if r() >= negative else -int(r() * span * 0.1)
            whole, fraction = divmod(abs(balance), 10_000)
            text = f"{'-' if balance < 0 else ''}{whole}.{fraction:04d}"
            code = leave_type
            if quirks and r() < 0.03:
                code = vary_code(leave_type, _LEAVE_TYPE_WIDTH, r())
            append((employee_id, code, text, accrued_to))

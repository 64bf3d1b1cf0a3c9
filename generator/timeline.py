"""Payroll's clock: dates as text, and the employee_changed feed in time order."""

from __future__ import annotations

import heapq
import random
from datetime import date
from functools import cache
from typing import Any

# Data is dated relative to a fixed pay day, not to today, so one seed gives one payroll
# whatever day it is built.
LAST_PAY_DATE = date(2025, 6, 26)

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY = 86_400
_HOUR = 3600
_CLOSE_OF_PAY = (LAST_PAY_DATE.toordinal() - _EPOCH_ORDINAL) * _DAY + 17 * _HOUR
_ID_BITS = 24  # events are packed as (second << 24 | employee_id): a heap of plain ints
MAX_EMPLOYEE_ID = (1 << _ID_BITS) - 1


@cache
def day_text(ordinal: int) -> str:
    """The ISO date of a proleptic Gregorian ordinal (a few thousand distinct days)."""
    return date.fromordinal(ordinal).isoformat()


def stamp_text(second: int) -> str:
    """'YYYY-MM-DD HH:MM:SS' for seconds since 1970-01-01 (naive, payroll's local time)."""
    days, rest = divmod(second, _DAY)
    clock = f"{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}"
    return f"{day_text(days + _EPOCH_ORDINAL)} {clock}"


class ChangeFeed:
    """employee_changed rows with change_id in the order the changes happened."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._pending: list[int] = []  # packed edits still in the future
        self._last_created = 0
        self._next_change_id = 1

    def record(self, employee_id: int, hired: int, terminated: int | None, out: list[Any]) -> int:
        """Add an employee created before `hired` (ordinals), queue their later edits
        (including their termination) and return the second of their last change.

        Employees must come in hire order; rows due by the creation go to `out`.
        """
        r = self._rng.random
        # The record is keyed in up to a fortnight before the start date, in office hours.
        planned = (hired - _EPOCH_ORDINAL - 1 - int(r() * 14)) * _DAY + 8 * _HOUR
        created = max(planned + int(r() * 9 * _HOUR), self._last_created + 1 + int(r() * 60))
        self._last_created = created
        while self._pending and self._pending[0] >> _ID_BITS <= created:
            self._emit(heapq.heappop(self._pending), out)
        self._emit(created << _ID_BITS | employee_id, out)

        edits = []
        end = _CLOSE_OF_PAY
        if terminated is not None:
            end = (terminated - _EPOCH_ORDINAL) * _DAY + 10 * _HOUR + int(r() * 6 * _HOUR)
            end = max(created + _HOUR, min(end, _CLOSE_OF_PAY))
            edits.append(end)
        count = 0 if (u := r()) < 0.55 else 1 if u < 0.8 else 2 if u < 0.92 else 3
        for _ in range(count if end > created + 1 else 0):
            second = created + 1 + int(r() * (end - created - 1))
            # Officers edit records in office hours: squeeze the day into 08:00-18:00.
            midnight = second - second % _DAY
            second = midnight + 8 * _HOUR + (second - midnight) * 10 // 24
            edits.append(min(end, max(created + 1, second)))
        for second in edits:
            heapq.heappush(self._pending, second << _ID_BITS | employee_id)
        return max([created, *edits])

    def drain(self, out: list[Any]) -> None:
        """Emit every queued edit: the workforce is complete."""
        while self._pending:
            self._emit(heapq.heappop(self._pending), out)

    def _emit(self, packed: int, out: list[Any]) -> None:
        second, employee_id = packed >> _ID_BITS, packed & MAX_EMPLOYEE_ID
        out.append((self._next_change_id, employee_id, stamp_text(second)))
        self._next_change_id += 1

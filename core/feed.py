"""What of payroll's change feed a sync has read already, within the overlap it re-reads.

Every sync re-reads the feed from FEED_OVERLAP before its watermark, because payroll's clock
is not ours and a change can commit after a later one is stamped. Re-reading a change changes
nothing, but after a feed that named everyone (a pay review, a first import) it meant reading
everyone again, sync after sync, until a change 15 minutes newer moved the watermark on.
So each sync keeps the ids of the changes it read that the next one will read again, and the
next one reads only the employees of changes it has not read: the late ones the overlap is
for, and the new ones. A change id is taken as read only with a time no later than the feed's
end when it was read, so an id payroll re-used after renumbering its feed is still read.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from core.plans import runs


def as_ranges(ids: Iterable[int]) -> str:
    """Ids as text of ranges, "1-5,8,10-12": a pay review's 200,000 changes are one range."""
    return ranges_text(id_ranges(ids))


def id_ranges(ids: Iterable[int]) -> list[tuple[int, int]]:
    """Distinct ids as sorted (first, last) runs of consecutive ids.

    Ids already in ascending order (a feed read in the order payroll appended it) are taken
    as they are. Ids in a few ascending runs are too: PostgreSQL hands a feed read while
    another scan of it is under way (or just stopped part-way) from where that scan is, so
    a pay review's changes can come as two runs, the second before the first. Only ids in
    no order are sorted, which holds every id once more in a set and a list (75 MB for a
    million).
    """
    ordered = ids if isinstance(ids, array) else array("q", ids)
    if _ascending(ordered):
        return list(runs(ordered))
    pieces: list[tuple[int, int]] = []
    for piece in runs(ordered):
        pieces.append(piece)
        if len(pieces) > _FEW_RUNS:
            return list(runs(array("q", sorted(set(ordered)))))
    return list(_merged(sorted(pieces)))


_FEW_RUNS = 1_000
"""Runs of ids in their own order past which id_ranges sorts the ids instead."""


def _merged(pieces: Iterable[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """Sorted (first, last) runs, each overlapping or next to the one before joined to it."""
    current: tuple[int, int] | None = None
    for first, last in pieces:
        if current is not None and first <= current[1] + 1:
            current = (current[0], max(current[1], last))
            continue
        if current is not None:
            yield current
        current = (first, last)
    if current is not None:
        yield current


def ranges_text(ranges: Iterable[tuple[int, int]]) -> str:
    """(first, last) runs of ids, in order, as as_ranges writes them."""
    return ",".join(str(first) if first == last else f"{first}-{last}" for first, last in ranges)


def _ascending(ids: Sequence[int]) -> bool:
    """Whether each id is greater than the one before (distinct and in order)."""
    return all(a < b for a, b in pairwise(ids))


class IdSet:
    """Payroll ids, held in 8 bytes each while they come in ascending order.

    A feed that names everyone (a pay review's batch) and a read of everyone give ids in
    order: held in an array they take 8 MB a million, in a set about 60. The first id out of
    order turns the array into a set, and everything works as before.
    """

    def __init__(self, ids: Iterable[int] = ()) -> None:
        self._ascending: array[int] | None = array("q")
        self._set: set[int] = set()
        self.update(ids)

    def update(self, ids: Iterable[int]) -> None:
        """Add ids (a chunk in order is added at once)."""
        chunk = ids if isinstance(ids, (list, tuple, array)) else list(ids)
        held = self._ascending
        if held is None:
            self._set.update(chunk)
            return
        if _ascending(chunk) and (not held or not chunk or chunk[0] > held[-1]):
            held.extend(chunk)
            return
        for n, value in enumerate(chunk):
            if not held or value > held[-1]:
                held.append(value)
            elif value != held[-1]:
                self._set = set(held)
                self._ascending = None
                self._set.update(chunk[n:])
                return

    def add(self, value: int) -> None:
        """Add one id."""
        self.update((value,))

    def __contains__(self, value: object) -> bool:
        held = self._ascending
        if held is None:
            return value in self._set
        if not isinstance(value, int):
            return False
        at = bisect_right(held, value) - 1
        return at >= 0 and held[at] == value

    def __len__(self) -> int:
        return len(self._set) if self._ascending is None else len(self._ascending)

    def __iter__(self) -> Iterator[int]:
        return iter(self._set if self._ascending is None else self._ascending)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IdSet):
            return set(self) == set(other)
        if isinstance(other, (set, frozenset)):
            return set(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class ReadChanges:
    """Change ids a sync read, from as_ranges' text; `in` answers for one id."""

    def __init__(self, text: str | None) -> None:
        self._firsts: list[int] = []
        self._lasts: list[int] = []
        for part in (text or "").split(","):
            if not part:
                continue
            # The range's dash is the first after the first character: payroll's INTEGER
            # change ids may be negative ("-5--3" is -5 to -3).
            first, _, last = part[1:].partition("-")
            self._firsts.append(int(part[0] + first))
            self._lasts.append(int(last or part[0] + first))

    def __bool__(self) -> bool:
        return bool(self._firsts)

    @property
    def ranges(self) -> list[tuple[int, int]]:
        """The ids as (first, last) runs, in order."""
        return list(zip(self._firsts, self._lasts, strict=True))

    def __contains__(self, change_id: object) -> bool:
        if not isinstance(change_id, int):
            return False
        at = bisect_right(self._firsts, change_id) - 1
        return at >= 0 and change_id <= self._lasts[at]


_NOTHING = object()


def _as_is(moment: datetime) -> datetime:
    return moment


class FeedReading:
    """A sync's pass over the feed since its watermark less the overlap, a change at a time.

    It keeps what the plan needs, compactly (a pay review's feed has a change per employee):
    the payroll ids of changes not read before, the feed's end, and each change's id and
    time, from which `read_from` picks the ids the next sync will read again.
    """

    def __init__(self, read: ReadChanges | None = None, read_to: datetime | None = None) -> None:
        self._read = read if read and read_to is not None else None
        self._read_to = read_to
        self.unread = IdSet()
        """Payroll ids of changes not among those read by the last sync (or stamped after
        the feed's end when it read them: an id payroll re-used)."""
        self.end: datetime | None = None
        self._ids = array("q")
        self._stamps = array("d")

    def add(self, change_id: int, employee_id: int, moment: datetime) -> None:
        """One change (`moment` on payroll's clock, marked UTC)."""
        self.add_rows([(change_id, employee_id, moment)], _as_is)

    def add_rows(
        self, rows: Iterable[Sequence[Any]], moment_of: Callable[[Any], datetime | None]
    ) -> None:
        """Changes as payroll returns them: (change id, employee id, time), the time made
        a moment by `moment_of` (None: the change is skipped). A time repeated from the row
        before is converted once: a pay review stamps 200,000 changes alike."""
        raw: Any = _NOTHING
        moment: datetime | None = None
        stamp = 0.0
        ids, stamps = self._ids, self._stamps
        read, read_to = self._read, self._read_to
        unread: list[int] = []
        for change_id, employee_id, changed_at in rows:
            if changed_at is not raw and changed_at != raw:
                raw, moment = changed_at, moment_of(changed_at)
                if moment is not None:
                    stamp = moment.timestamp()
                    if self.end is None or moment > self.end:
                        self.end = moment
            if moment is None:
                continue
            change_id = int(change_id)
            ids.append(change_id)
            stamps.append(stamp)
            if read is None or change_id not in read or moment > read_to:  # type: ignore[operator]
                unread.append(int(employee_id))
        self.unread.update(unread)

    def change_runs(self) -> list[tuple[int, int]]:
        """The ids of every change read, as (first, last) runs in order: one or a few for a
        feed payroll numbers as it appends."""
        return id_ranges(self._ids)

    def read_from(self, end: datetime | None, overlap: timedelta) -> str | None:
        """as_ranges of the changes from `end` less `overlap` (None: nothing to keep)."""
        if end is None:
            return None
        start = (end - overlap).timestamp()
        kept = (c for c, s in zip(self._ids, self._stamps, strict=True) if s >= start)
        return as_ranges(kept) or None

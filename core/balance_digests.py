"""Which employees' leave balances a re-sync must read again: payroll's digests against ESS's.

Payroll computes, for each employee, one number from every balance row, how many there are
and the leave types they are read against (payroll/drivers.py), in the same snapshot as the
balances themselves. ESS keeps the digests the last sync read (ess.schema
leave_balance_digest). A re-sync reads again only employees whose digest differs: a balance
changed, added or gone, an employee new to payroll, or ESS's leave types changed (then every
digest does). An employee with a balance ESS did not keep (an unknown leave type, a value
ESS cannot hold, a code spelled twice) keeps no digest, so it is read, and reported, every
time.

Digests are held in arrays and kept in ESS as their bytes: a million employees are 16 MB,
read, compared and written without a Python step per employee when nothing changed. ESS's
are read and compared a slice of employees at a time, in the bytes (HeldDigests), and
payroll's are written from their arrays, so neither is copied whole.
"""

from __future__ import annotations

import hashlib
import sys
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter
from typing import Any, Literal

Buffer = bytes | bytearray | memoryview

_VERSION = b"ess-balance-digest-1"
SALT_BITS = 40
"""A salt fits beside a SQLite SUM of 40-bit row hashes without overflowing 64 bits."""
NO_DIGEST = -1
"""The kept count of an employee whose digest is not kept: it is read every time."""


def types_salt(leave_types: Mapping[str, str]) -> int:
    """The leave types balances are read against, as a number payroll adds to every digest:
    when they change, every digest does."""
    text = repr(sorted(leave_types.items())).encode()
    digest = hashlib.blake2b(text, digest_size=SALT_BITS // 8, key=_VERSION).digest()
    return int.from_bytes(digest, "big")


def _ints(code: str, data: bytes = b"") -> array[int]:
    values = array(code)
    values.frombytes(data)
    if sys.byteorder == "big":  # kept little-endian, whatever machine wrote them
        values.byteswap()
    return values


def _buffer(values: array[int]) -> Buffer:
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return memoryview(values)


def _view(code: Literal["i", "q"], data: Buffer) -> Sequence[int]:
    """Little-endian ints kept as bytes, read where they are (copied only on a big-endian
    machine)."""
    if sys.byteorder == "big":
        return _ints(code, bytes(data))
    return memoryview(data).cast(code)


@dataclass
class Digests:
    """Each employee's digest, in id order, and the balances ESS keeps of each."""

    ids: array[int] = field(default_factory=lambda: _ints("i"))
    digests: array[int] = field(default_factory=lambda: _ints("q"))
    rows: array[int] = field(default_factory=lambda: _ints("i"))
    """Payroll's balance rows of each employee (payroll's digests only)."""
    kept: array[int] = field(default_factory=lambda: _ints("i"))
    """Balances ESS keeps of each employee (0 until counted), NO_DIGEST in ESS's own."""

    @classmethod
    def read(cls, chunks: Iterable[Sequence[tuple[Any, ...]]]) -> Digests:
        """Payroll's (employee_id, rows, digest), in id order."""
        digests = cls()
        for chunk in chunks:
            digests.ids.extend(map(itemgetter(0), chunk))
            digests.rows.extend(map(itemgetter(1), chunk))
            digests.digests.extend(map(itemgetter(2), chunk))
        digests.kept = _ints("i", bytes(4 * len(digests.ids)))
        return digests

    def as_buffers(self) -> tuple[Buffer, Buffer, Buffer]:
        """(ids, kept, digests) as ESS keeps them (HeldDigests.read): little-endian bytes,
        NO_DIGEST where a balance was not kept; views of the arrays, not copies, where the
        machine is little-endian (a million employees: 16 MB not made twice)."""
        kept = self.kept
        if kept != self.rows:
            kept = array(
                "i", (k if k == r else NO_DIGEST for k, r in zip(kept, self.rows, strict=True))
            )
        return _buffer(self.ids), _buffer(kept), _buffer(self.digests)

    def count_kept(self, rows: Sequence[tuple[Any, ...]], read: int, start: int = 0) -> int:
        """Count the balances kept of each employee, from rows ESS keeps (id first) in id
        order, out of `read` payroll rows of whole employees; `start`: the position to look
        from. Returns the position after the last employee counted."""
        return self.count_tally(tally_kept(rows, read), start)

    def count_tally(self, tally: Tally | None, start: int = 0) -> int:
        """count_kept of a chunk from its tally_kept, taken before these digests were read."""
        if tally is None:
            return start
        ids, kept = self.ids, self.kept
        if isinstance(tally, int):
            # Every balance kept: each employee's count is payroll's. Employees between not
            # read again (a re-sync's) kept all theirs too: ESS kept their digest.
            end = bisect_right(ids, tally, lo=start)
            kept[start:end] = self.rows[start:end]
            return end
        at = start
        for employee_id, count in tally:
            while ids[at] != employee_id:
                at += 1
            kept[at] = count
        return at + 1


Tally = int | list[tuple[int, int]]
"""What count_kept needs of a chunk: the last employee id when every balance read was kept,
else each employee's (id, balances kept)."""


def tally_kept(rows: Sequence[tuple[Any, ...]], read: int) -> Tally | None:
    """The tally of a chunk's rows ESS keeps (id first, in id order) out of `read` payroll
    rows of whole employees; None for none kept. A first import takes it as it copies and
    counts it into payroll's digests once they are read (beside the copy): a few numbers a
    chunk, not its rows."""
    if not rows:
        return None
    if len(rows) == read:
        return int(rows[-1][0])
    return [(int(i), sum(1 for _ in group)) for i, group in groupby(map(itemgetter(0), rows))]


@dataclass(frozen=True)
class HeldDigests:
    """Digests ESS keeps of one payroll (Digests.as_buffers), or a slice of them: read-only,
    in id order."""

    ids: Sequence[int]
    kept: Sequence[int]
    """Balances ESS keeps of each employee; NO_DIGEST where its digest is not kept."""
    digests: Sequence[int]

    @classmethod
    def read(cls, ids: Buffer, kept: Buffer, digests: Buffer) -> HeldDigests:
        """The digests from the bytes ESS keeps, without copying them."""
        return cls(ids=_view("i", ids), kept=_view("i", kept), digests=_view("q", digests))


@dataclass
class ReadAgain:
    """What a re-sync must read: the employees whose digest differs, and who is gone."""

    stale: list[int] = field(default_factory=list)
    """Positions (in payroll's Digests) of employees to read again, in id order."""
    gone: list[int] = field(default_factory=list)
    """Employees ESS keeps a digest of that payroll no longer has."""
    skipped_employees: int = 0
    """Employees not read again that ESS keeps a balance of."""
    skipped_balances: int = 0
    """Their balances."""


def read_again(payroll: Digests, held: Iterable[HeldDigests]) -> ReadAgain:
    """Compare payroll's digests with ESS's, which come a slice of employees at a time in
    id order: ESS's are never held all at once. An employee not read again takes its kept
    count from ESS."""
    plan = ReadAgain()
    at = 0  # payroll's next employee
    for part in held:
        if payroll.ids[at : at + len(part.ids)] == part.ids:
            at = _compare_same(payroll, part, at, plan)
        else:
            at = _merge(payroll, part, at, plan)
    plan.stale.extend(range(at, len(payroll.ids)))  # new to payroll, after ESS's last
    return plan


def _compare_same(payroll: Digests, part: HeldDigests, at: int, plan: ReadAgain) -> int:
    """The usual re-sync: ESS's slice holds payroll's next employees, compared in one pass
    with no list as long as the slice. Returns payroll's next position."""
    n = len(part.ids)
    differ = zip(payroll.digests[at : at + n], part.digests, part.kept, strict=True)
    stale = [at + i for i, (now, then, k) in enumerate(differ) if now != then or k == NO_DIGEST]
    kept = array("i", part.kept)
    for i in stale:
        kept[i - at] = 0
    payroll.kept[at : at + n] = kept
    plan.stale += stale
    # A digest is kept only for an employee with every balance kept: at least one.
    plan.skipped_balances += sum(kept)
    plan.skipped_employees += n - len(stale)
    return at + n


def _merge(payroll: Digests, part: HeldDigests, at: int, plan: ReadAgain) -> int:
    """ESS's slice against payroll's employees from `at`, one by one, where employees came
    or went. Returns payroll's next position."""
    ids, current, kept_now = payroll.ids, payroll.digests, payroll.kept
    end = len(ids)
    for employee_id, count, digest in zip(part.ids, part.kept, part.digests, strict=True):
        while at < end and ids[at] < employee_id:
            plan.stale.append(at)  # new to payroll
            at += 1
        if at < end and ids[at] == employee_id:
            if count != NO_DIGEST and digest == current[at]:
                kept_now[at] = count
                plan.skipped_balances += count
                plan.skipped_employees += count > 0
            else:
                plan.stale.append(at)
            at += 1
        else:
            plan.gone.append(employee_id)
    return at

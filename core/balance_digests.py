"""Which employees' leave balances a re-sync must read again: payroll's digests against ESS's.

Payroll computes, for each employee, a hash of every balance row (payroll/drivers.py). The
digest ESS keeps of an employee (ess.schema.leave_balance_digest) is that hash with the
number of rows and the leave types the balances were read against, taken in the same
snapshot as the balances themselves. A re-sync reads again only employees whose digest
differs: a balance changed, added or gone, an employee new to payroll, or ESS's leave types
changed (then every digest differs). An employee with a balance ESS did not keep (an
unknown leave type, a code spelled twice) keeps no digest, so it is read, and reported,
every time.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, groupby
from operator import itemgetter
from typing import Any

_MASK = 2**64
_MIX = 0x9E3779B97F4A7C15  # odd: multiplying by it is one-to-one modulo 2**64
_VERSION = b"ess-balance-digest-1"

Stored = tuple[int, int, int | None]
"""A digest ESS keeps: (payroll employee id, balances kept, digest or None)."""


def types_salt(leave_types: Mapping[str, str]) -> int:
    """The leave types balances are read against, as a number every digest includes."""
    text = repr(sorted(leave_types.items())).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8, key=_VERSION).digest(), "big")


def digest_of(rows: int, total: Any, salt: int) -> int:
    """One employee's digest, a signed 64-bit integer: payroll's number of rows and sum of
    their hashes (an int, or a Decimal from PostgreSQL's SUM), with the leave types."""
    value = (int(total or 0) * _MIX + rows * 0xC2B2AE3D27D4EB4F + salt) % _MASK
    return value - 2**63


@dataclass
class Digests:
    """Payroll's digest of each employee's balances, in id order, and what ESS keeps of each.

    Held in arrays: a million employees cost 20 MB.
    """

    salt: int
    ids: array[int] = field(default_factory=lambda: array("i"))
    rows: array[int] = field(default_factory=lambda: array("i"))
    digests: array[int] = field(default_factory=lambda: array("q"))
    kept: array[int] = field(default_factory=lambda: array("i"))
    """Balances ESS keeps of each employee (0 until counted or taken from ESS)."""

    @classmethod
    def read(cls, chunks: Iterable[Sequence[tuple[Any, ...]]], salt: int) -> Digests:
        """Payroll's (employee_id, rows, sum of hashes), in id order."""
        digests = cls(salt)
        for chunk in chunks:
            for employee_id, rows, total in chunk:
                digests.ids.append(int(employee_id))
                digests.rows.append(int(rows))
                digests.digests.append(digest_of(int(rows), total, salt))
        digests.kept = array("i", bytes(4 * len(digests.ids)))
        return digests

    def count_kept(self, rows: Sequence[tuple[Any, ...]], start: int = 0) -> int:
        """Count the balances kept of each employee, from rows ESS keeps (id first) in id
        order; `start`: the position to look from. Returns the position reached."""
        ids, kept, at = self.ids, self.kept, start
        for employee_id, group in groupby(map(itemgetter(0), rows)):
            while ids[at] != employee_id:
                at += 1
            kept[at] = sum(1 for _ in group)
        return at

    def stored(self, positions: Iterable[int]) -> Iterator[Stored]:
        """The digests to keep of these positions: none where a balance was not kept."""
        ids, rows, digests, kept = self.ids, self.rows, self.digests, self.kept
        for at in positions:
            whole = kept[at] == rows[at]
            yield ids[at], kept[at], digests[at] if whole else None


@dataclass
class ReadAgain:
    """What a re-sync must read: the employees whose digest differs, and who is gone."""

    stale: array[int] = field(default_factory=lambda: array("i"))
    """Positions (in Digests) of employees to read again, in id order."""
    gone: list[int] = field(default_factory=list)
    """Employees ESS keeps a digest of that payroll no longer has."""
    skipped_employees: int = 0
    """Employees not read again that ESS keeps a balance of."""
    skipped_balances: int = 0
    """Their balances."""


def read_again(digests: Digests, stored: Iterable[Sequence[Stored]]) -> ReadAgain:
    """Compare payroll's digests with ESS's (chunks of Stored, in id order).

    An employee not read again takes its kept count from ESS.
    """
    plan = ReadAgain()
    ids, current, kept = digests.ids, digests.digests, digests.kept
    at, end = 0, len(ids)
    for employee_id, held, digest in chain.from_iterable(stored):
        while at < end and ids[at] < employee_id:
            plan.stale.append(at)  # new to payroll, or ESS kept no digest
            at += 1
        if at < end and ids[at] == employee_id:
            if digest is not None and digest == current[at]:
                kept[at] = held
                plan.skipped_balances += held
                plan.skipped_employees += held > 0
            else:
                plan.stale.append(at)
            at += 1
        else:
            plan.gone.append(employee_id)
    plan.stale.extend(range(at, end))
    return plan

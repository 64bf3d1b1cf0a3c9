"""Diffing payroll's rows against what ESS holds: the decision of what a step writes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

Row = tuple[Any, ...]


def normalise_value(value: Any) -> Any:
    """One value as ESS compares and stores it."""
    # Payroll pads codes (CHAR semantics): 'nsw ' and 'nsw' are one value.
    if isinstance(value, str):
        return value.rstrip()
    if isinstance(value, bool):
        return int(value)
    # A float from a driver would make every compare a guess; decimals stay exact.
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


def normalise_row(row: Iterable[Any]) -> Row:
    """Every value of a row normalised."""
    return tuple(normalise_value(v) for v in row)


def match_key(row: Row, width: int) -> Row:
    """The key a row is matched by: codes trimmed and compared without case."""
    # generator/CONTRACT.md: codes may differ in case from the lookup's own; they mean the same.
    return tuple(v.strip().upper() if isinstance(v, str) else v for v in row[:width])


@dataclass(frozen=True)
class EssRow:
    """A row ESS holds for one payroll database."""

    id: int
    in_payroll: bool
    values: Row


@dataclass(frozen=True)
class ChangeCounts:
    """What one step changed, as the Web API Log reports it."""

    added: int = 0
    updated: int = 0
    deactivated: int = 0
    unchanged: int = 0

    def counted(self) -> dict[str, int]:
        """Each count by its name, as the Web API Log orders them."""
        return {
            "added": self.added,
            "updated": self.updated,
            "deactivated": self.deactivated,
            "unchanged": self.unchanged,
        }


@dataclass
class Changes:
    """The writes that make ESS equal payroll for one table."""

    inserts: list[Row] = field(default_factory=list)
    updates: list[tuple[int, Row]] = field(default_factory=list)
    """(ESS id, new values); a row back in payroll after being removed is updated."""
    deactivations: list[int] = field(default_factory=list)
    unchanged: int = 0
    duplicates: list[Row] = field(default_factory=list)
    """Keys payroll holds more than once (after trimming and case); the first row wins."""

    @property
    def counts(self) -> ChangeCounts:
        """The counts of each kind of change."""
        return ChangeCounts(
            added=len(self.inserts),
            updated=len(self.updates),
            deactivated=len(self.deactivations),
            unchanged=self.unchanged,
        )

    @property
    def is_empty(self) -> bool:
        """True when nothing needs writing."""
        return not (self.inserts or self.updates or self.deactivations)


def compute_changes(
    source: Iterable[Sequence[Any]], ess: Iterable[EssRow], key_width: int
) -> Changes:
    """Compare payroll's rows with ESS's rows for one table and database.

    Rows are tuples of the spec's columns, key columns first. Payroll rows absent
    from ESS are inserted, changed ones updated, and ESS rows payroll no longer has
    are deactivated, never deleted.
    """
    ess_by_key = {match_key(r.values, key_width): r for r in ess}
    changes = Changes()
    seen: set[Row] = set()
    for raw in source:
        row = normalise_row(raw)
        key = match_key(row, key_width)
        if key in seen:
            changes.duplicates.append(row[:key_width])
            continue
        seen.add(key)
        current = ess_by_key.get(key)
        if current is None:
            changes.inserts.append(row)
        elif not current.in_payroll or normalise_row(current.values) != row:
            changes.updates.append((current.id, row))
        else:
            changes.unchanged += 1
    changes.deactivations = [
        r.id for key, r in ess_by_key.items() if r.in_payroll and key not in seen
    ]
    return changes


def apply_changes(ess: Iterable[EssRow], changes: Changes) -> list[EssRow]:
    """What ESS holds after the changes are written (the writers' reference semantics)."""
    rows = {r.id: r for r in ess}
    for ess_id, values in changes.updates:
        rows[ess_id] = EssRow(ess_id, True, values)
    for ess_id in changes.deactivations:
        rows[ess_id] = EssRow(ess_id, False, rows[ess_id].values)
    next_id = max(rows, default=0) + 1
    for offset, values in enumerate(changes.inserts):
        rows[next_id + offset] = EssRow(next_id + offset, True, values)
    return list(rows.values())

"""What a chunk of payroll's employees changes in ESS: a plan, decided from plain values.

ess/store/employees.py reads what ESS holds (HeldEmployee) and writes the plan; nothing here
touches a database. generator/CONTRACT.md's field ownership is decided here: a new employee takes
every field from payroll, an existing one only the payroll-owned fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import repeat
from typing import Any, NamedTuple

from core.employee_rows import PreparedRows
from core.employees import (
    ESS_COLUMNS,
    PAYROLL_OWNED,
    EmployeeCounts,
    Issue,
    code_key,
    duplicate_issue,
    is_newly_terminated,
    parse_date,
)

INSERT_COLUMNS = ("code_key", "payroll_employee_id", *ESS_COLUMNS)
"""An inserted row's columns from payroll; ChunkPlan.insert_rows appends the constants."""
UPDATED_COLUMNS = (*PAYROLL_OWNED, "payroll_employee_id", "in_payroll", "synced_at")
"""An updated row's columns after its ESS id: payroll-owned fields only (generator/CONTRACT.md)."""


class HeldEmployee(NamedTuple):
    """What ESS holds for one employee of a payroll: what a sync compares with."""

    ess_id: int
    code_key: str
    payroll_employee_id: int
    in_payroll: bool
    termination_date: Any
    """As the driver reads it (a date, or ISO text on SQLite)."""
    owned: tuple[Any, ...]
    """The payroll-owned values, in PAYROLL_OWNED order."""


@dataclass(frozen=True)
class ChunkPlan:
    """What one chunk of payroll rows changes in ESS.

    `rows` are the chunk's accepted rows (rejected ones and shared codes dropped); `inserts`
    index new employees in them and `updates` pair an ESS id with a changed row.
    """

    rows: PreparedRows
    inserts: tuple[int, ...]
    updates: tuple[tuple[int, int], ...]
    terminated: tuple[str, ...]
    """Codes of employees whose termination date this chunk sets."""
    removed: tuple[tuple[int, str], ...]
    """(ESS id, code key) of employees in the chunk's id range it does not hold, by id or
    by code: gone from payroll unless another chunk holds their code (`moved`)."""
    moved: tuple[int, ...]
    """ESS ids of employees the chunk holds by code under another payroll id."""
    rejected: tuple[str, ...]
    """Code keys of rows neither added nor updated (duplicates among them)."""
    duplicates: tuple[str, ...]
    """Code keys held by more than one payroll employee."""
    issues: tuple[Issue, ...]
    counts: EmployeeCounts

    def insert_rows(self, constants: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Rows of INSERT_COLUMNS for the new employees, each followed by `constants`."""
        rows, picked = self.rows, self.inserts
        columns = [rows.columns[c] for c in ESS_COLUMNS]
        keys, ids = rows.keys, rows.payroll_ids
        if len(picked) < len(rows):
            keys, ids = [keys[n] for n in picked], [ids[n] for n in picked]
            columns = [[v[n] for n in picked] for v in columns]
        return list(zip(keys, ids, *columns, *map(repeat, constants)))  # noqa: B905

    def update_rows(self, now: datetime) -> list[tuple[Any, ...]]:
        """(ESS id, *UPDATED_COLUMNS) of each changed employee."""
        if not self.updates:
            return []
        ess_ids, picked = zip(*self.updates, strict=True)
        ids = self.rows.payroll_ids
        # Column by column: a pay review updates everyone, 2,000 rows a chunk.
        owned = [[v[n] for n in picked] for v in (self.rows.columns[c] for c in PAYROLL_OWNED)]
        return list(zip(ess_ids, *owned, [ids[n] for n in picked], repeat(True), repeat(now)))

    def inserted_keys(self) -> list[str]:
        """Code keys of the new employees."""
        return [self.rows.keys[n] for n in self.inserts]

    def updated_keys(self) -> list[str]:
        """Code keys of the changed employees."""
        return [self.rows.keys[n] for _, n in self.updates]


def plan_chunk(
    chunk: Sequence[Sequence[Any]],
    rows: PreparedRows,
    held: Mapping[str, HeldEmployee],
    duplicates: Callable[[], Mapping[str, Sequence[int]]],
    removable_after: int | None = None,
    ranged: bool = False,
) -> ChunkPlan:
    """Compare a chunk (payroll rows and prepare_rows of them, which it takes) with ESS.

    `held` is what ESS holds for the chunk's employees, by code key. `duplicates` gives
    payroll's codes held twice; it is asked only when a row would be written or was
    rejected, so a chunk with nothing to do reads nothing more. `ranged`: `held` is every
    ESS employee with a payroll id in (removable_after, the chunk's last id], so one the
    chunk does not hold is gone from payroll, unless payroll gave it another id that
    another chunk holds: the caller decides, once every chunk is read (plan.moved).
    """
    if held:
        owned = rows.owned()
        changed = [
            n
            for n, key in enumerate(rows.keys)
            if (current := held.get(key)) is None
            or not current.in_payroll
            or current.owned != owned[n]
        ]
    else:
        changed = list(range(len(rows)))
    shared = duplicates() if changed or rows.rejected_keys else {}
    issues, counts, changed = screen_chunk(chunk, rows, shared, changed)
    counts.unchanged += len(rows) - len(changed)
    codes = rows.columns["employee_code"]
    ends = rows.columns["termination_date"]
    inserts: list[int] = []
    updates: list[tuple[int, int]] = []
    terminated: list[str] = []
    if not held:
        inserts = changed
        counts.note_all("added", [codes[n] for n in changed[:10]])
        counts.added += len(changed) - min(len(changed), 10)
    for n in changed if held else ():
        current = held.get(rows.keys[n])
        if current is None:
            inserts.append(n)
            counts.note("added", codes[n])
        else:
            updates.append((current.ess_id, n))
            if is_newly_terminated(parse_date(current.termination_date), ends[n]):
                terminated.append(codes[n])
                counts.note("terminated", codes[n])
            else:
                counts.note("updated", codes[n])
    removed: list[tuple[int, str]] = []
    moved: list[int] = []
    if held:  # a first import's chunks hold no one: nothing to look at, row by row
        ids = rows.payroll_ids
        moved = [
            h.ess_id
            for n, key in enumerate(rows.keys)
            if (h := held.get(key)) is not None and h.payroll_employee_id != ids[n]
        ]
    if ranged and held:
        seen = {int(r[0]) for r in chunk}
        low = removable_after
        read = set(rows.keys).union(rows.rejected_keys)
        removed = [
            (h.ess_id, h.code_key)
            for h in held.values()
            if h.in_payroll
            and h.payroll_employee_id not in seen
            and h.code_key not in read
            and (low is None or h.payroll_employee_id > low)
        ]
    return ChunkPlan(
        rows,
        tuple(inserts),
        tuple(updates),
        tuple(terminated),
        tuple(removed),
        tuple(moved),
        tuple(rows.rejected_keys),
        tuple(k for k in rows.codes if k in shared) if shared else (),
        tuple(issues),
        counts,
    )


def screen_chunk(
    chunk: Sequence[Sequence[Any]],
    rows: PreparedRows,
    duplicates: Mapping[str, Sequence[int]],
    changed: list[int] | None = None,
) -> tuple[list[Issue], EmployeeCounts, list[int]]:
    """Reject a chunk's rows whose code another payroll employee holds too; the chunk's
    issues, its rejected rows counted, and `changed` (positions in `rows`) as positions in
    the rows kept. `rows` keeps the accepted."""
    changed = [] if changed is None else changed
    issues: list[Issue] = []
    if duplicates:
        changed = _reject_duplicates(chunk, rows, duplicates, issues, changed)
    issues += rows.issues
    counts = EmployeeCounts()
    for key in rows.rejected_keys:
        counts.note("rejected", key)
    return issues, counts, changed


def _reject_duplicates(
    chunk: Sequence[Sequence[Any]],
    rows: PreparedRows,
    duplicates: Mapping[str, Sequence[int]],
    issues: list[Issue],
    changed: list[int],
) -> list[int]:
    """Reject every row whose code another payroll employee also holds; the rows still changed."""
    for row, key in zip(chunk, rows.codes, strict=True):
        if key in duplicates:
            issues.append(duplicate_issue(str(row[1]).strip(), duplicates[key], int(row[0])))
    rows.issues = [i for i in rows.issues if code_key(i.employee_code) not in duplicates]
    keep = [n for n, k in enumerate(rows.keys) if k not in duplicates]
    if len(keep) == len(rows):
        return changed
    rows.rejected_keys += [k for k in rows.keys if k in duplicates]
    was_changed = set(changed)
    rows.keep(keep)
    return [m for m, n in enumerate(keep) if n in was_changed]


@dataclass
class ManagerScope:
    """Whose manager warnings a step looks for again: everyone, or the employees it read
    and the reports of employees it added or removed (their manager came or went)."""

    everyone: bool
    read: set[str] = field(default_factory=set)
    joined_or_left: set[str] = field(default_factory=set)

    def note(self, plan: ChunkPlan) -> None:
        """Remember a chunk's employees: read, added and removed."""
        if not self.everyone:
            self.read.update(plan.rows.codes)
            self.joined(plan.inserted_keys())

    def joined(self, keys: Sequence[str]) -> None:
        """Remember employees added or removed."""
        if not self.everyone:
            self.read.update(keys)
            self.joined_or_left.update(keys)


@dataclass(frozen=True)
class EmployeesResult:
    """What the employees step did (or, in a preview, would do)."""

    counts: EmployeeCounts
    issues: tuple[Issue, ...] = ()
    mode: str = "changes"
    """"full" (everyone read) or "changes" (payroll's change feed)."""
    read: int = 0
    watermark: datetime | None = None
    processed_ids: frozenset[int] = frozenset()
    """Payroll ids read by a sync of changes (a full sync reads everyone and keeps none)."""
    full_read_reason: str | None = None
    """Why a sync of changes read everyone instead, for the log."""
    full_read_warns: bool = True
    """Whether that reason is a warning (the feed lost changes) or not (it was cheaper)."""


def payroll_time(value: Any) -> datetime | None:
    """A time read from payroll (a datetime, or ISO text on SQLite), marked UTC."""
    # Payroll's clock, kept as it reads (naive); stored marked UTC only because ESS stores
    # every instant that way. It is compared with payroll's own times, never with ours.
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment

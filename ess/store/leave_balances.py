"""ESS's leave balances of one payroll database: reading them in key order, writing a diff."""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from datetime import datetime
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Date,
    Dialect,
    Integer,
    MetaData,
    Select,
    Table,
    any_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from core.balance_digests import Buffer, Digests, HeldDigests
from core.leave import Balance, BalanceDiff
from ess.schema import leave_balance, leave_balance_digest
from ess.store.bulk import BulkWriter, analyze, driver_rows
from ess.store.employees import IN_BATCH

# Differences staged in Python before they go to the database: bounded memory when a pay
# run changes every balance, one write for the few a usual re-sync finds. 20,000 balances
# are about 5 MB here; a 1% re-sync of a million employees' 8 million balances finds 80,000.
FLUSH_AT = 20_000
# ESS's digests are read and compared this many employees at a time (stored_digests): a
# megabyte of digests.
READ_SLICE = 1 << 17
# Fewer differences than this are written by key with executemany on PostgreSQL too:
# staging them in a temporary table costs more than it saves.
STAGE_FROM = 100

_KEY = (leave_balance.c.payroll_employee_id, leave_balance.c.leave_type_code)
_VALUES = (leave_balance.c.balance, leave_balance.c.accrued_to)
_GONE, _CHANGED, _NEW = 0, 1, 2
# The differences of one step, in the step's own connection (PostgreSQL only).
_DIFF = Table(
    "ess_leave_balance_diff",
    MetaData(),
    Column("change", Integer, nullable=False),
    Column("payroll_employee_id", Integer, nullable=False),
    Column("leave_type_code", leave_balance.c.leave_type_code.type, nullable=False),
    Column("balance", leave_balance.c.balance.type),
    Column("accrued_to", Date),
    prefixes=["TEMPORARY"],
)


def held_balances(conn: Connection, database: str, after: int | None, upto: int) -> list[Balance]:
    """ESS's balances of the database's employees after `after` (None: from the first) up
    to `upto`, in key order: the primary key's index gives them in that order, no sort."""
    params = {"database": database, "upto": upto, "after": after}
    if conn.dialect.name == "postgresql":
        # SQLAlchemy's row-by-row fetch was most of a no-change re-sync's time.
        return driver_rows(conn, _held_query(conn.dialect, after is None), params)
    return [tuple(r) for r in conn.execute(_held_select(after is None), params)]


def held_balances_of(conn: Connection, database: str, ids: Sequence[int]) -> list[Balance]:
    """ESS's balances of these employees of the database, in key order."""
    if conn.dialect.name == "postgresql":
        params = {"database": database, "ids": list(ids)}
        return driver_rows(conn, _held_of_query(conn.dialect), params)
    found: list[Balance] = []
    for start in range(0, len(ids), IN_BATCH):
        params = {"database": database, "ids": list(ids[start : start + IN_BATCH])}
        found += [tuple(r) for r in conn.execute(_held_of_select(False), params)]
    return found


@cache
def _held_of_select(one_array: bool) -> Select[Any]:
    lb = leave_balance
    # PostgreSQL takes every id as one array; elsewhere a list of parameters.
    if one_array:
        listed = lb.c.payroll_employee_id == any_(bindparam("ids", type_=ARRAY(Integer)))
    else:
        listed = lb.c.payroll_employee_id.in_(bindparam("ids", expanding=True))
    query = select(*_KEY, *_VALUES).where(lb.c.payroll_database == bindparam("database"), listed)
    return query.order_by(*_KEY)


@lru_cache(maxsize=8)  # one an engine
def _held_of_query(dialect: Dialect) -> str:
    return str(_held_of_select(True).compile(dialect=dialect))


@cache
def _held_select(from_first: bool) -> Select[Any]:
    lb = leave_balance
    query = select(*_KEY, *_VALUES).where(
        lb.c.payroll_database == bindparam("database"),
        lb.c.payroll_employee_id <= bindparam("upto"),
    )
    if not from_first:
        query = query.where(lb.c.payroll_employee_id > bindparam("after"))
    return query.order_by(*_KEY)


@lru_cache(maxsize=8)  # one an engine
def _held_query(dialect: Dialect, from_first: bool) -> str:
    return str(_held_select(from_first).compile(dialect=dialect))


class BalanceWriter:
    """Writes the differences of one step, in the caller's transaction.

    Differences found while payroll is still being read are kept until FLUSH_AT; a write
    only touches employees already compared, so the reads that follow see none of it. On
    PostgreSQL many are copied into a temporary table and applied by three set-based
    statements at the end; elsewhere, or for a few, they are written by key.
    """

    def __init__(self, conn: Connection, database: str, now: datetime) -> None:
        self._conn = conn
        self._database = database
        self._now = now
        self._pending = BalanceDiff()
        self._staged = False
        self.deleted = self.updated = self.inserted = 0

    def add(self, diff: BalanceDiff) -> None:
        """Differences of some employees; written now or later."""
        self.deleted += len(diff.gone)
        self.updated += len(diff.changed)
        self.inserted += len(diff.new)
        pending = self._pending
        pending.gone += diff.gone
        pending.changed += diff.changed
        pending.new += diff.new
        if len(pending) >= FLUSH_AT:
            self._flush()

    def delete_after(self, after: int | None) -> None:
        """Delete the database's balances of employees after `after` (None: every one)."""
        lb = leave_balance
        query = delete(lb).where(lb.c.payroll_database == self._database)
        if after is not None:
            query = query.where(lb.c.payroll_employee_id > after)
        self.deleted += self._conn.execute(query).rowcount

    def finish(self) -> None:
        """Write what is still pending."""
        if self._staged or (
            self._conn.dialect.name == "postgresql" and len(self._pending) >= STAGE_FROM
        ):
            self._flush()
            self._apply_stage()
        else:
            self._write_by_key(self._pending)
        self._pending = BalanceDiff()

    def _flush(self) -> None:
        pending, self._pending = self._pending, BalanceDiff()
        if self._conn.dialect.name != "postgresql":
            self._write_by_key(pending)
            return
        if not self._staged:
            _DIFF.drop(self._conn, checkfirst=True)
            _DIFF.create(self._conn)
            self._staged = True
        rows: list[tuple[Any, ...]] = [(_GONE, e, t, None, None) for e, t in pending.gone]
        rows += [(_CHANGED, *b) for b in pending.changed]
        rows += [(_NEW, *b) for b in pending.new]
        with BulkWriter(self._conn, _DIFF, [c.name for c in _DIFF.c], binary=True) as writer:
            writer.write(rows)

    def _apply_stage(self) -> None:
        conn, lb, diff = self._conn, leave_balance, _DIFF
        analyze(conn, diff)
        # A re-sync's differences are mostly a small part of ESS's balances: looking each up
        # by key beats hashing them and scanning all of ESS's (80,000 of 8 million: 0.3 s
        # against 1.6 s), but PostgreSQL's default cost of a random read (4, for spinning
        # disks) makes it choose the scan. With an SSD's (1.1), for this step's transaction
        # only, it looks small diffs up and still hashes large ones (a pay run's).
        conn.exec_driver_sql("SET LOCAL random_page_cost = 1.1")
        same = (
            lb.c.payroll_database == self._database,
            lb.c.payroll_employee_id == diff.c.payroll_employee_id,
            lb.c.leave_type_code == diff.c.leave_type_code,
        )
        conn.execute(delete(lb).where(*same, diff.c.change == _GONE))
        conn.execute(
            update(lb)
            .where(*same, diff.c.change == _CHANGED)
            .values(balance=diff.c.balance, accrued_to=diff.c.accrued_to, synced_at=self._now)
        )
        rows = select(
            literal(self._database, lb.c.payroll_database.type),
            diff.c.payroll_employee_id,
            diff.c.leave_type_code,
            diff.c.balance,
            diff.c.accrued_to,
            literal(self._now, lb.c.synced_at.type),
        ).where(diff.c.change == _NEW)
        conn.execute(insert(lb).from_select(_INSERT_COLUMNS, rows))
        diff.drop(conn)
        self._staged = False

    def _write_by_key(self, diff: BalanceDiff) -> None:
        conn, lb = self._conn, leave_balance
        key = (
            lb.c.payroll_database == self._database,
            lb.c.payroll_employee_id == bindparam("e"),
            lb.c.leave_type_code == bindparam("t"),
        )
        if diff.gone:
            conn.execute(delete(lb).where(*key), [{"e": e, "t": t} for e, t in diff.gone])
        if diff.changed:
            conn.execute(
                update(lb)
                .where(*key)
                .values(balance=bindparam("b"), accrued_to=bindparam("d"), synced_at=self._now),
                [{"e": e, "t": t, "b": b, "d": d} for e, t, b, d in diff.changed],
            )
        if diff.new:
            conn.execute(
                insert(lb),
                [
                    dict(zip(_INSERT_COLUMNS, (self._database, *b, self._now), strict=True))
                    for b in diff.new
                ],
            )


_INSERT_COLUMNS = (
    "payroll_database",
    "payroll_employee_id",
    "leave_type_code",
    "balance",
    "accrued_to",
    "synced_at",
)


def stored_digests(conn: Connection, database: str) -> Iterator[HeldDigests] | None:
    """The digests ESS keeps of the database's employees' balances, a slice of employees
    at a time in id order, or None. Read them before the connection's next query."""
    d = leave_balance_digest
    of_database = d.c.payroll_database == database
    if conn.dialect.name != "postgresql":
        found = conn.execute(select(d.c.ids, d.c.kept, d.c.digests).where(of_database)).first()
        return None if found is None else iter([HeldDigests.read(*found)])
    employees = conn.execute(select(d.c.employees).where(of_database)).scalar_one_or_none()
    return None if employees is None else _in_slices(conn, of_database, employees)


def _in_slices(conn: Connection, where: Any, employees: int) -> Iterator[HeldDigests]:
    """ESS's digests READ_SLICE employees at a time, each slice by one query, in binary (as
    text they would come as twice as many bytes of hex)."""
    d = leave_balance_digest
    sizes = {"ids": 4, "kept": 4, "digests": 8}  # bytes an employee
    pieces = (
        func.substring(d.c[c], bindparam(f"{c}_from"), bindparam(f"{c}_length")) for c in sizes
    )
    query = select(*pieces).where(where).compile(dialect=conn.dialect)
    for first in range(0, employees, READ_SLICE):
        n = min(READ_SLICE, employees - first)
        params = dict(query.params)
        for c, size in sizes.items():
            params |= {f"{c}_from": first * size + 1, f"{c}_length": n * size}  # from 1 in SQL
        yield HeldDigests.read(*driver_rows(conn, query.string, params, binary=True)[0])


def forget_digests(conn: Connection, database: str) -> None:
    """Forget the database's digests: the next leave sync reads every balance again."""
    d = leave_balance_digest
    conn.execute(delete(d).where(d.c.payroll_database == database))


def keep_digests(conn: Connection, database: str, digests: Digests) -> None:
    """Keep the database's digests, in place of any kept before."""
    forget_digests(conn, database)
    ids, kept, values = digests.as_buffers()
    row: dict[str, str | int | Buffer] = {
        "payroll_database": database,
        "employees": len(digests.ids),
        "ids": ids,
        "kept": kept,
        "digests": values,
    }
    if conn.dialect.name == "postgresql":
        _copy_row(conn, row)
    else:
        conn.execute(insert(leave_balance_digest).values(row))


def _copy_row(conn: Connection, row: dict[str, str | int | Buffer]) -> None:
    """One row of leave_balance_digest by a binary COPY that sends each value from where it
    is, in the driver's pieces. An INSERT's parameters go as text (a million employees'
    16 MB of digests as 32 MB of hex) and the driver's own COPY of a row first makes the
    whole row again: either held the digests two or three times at once."""
    fields: list[Buffer] = [struct.pack(">h", len(row))]
    for value in row.values():
        if isinstance(value, str):
            value = value.encode()
        elif isinstance(value, int):
            value = struct.pack(">i", value)
        data = memoryview(value).cast("B")
        fields += [struct.pack(">i", len(data)), data]
    names = ", ".join(row)
    driver: Any = conn.connection.driver_connection
    with (
        driver.cursor() as cursor,
        cursor.copy(
            f"COPY {leave_balance_digest.name} ({names}) FROM STDIN (FORMAT BINARY)"
        ) as copy,
    ):
        copy.write(_COPY_HEADER)
        for field in fields:
            copy.write(field)
        copy.write(_COPY_TRAILER)


# PostgreSQL's binary COPY format: a signature, no flags, no extension; -1 fields at the end.
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)

"""ESS's employees for the import step: what ESS holds, and writing a step's plan.

Every function runs on the caller's connection, inside its transaction: the step's writes
and its new watermark commit together or not at all (tasks/employees.py).
"""

from __future__ import annotations

import math
from collections.abc import Container, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextvars import copy_context
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    MetaData,
    Select,
    Table,
    and_,
    any_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.schema import CreateTable

from core.employee_changes import (
    INSERT_COLUMNS,
    UPDATED_COLUMNS,
    ChunkPlan,
    HeldEmployee,
    ManagerScope,
)
from core.employee_rows import PreparedRows
from core.employees import (
    LOOKUP_FIELDS,
    PAYROLL_OWNED,
    SAMPLED,
    EmployeeCounts,
    Issue,
    LookupCodes,
    code_key,
)
from ess.schema import LOOKUP_TABLES, employee, employee_issue, manages, payroll_database
from ess.store.bulk import (
    BulkWriter,
    StagedUpdates,
    analyze,
    bind_constants,
    bulk_insert,
    driver_rows,
)

# SQL Server takes at most 2,100 parameters in one statement.
IN_BATCH = 1000
# What the sync's and ESS's queries of employees filter and join on (ess.schema.manages,
# the code and payroll-id lookups): a first import analyzes these columns only, in a
# fifth of the time all of them take.
PLANNED_COLUMNS = (
    "payroll_database",
    "code_key",
    "payroll_employee_id",
    "in_payroll",
    "manager_code",
)
_CHANGE_KINDS = ("added", "updated", "terminated")
"""The kinds of change a ServerComparison counts, each with its first codes."""
_FIXED = ("payroll_database", "in_payroll", "first_imported_at", "synced_at")
"""An insert's columns after INSERT_COLUMNS, the same for every row of a chunk."""
_LOOKUP_CODE_COLUMN = {
    "gender": "gender_code",
    "state": "state_code",
    "country": "country_code",
    "employment_type": "employment_type_code",
    "job_classification": "classification_code",
    "cost_account": "account_code",
    "location": "location_code",
    "pay_point": "pay_point_code",
    "pay_frequency": "frequency_code",
    "super_fund": "fund_code",
}
_HELD = (
    employee.c.id,
    employee.c.code_key,
    employee.c.payroll_employee_id,
    employee.c.in_payroll,
    employee.c.termination_date,
    *(employee.c[c] for c in PAYROLL_OWNED),
)


def watermark(conn: Connection, database: str) -> tuple[datetime | None, str | None]:
    """Where the last sync of this payroll's change feed got to (None before the first), and
    the change ids it read that the next sync reads again (core/feed.py's ranges)."""
    found = conn.execute(
        select(payroll_database.c.employee_watermark, payroll_database.c.feed_read).where(
            payroll_database.c.name == database
        )
    ).first()
    return (found[0], found[1]) if found else (None, None)


def set_watermark(
    conn: Connection, database: str, moment: datetime | None, read: str | None
) -> None:
    """Record where this sync got to in payroll's change feed, and the changes it read there."""
    conn.execute(
        update(payroll_database)
        .where(payroll_database.c.name == database)
        .values(employee_watermark=moment, feed_read=read)
    )


def lookup_codes(conn: Connection, database: str) -> LookupCodes:
    """The codes of this payroll's lookups ESS holds, which employees' codes must name."""
    codes: dict[str, dict[str, str]] = {}
    for lookup in set(LOOKUP_FIELDS.values()):
        table = LOOKUP_TABLES[lookup]
        column = table.c[_LOOKUP_CODE_COLUMN[lookup]]
        own = conn.execute(
            select(column).where(table.c.payroll_database == database, table.c.in_payroll)
        ).scalars()
        codes[lookup] = {code_key(c): c for c in own}
    return LookupCodes(codes)


def has_employees(conn: Connection, database: str) -> bool:
    """Whether ESS holds any employee of this payroll (a first import finds none)."""
    query = select(employee.c.id).where(employee.c.payroll_database == database).limit(1)
    return conn.execute(query).first() is not None


def count_employees(conn: Connection, database: str, upto: int | None = None) -> int:
    """How many employees of this payroll ESS holds (what a feed's size is weighed against);
    with `upto`, counted no further than that (an index range, not the whole table)."""
    held = select(employee.c.id).where(employee.c.payroll_database == database)
    # A limit the table cannot reach (a pay review's feed weighed against 4 times its size)
    # stops nothing, and on PostgreSQL it keeps the count from the server's parallel scan:
    # 200,000 employees counted in 0.14 s with it, 0.04 s without.
    if upto is not None and upto <= _rows_estimated(conn):
        held = held.limit(upto)
    return int(conn.execute(select(func.count()).select_from(held.subquery())).scalar_one())


def _rows_estimated(conn: Connection) -> float:
    """The planner's estimate of employee's rows, every payroll's (PostgreSQL); infinite
    where there is none, or the table was never analyzed. Only which count runs follows
    it: both count exactly."""
    if conn.dialect.name != "postgresql":
        return math.inf
    estimate = conn.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = CAST(:table AS regclass)"),
        {"table": employee.name},
    ).scalar_one_or_none()
    return math.inf if estimate is None or estimate < 0 else float(estimate)


def held(conn: Connection, database: str, keys: Sequence[str]) -> dict[str, HeldEmployee]:
    """What ESS holds for the employees with these code keys."""
    found: dict[str, HeldEmployee] = {}
    for listed in one_of(conn, employee.c.code_key, keys):
        query = select(*_HELD).where(employee.c.payroll_database == database, listed)
        found.update(_by_key(_fetched(conn, query)))
    return found


def one_of(conn: Connection, column: Any, values: Sequence[Any]) -> Iterator[Any]:
    """`column IN values` as the conditions of as few queries as the database allows.

    On PostgreSQL one `column = ANY(array)`: a single parameter, where an IN list of a
    thousand makes a statement of a thousand placeholders for SQLAlchemy to build and the
    server to plan, each time (40 ms for a sync's 1,000 codes, 10 ms as an array).
    Elsewhere IN lists of IN_BATCH values. Nothing for no values.
    """
    if not values:
        return
    if conn.dialect.name == "postgresql":
        yield column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
        return
    for start in range(0, len(values), IN_BATCH):
        yield column.in_(values[start : start + IN_BATCH])


def held_in_range(
    conn: Connection, database: str, after: int | None, upto: int | None
) -> dict[str, HeldEmployee]:
    """ESS's employees whose payroll id is in (after, upto]: one index range, no key list."""
    query = select(*_HELD).where(employee.c.payroll_database == database)
    return _by_key(_fetched(conn, _in_id_range(query, after, upto)))


def _in_id_range(query: Select[Any], after: int | None, upto: int | None) -> Select[Any]:
    """`query` of employee kept to payroll ids in (after, upto]; None leaves that end open."""
    return query.where(*_id_range(employee.c.payroll_employee_id, after, upto))


def _id_range(column: Any, after: int | None, upto: int | None) -> list[Any]:
    """SQL conditions keeping `column` (a payroll id) in (after, upto]; None: that end open."""
    kept = []
    if after is not None:
        kept.append(column > after)
    if upto is not None:
        kept.append(column <= upto)
    return kept


def held_for_chunk(
    conn: Connection, database: str, keys: Sequence[str], span: tuple[int | None, int] | None
) -> dict[str, HeldEmployee]:
    """What ESS holds for a chunk: everyone with a payroll id in `span` (after, upto] and,
    by code key, the chunk's employees not found there; without a span, by code key only."""
    if span is None:
        return held(conn, database, keys)
    found = held_in_range(conn, database, *span)
    # An employee whose payroll id changed is found by code.
    found.update(held(conn, database, [k for k in keys if k not in found]))
    return found


def _fetched(conn: Connection, query: Select[Any]) -> Sequence[Sequence[Any]]:
    """A query's rows; on PostgreSQL as psycopg makes them (driver_rows)."""
    if conn.dialect.name != "postgresql":
        return conn.execute(query).all()
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    return driver_rows(conn, compiled.string, compiled.params)


def _by_key(rows: Iterable[Any]) -> dict[str, HeldEmployee]:
    return {r[1]: HeldEmployee(r[0], r[1], r[2], r[3], r[4], tuple(r[5:])) for r in rows}


def in_payroll_by_payroll_id(
    conn: Connection, database: str, payroll_ids: Sequence[int]
) -> list[tuple[int, str]]:
    """(ESS id, code key) of the in-payroll employees with these payroll ids."""
    found: list[tuple[int, str]] = []
    for listed in one_of(conn, employee.c.payroll_employee_id, payroll_ids):
        found += conn.execute(
            select(employee.c.id, employee.c.code_key).where(
                employee.c.payroll_database == database, employee.c.in_payroll, listed
            )
        ).tuples()
    return found


def first_import_writer(conn: Connection) -> BulkWriter:
    """One COPY that takes every chunk of a first import (no query may run until it closes)."""
    return BulkWriter(conn, employee, [*INSERT_COLUMNS, *_FIXED], converted=_FIXED, binary=True)


def update_writer(conn: Connection) -> StagedUpdates:
    """The writer of a step's updates: applied at once, or together when it finishes."""
    return StagedUpdates(conn, employee, "id", UPDATED_COLUMNS)


def write_plan(
    conn: Connection,
    database: str,
    plan: ChunkPlan,
    writer: BulkWriter | None,
    updates: StagedUpdates,
) -> None:
    """Write one chunk's plan: inserts (through `writer` if given), then updates (through
    `updates`: written when it finishes, on PostgreSQL). Its removals wait for every chunk
    (mark_removed): another may hold their codes."""
    now = datetime.now(UTC)
    if plan.inserts:
        fixed = bind_constants(conn, employee, _fixed_values(database, now))
        rows = plan.insert_rows(tuple(fixed.values()))
        if writer is not None:
            writer.write(rows)
        else:
            bulk_insert(conn, employee, [*INSERT_COLUMNS, *fixed], rows, converted=_FIXED)
    if plan.updates:
        updates.add(plan.update_rows(now))


def _fixed_values(database: str, now: datetime) -> dict[str, Any]:
    """_FIXED's values for the employees a sync adds at `now`, by column."""
    return dict(zip(_FIXED, (database, True, now, now), strict=True))


# Everyone read into ESS: compared in the server (ServerComparison).
_READ = Table(
    "ess_staged_employee_read",
    MetaData(),
    *(Column(c, employee.c[c].type) for c in INSERT_COLUMNS),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)
_HELD_AT: ColumnElement[Any] = literal_column(f"{employee.name}.ctid")
_STAGED_AT: ColumnElement[Any] = literal_column(f"{_READ.name}.ctid")
"""Where a row lies (PostgreSQL's ctid), employee's and the stage's: how one statement finds
again the rows it joined. The stage is this connection's own temporary table; an employee's
row moves when someone else updates it meanwhile (ServerComparison._write_changes)."""


def compares_in_server(conn: Connection) -> bool:
    """Whether a step reading everyone stages payroll's rows and lets ESS's server compare."""
    return conn.dialect.name == "postgresql"


_WRITTEN_KINDS = ("updated", "terminated")
"""The kinds of change ServerComparison writes with an UPDATE."""


class ServerComparison:
    """Everyone read from payroll, applied to an ESS that holds employees, on PostgreSQL.

    Accepted rows are copied (binary) into a temporary table through one COPY, a block at a
    time. When the server is free and a block holds SMALLEST rows or more (or it is busy
    and BLOCK rows were read), the server compares the block with ESS by code key and
    writes what differs (one statement: a join, an UPDATE and an INSERT) on a thread of its
    own, while this one reads and prepares the next block from payroll: a pay review that
    edits everyone costs its copy and the server's work side by side, as a first import's
    COPY loads while the next chunk is read. Only the counts and each kind's first codes
    come back, and at the end the few employees payroll no longer has.

    What a change is matches plan_chunk: a code ESS does not hold is added; one it holds is
    updated when a payroll-owned value differs or it was marked no longer in payroll, and
    counted terminated when that sets its termination date. An employee is gone when
    neither its code nor its payroll id was read. Nothing else may use the connection
    between the first stage() and apply(): a block is being written on it.
    """

    BLOCK = 20_000
    """The most staged rows compared and written at once, on the server, while the next are
    read (rows read while it is busy wait in memory, up to this many)."""
    SMALLEST = 5_000
    """The fewest staged rows sent to the server when it is free. It starts on a read's
    first rows instead of waiting for a whole block, and each block after holds what was
    read while it applied the one before (at most BLOCK): a pay review of 200,000 spent
    0.2 s less in its blocks (bench/README.md)."""

    def __init__(self, conn: Connection, database: str) -> None:
        self._conn = conn
        self._database = database
        self._now = datetime.now(UTC)
        # No clean-up on failure: the transaction rolls back, and the table with it.
        conn.execute(CreateTable(_READ, if_not_exists=True))
        self._writer = BulkWriter(conn, _READ, INSERT_COLUMNS, binary=True)
        self._staged = 0
        self._in_block = 0
        self._waiting: list[list[tuple[Any, ...]]] = []
        """Rows read while the server applied a block, held until it is done."""
        self._high: int | None = None
        """The payroll id of the last row staged."""
        self._after: int | None = None
        """The payroll id the last block applied reached (None: no block yet)."""
        self._unstaged: list[tuple[int, str, int]] = []
        """ESS's employees a block did not hold where their payroll id fell."""
        self._moved: set[int] = set()
        """ESS ids of employees a block held by code under another payroll id."""
        self._found = EmployeeCounts()
        self._applying: Future[None] | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="ess-compare")

    def __enter__(self) -> ServerComparison:
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self._applying is not None:
                # A failure here is the block's; the step's own error (if any) stays the one
                # raised. The transaction rolls back only once the server's statement ended.
                wait([self._applying])
        finally:
            self._thread.shutdown()
            # On an error the open COPY is abandoned, not finished: the error stays the step's.
            self._writer.__exit__(*exc)

    def stage(self, rows: PreparedRows) -> None:
        """Copy a chunk's accepted rows (prepare_rows, duplicates rejected) to the stage."""
        columns = [rows.columns[c] for c in INSERT_COLUMNS[2:]]
        self._waiting.append(list(zip(rows.keys, rows.payroll_ids, *columns, strict=True)))
        self._staged += len(rows)
        if rows.payroll_ids:
            self._high = rows.payroll_ids[-1]  # payroll gives everyone in id order
        applying = self._applying
        held = sum(map(len, self._waiting))
        if applying is not None and not applying.done() and held < self.BLOCK:
            return  # the server is applying the last block: these wait here, not for it
        self._write_waiting()
        # The server is free now (_write_waiting waited for it).
        if self._in_block >= min(self.BLOCK, self.SMALLEST):
            self._writer.close()
            self._in_block = 0
            apply_block = partial(self._apply_block, self._high)
            self._applying = self._thread.submit(copy_context().run, apply_block)

    def _write_waiting(self) -> None:
        """Copy the rows held back while a block was applied, once it is (its error is
        raised here)."""
        applying, self._applying = self._applying, None
        if applying is not None:
            applying.result()
        for rows in self._waiting:
            self._writer.write(rows)
            self._in_block += len(rows)
        self._waiting.clear()

    def apply(
        self, read_ids: Container[int], rejected_keys: set[str]
    ) -> tuple[EmployeeCounts, list[tuple[int, str]]]:
        """Write what differs; the counts of what changed, and (ESS id, code key) of the gone.

        `read_ids`: every payroll id read, rejected rows' too; `rejected_keys`: the code keys
        of rows rejected. Neither's employee is gone from payroll.
        """
        self._write_waiting()
        self._writer.close()
        self._apply_block(None)
        counts = self._found
        counts.unchanged = self._staged - counts.added - counts.updated - counts.terminated
        gone = [
            (ess_id, key)
            for ess_id, key, payroll_id in self._not_read()
            if payroll_id not in read_ids and key not in rejected_keys
        ]
        mark_removed(self._conn, gone)
        return counts, gone

    def _apply_block(self, upto: int | None) -> None:
        """Compare the staged block with ESS and write what differs (_write_changes), note
        ESS's employees with a payroll id after the last block's and up to `upto` (None:
        every id after it) that the block does not hold, and those it holds under another
        payroll id, and empty the stage."""
        found, unmatched, moved = self._write_changes(self._after, upto)
        if unmatched:
            self._unstaged += self._not_staged(self._after, upto)
        self._moved.update(moved)
        self._after = upto
        self._conn.execute(text(f"TRUNCATE {_READ.name}"))
        self._found.merge(found)  # blocks come in payroll id order: the first codes stay first

    def _write_changes(
        self, after: int | None, upto: int | None
    ) -> tuple[EmployeeCounts, int, list[int]]:
        """Write what the staged block changes and count it, in one statement: the counts,
        with the first codes of each kind the blocks before it left short of SAMPLED (in
        payroll id order, as plan_chunk samples them; blocks come in that order); how many
        of ESS's in-payroll employees with a payroll id in (after, upto] the block does not
        hold by code; and the ESS ids of employees it holds by code under another payroll id.

        One join of the block and ESS's employees of this payroll by code ("joined", kept by
        the server for the statement) decides each staged row's kind; the UPDATE and the
        INSERT take their rows from it, going straight to where each lies (ctid), so nothing
        is looked up or compared twice. (An UPDATE that joined the block by code again,
        after a query counting the same join, took about a third more of the server's time:
        bench/README.md.) A few rows come back, not one for each change. (A window that
        numbered every change by kind and payroll id sorted them all, in every block; a
        table of every code staged, to find whom no block held, took a tenth of a pay
        review: bench/README.md measures both.) Codes are unique on both sides, so ESS's
        employees in the range that the block holds are the ones the join matched there:
        when as many are held as ESS has in the range, no one there can be gone.

        An employee someone updates in ESS meanwhile (a person editing their own details,
        committed while this statement ran) has moved: PostgreSQL does not follow a row by
        where it lay, so the UPDATE passes them by. The rows it wrote are counted; when one
        is short, the employees of the block that still differ are updated by code, their
        edit kept (only payroll's values are written).
        """
        database = self._database
        held = (
            select(employee, _HELD_AT.label("held_row"))
            .where(employee.c.payroll_database == database)
            .subquery()
        )
        # is_newly_terminated, in SQL: ESS had no termination date and payroll gives one.
        ends = and_(held.c.termination_date.is_(None), _READ.c.termination_date.is_not(None))
        kind = case(
            (held.c.id.is_(None), "added"),
            (_differs(held), case((ends, "terminated"), else_="updated")),
            else_=null(),
        )
        joined = (
            select(
                kind.label("kind"),
                _READ.c.employee_code,
                _READ.c.payroll_employee_id.label("at"),
                held.c.id.label("held_id"),
                held.c.payroll_employee_id.label("held_at"),
                held.c.in_payroll.label("held_in_payroll"),
                held.c.held_row,
                _STAGED_AT.label("staged_row"),
            )
            .select_from(_READ.outerjoin(held, _READ.c.code_key == held.c.code_key))
            .cte("joined")
        )
        # Each row found where it lies, and checked to be the one joined (its id): the
        # server looks up nothing.
        staged = and_(joined.c.staged_row == _STAGED_AT, joined.c.at == _READ.c.payroll_employee_id)
        written = (
            update(employee)
            .where(
                joined.c.kind.in_(_WRITTEN_KINDS),
                joined.c.held_row == _HELD_AT,
                joined.c.held_id == employee.c.id,
                staged,
            )
            .values(self._payroll_values())
            .returning(employee.c.id)
            .cte("written")
        )
        fixed = _fixed_values(database, self._now)
        new = (
            select(
                *(_READ.c[c] for c in INSERT_COLUMNS),
                *(literal(v, employee.c[c].type) for c, v in fixed.items()),
            )
            .select_from(joined.join(_READ, staged))
            .where(joined.c.kind == "added")
        )
        added = insert(employee).from_select([*INSERT_COLUMNS, *fixed], new).cte("added")
        # A row is a kind's count (no code), one of its first codes (no count), the number
        # of ESS's employees in the range not held ("unmatched"), the number of rows the
        # UPDATE wrote ("written"), or an ESS id ("moved").
        place = _READ.c.payroll_employee_id.type
        no_code = cast(null(), _READ.c.employee_code.type)
        no_place = cast(null(), place)
        in_range = _id_range(joined.c.held_at, after, upto)
        matched = (
            select(func.count())
            .select_from(joined)
            .where(joined.c.held_in_payroll, *in_range)
            .scalar_subquery()
        )
        in_ess = (
            select(func.count())
            .select_from(employee)
            .where(
                employee.c.payroll_database == database,
                employee.c.in_payroll,
                *_id_range(employee.c.payroll_employee_id, after, upto),
            )
            .scalar_subquery()
        )
        parts: list[Any] = [
            select(joined.c.kind, func.count().label("total"), no_code, no_place)
            .where(joined.c.kind.is_not(None))
            .group_by(joined.c.kind),
            select(literal("unmatched"), in_ess - matched, no_code, no_place),
            select(literal("written"), func.count(), no_code, no_place).select_from(written),
            select(
                literal("moved"), cast(null(), BigInteger), no_code, cast(joined.c.held_id, place)
            ).where(joined.c.held_id.is_not(None), joined.c.held_at != joined.c.at),
        ]
        for name in _CHANGE_KINDS:
            if len(self._found.samples.get(name, ())) < SAMPLED:
                firsts = (
                    select(
                        joined.c.kind,
                        cast(null(), BigInteger),
                        joined.c.employee_code,
                        joined.c.at,
                    )
                    .where(joined.c.kind == name)
                    .order_by(joined.c.at)
                    .limit(SAMPLED)
                )
                parts.append(select(firsts.subquery()))
        found = self._conn.execute(union_all(*parts).add_cte(added)).all()
        counts = EmployeeCounts()
        totals = {kind: total for kind, total, _, _ in found if total is not None}
        for name in _CHANGE_KINDS:
            if total := totals.get(name, 0):
                placed = sorted(
                    (at, code) for kind, n, code, at in found if kind == name and n is None
                )
                counts.note_first(name, total, [code for _, code in placed])
        if totals["written"] < sum(totals.get(k, 0) for k in _WRITTEN_KINDS):
            self._conn.execute(
                update(employee)
                .where(
                    employee.c.payroll_database == database,
                    employee.c.code_key == _READ.c.code_key,
                    _differs(),
                )
                .values(self._payroll_values())
            )
        moved = [at for kind, _, _, at in found if kind == "moved"]
        return counts, int(totals.get("unmatched", 0)), moved

    def _payroll_values(self) -> dict[str, Any]:
        """An UPDATE's new values from the staged row: payroll's, and ESS's marks of a sync."""
        staged = {c: _READ.c[c] for c in (*PAYROLL_OWNED, "payroll_employee_id")}
        return staged | {"in_payroll": True, "synced_at": self._now}

    def _not_staged(self, after: int | None, upto: int | None) -> list[tuple[int, str, int]]:
        """(ESS id, code key, payroll id) of ESS's in-payroll employees of this payroll with
        a payroll id in (after, upto] whose code the staged block does not hold: one index
        range, beside the block. Each block's range follows the one before, so every
        employee ESS holds is looked at once."""
        query = select(employee.c.id, employee.c.code_key, employee.c.payroll_employee_id).where(
            employee.c.payroll_database == self._database,
            employee.c.in_payroll,
            ~exists().where(_READ.c.code_key == employee.c.code_key),
        )
        return [(i, k, p) for i, k, p in self._conn.execute(_in_id_range(query, after, upto))]

    def _not_read(self) -> list[tuple[int, str, int]]:
        """Of the employees no block held where their payroll id fell, those no block held
        by code either (else payroll gave them another id): a block holds each code at
        most once, and one held where its ESS payroll id did not fall was noted as moved."""
        return [u for u in self._unstaged if u[0] not in self._moved]


def _differs(held: Any = employee) -> Any:
    """SQL: ESS's employee (in `held`, the table or a subquery of it) must take the staged
    row: a payroll-owned value differs, or ESS marked it no longer in payroll."""
    owned = (held.c[c].is_distinct_from(_READ.c[c]) for c in PAYROLL_OWNED)
    return or_(held.c.in_payroll == false(), *owned)


def mark_removed(conn: Connection, gone: Sequence[tuple[int, str]]) -> None:
    """Mark employees (ESS id, code key) no longer in payroll."""
    if gone:
        conn.execute(
            update(employee).where(employee.c.id == bindparam("ess_id")).values(in_payroll=False),
            [{"ess_id": i} for i, _ in gone],
        )


def analyze_first_import(conn: Connection) -> None:
    """Refresh the planner's statistics after a first import, for the queries that follow."""
    # The table went from nothing to everyone inside this transaction, where autovacuum
    # cannot see it. Later syncs change a few rows; autovacuum analyzes once a tenth changed.
    analyze(conn, employee, PLANNED_COLUMNS)


def _has_manager(of: Any) -> Any:
    """SQL: the employee `of` (a table or alias of employee) names an in-payroll manager."""
    return exists().where(manages(employee.alias("manager"), of))


def missing_managers(conn: Connection, database: str, scope: ManagerScope) -> list[Issue]:
    """A warning for each employee in scope whose manager is not an employee of this payroll.

    ESS finds an employee's manager by code when it reads them (ess/store/reads.py), so
    nothing is written here.
    """
    where: list[Any] = [employee.c.payroll_database == database, employee.c.in_payroll]
    if scope.everyone:
        return _managers_missing(conn, where)
    issues: list[Issue] = []
    read, touched = sorted(scope.read), sorted(scope.joined_or_left)
    for part in one_of(conn, employee.c.code_key, read):
        issues += _managers_missing(conn, [*where, part])
    for part in one_of(conn, employee.c.manager_code, touched):
        issues += _managers_missing(conn, [*where, part])
    unique = {(i.payroll_employee_id, i.field): i for i in issues}
    return sorted(unique.values(), key=lambda i: i.payroll_employee_id or 0)


def _managers_missing(conn: Connection, where: list[Any]) -> list[Issue]:
    missing = conn.execute(
        select(employee.c.employee_code, employee.c.payroll_employee_id, employee.c.manager_code)
        .where(*where, employee.c.manager_code.is_not(None), ~_has_manager(employee))
        .order_by(employee.c.payroll_employee_id)
    ).all()
    return [
        Issue(
            code,
            payroll_id,
            "manager_code",
            manager_code,
            "names no employee of this payroll; imported without a manager",
            False,
        )
        for code, payroll_id, manager_code in missing
    ]


def record_issues(
    conn: Connection,
    database: str,
    job_id: int | None,
    issues: Sequence[Issue],
    read_ids: frozenset[int] | None,
) -> None:
    """Replace the issues of every employee this sync read (None: everyone) with `issues`."""
    of_database = employee_issue.c.payroll_database == database
    if read_ids is None:
        conn.execute(delete(employee_issue).where(of_database))
    else:
        read = sorted(read_ids | {i.payroll_employee_id or 0 for i in issues})
        for listed in one_of(conn, employee_issue.c.payroll_employee_id, read):
            conn.execute(delete(employee_issue).where(of_database, listed))
        # A manager added by this sync resolves employees it did not read.
        resolved = exists().where(
            employee.c.payroll_database == database,
            employee.c.payroll_employee_id == employee_issue.c.payroll_employee_id,
            _has_manager(employee),
        )
        conn.execute(
            delete(employee_issue).where(
                of_database, employee_issue.c.field == "manager_code", resolved
            )
        )
    if not issues:
        return
    now = datetime.now(UTC)
    unique = {(i.payroll_employee_id, i.field): i for i in issues}
    conn.execute(
        insert(employee_issue),
        [
            {
                "payroll_database": database,
                "employee_code": i.employee_code[:100],
                "payroll_employee_id": i.payroll_employee_id,
                "field": i.field,
                "value": None if i.value is None else i.value[:100],
                "reason": i.reason,
                "rejected": i.rejected,
                "job_id": job_id,
                "first_seen_at": now,
                "last_seen_at": now,
            }
            for i in unique.values()
        ],
    )

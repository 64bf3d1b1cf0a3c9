"""The "Importing employees." step: payroll's changed employees into ESS, in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing
from contextvars import copy_context
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Connection

from core import messages, plans
from core.employee_changes import (
    EmployeesResult,
    HeldEmployee,
    ManagerScope,
    payroll_time,
    plan_chunk,
    screen_chunk,
)
from core.employee_rows import PreparedRows, prepare_rows
from core.employees import (
    NO_LOOKUPS,
    PAYROLL_COLUMNS,
    EmployeeCounts,
    Issue,
    LookupCodes,
    duplicate_codes,
)
from core.feed import FeedReading, IdSet, ReadChanges, ranges_text
from core.plans import FULL_READ_FROM, FULL_READ_FROM_IN_SERVER, reads_everyone, worth_counting
from core.queries import (
    SELECT_DUPLICATE_CODES,
    SELECT_FEED_END,
    SELECT_FEED_START,
    reads_by_id,
    select_all,
    select_change_runs_since,
    select_change_span_since,
    select_changed_since,
    select_duplicates_of_changed,
    select_feed_holds,
    select_feed_outline,
)
from ess.database import ess_engine
from ess.store import employees as store
from ess.store.employees import IN_BATCH
from ess.store.reconciliations import reconciled_payroll_ids
from jobs.context import cancel_hook, cancellable, current_job
from jobs.lease import hold_database
from jobs.retries import STEP_OPTIONS
from payroll.connect import load_payroll
from payroll.source import PayrollReader

# Payroll's clock is not ours and a change can commit after a later one is stamped:
# re-read this much of the feed before the watermark. Re-reading changes nothing.
FEED_OVERLAP = timedelta(minutes=15)
CHUNK = 2_000  # employees a read: a chunk's rows stay in the CPU's cache as they are prepared
FEED_READ_HERE = 10_000
"""Changes a sync reads from the feed before asking payroll's server to weigh the rest: a
pay review's 200,000 took 0.4-0.6 s to bring here and count (bench/README.md)."""
OUTLINE_RUNS = 100
"""Runs of change ids read before that the server's weighing names in its query, at most."""

_T = TypeVar("_T")

_Chunks = Generator[tuple[list[tuple[Any, ...]], Mapping[str, int | None]], None, None]
"""Payroll rows a chunk at a time, each with payroll's declared widths of the columns."""


@task(
    name="import-employees",
    task_run_name="importing employees",
    cache_policy=NO_CACHE,
    **STEP_OPTIONS,
)
def import_employees(
    database: str,
    job_id: int | None = None,
    full: bool = False,
    preview: bool = False,
    repair: int | None = None,
) -> EmployeesResult:
    """Bring payroll's changed employees (or all, with full) into ESS.

    `repair`: a reconciliation's id; only the employees it found different are read, by
    payroll id as a sync of changes reads the feed's, and the watermark stays where it is.

    Every write of the step and the new watermark commit together; a preview runs the same
    code and rolls back. Safe to retry: re-reading a change changes nothing.
    """
    block = load_payroll(database)
    engine = ess_engine()
    with (
        block.reader() as reader,
        engine.connect() as conn,
        cancellable(cancel_hook(conn.connection.driver_connection)),
    ):
        transaction = conn.begin()
        try:
            result = _import(reader, conn, database, job_id, full, repair)
        except BaseException:
            transaction.rollback()
            raise
        if preview:
            transaction.rollback()
        else:
            # The step's writes and the watermark count only while the job holds its
            # database: proved here, in the same transaction, or all of it rolls back.
            try:
                hold_database(conn)
            except BaseException:
                transaction.rollback()
                raise
            transaction.commit()
    return result


def _import(
    reader: PayrollReader,
    conn: Connection,
    database: str,
    job_id: int | None,
    full: bool,
    repair: int | None = None,
) -> EmployeesResult:
    """Read payroll a chunk at a time, compare it with ESS (in Python, or by ESS's server for
    a read of everyone on PostgreSQL), write what differs."""
    # A first import finds ESS empty: nothing to compare, every row is an insert.
    ess_empty = not store.has_employees(conn, database)
    # A read of everyone is compared by ESS's server where it can (PostgreSQL).
    in_server = store.compares_in_server(conn)
    mark, feed_read = store.watermark(conn, database)
    if repair is not None:
        source = _repairing(reader, reconciled_payroll_ids(conn, repair), mark, feed_read)
    else:
        in_ess = (lambda upto: 0) if ess_empty else partial(store.count_employees, conn, database)
        already = ReadChanges(feed_read)
        share = FULL_READ_FROM_IN_SERVER if in_server else FULL_READ_FROM
        source = _what_to_read(reader, mark, full, ess_empty, database, in_ess, already, share)
    found = _Compared(EmployeeCounts(), [], ManagerScope(source.everyone), set())
    # Closed here, while payroll's connection is open, even when a chunk fails: left to the
    # garbage collector, the reading would close its cursor on a connection long gone.
    with closing(source.chunks), _Duplicates(reader, source) as duplicates:
        # Payroll's duplicate codes are asked for first (the longest query of a sync of
        # changes); ESS's lookup codes are read meanwhile, and only for a step that reads
        # someone: a sync the feed names no one in prepares no row.
        lookups = store.lookup_codes(conn, database) if source.reads_someone else NO_LOOKUPS
        if source.everyone and not ess_empty and in_server:
            read = _compare_in_server(conn, database, source, lookups, duplicates, found)
        else:
            read = _compare_in_python(conn, database, source, lookups, duplicates, ess_empty, found)
    counts, issues, scope, processed = found.counts, found.issues, found.scope, found.processed
    if ess_empty and counts.added > IN_BATCH:
        store.analyze_first_import(conn)
    issues += store.missing_managers(conn, database, scope)
    read_ids = None if source.everyone else frozenset(processed)
    store.record_issues(conn, database, job_id, issues, read_ids)
    store.set_watermark(conn, database, source.watermark, source.feed_read)
    return EmployeesResult(
        counts,
        tuple(issues),
        "full" if source.everyone else "changes",
        read,
        source.watermark,
        read_ids or frozenset(),
        source.full_read_reason,
        source.full_read_warns,
    )


def _prepared_chunks(
    source: _Reading, lookups: LookupCodes, ids: set[int] | IdSet | None
) -> Iterator[tuple[list[tuple[Any, ...]], PreparedRows]]:
    """Each chunk the step reads, with prepare_rows of it; its payroll ids added to `ids`
    (None: not kept). A job cancelled or past its time stops it between chunks."""
    job = current_job()
    for chunk, widths in source.chunks:
        if job is not None:
            job.check()
        if ids is not None:
            ids.update(int(r[0]) for r in chunk)
        yield chunk, prepare_rows(chunk, lookups, widths)


_Prepared = tuple[list[tuple[Any, ...]], PreparedRows, int, Mapping[str, HeldEmployee]]
"""A chunk read, prepare_rows of it, its last payroll id, and what ESS holds for it."""


@dataclass(frozen=True)
class _Compared:
    """What comparing payroll's chunks with ESS found, across the chunks."""

    counts: EmployeeCounts
    issues: list[Issue]
    scope: ManagerScope
    """Whose manager warnings to look for again."""
    processed: set[int]
    """Payroll ids a sync of changes read (a read of everyone keeps none)."""


class _Duplicates:
    """Payroll's duplicated codes (_duplicate_codes), read beside the step's first chunks.

    The query scans every payroll employee (payroll has no index on codes): 0.1-0.2 s at
    200,000, on the critical path of every read of everyone and every sync of changes when
    asked for at the first chunk. It runs instead on a connection of its own, in a thread,
    from the moment the step knows it reads someone, while the step reads and prepares its
    first chunks (up to WAITING_CHUNKS of them wait for it); called, it gives the codes.
    """

    WAITING_CHUNKS = 8
    """Prepared chunks held while the query runs (2,000 employees each), at most."""

    def __init__(self, reader: PayrollReader, source: _Reading) -> None:
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="ess-duplicates")
        read = partial(self._read, reader, source.feed_since, source.feed_runs)
        # A sync that reads nobody (the feed names no one) asks for nothing: no query.
        started = source.reads_someone
        self._codes = self._thread.submit(copy_context().run, read) if started else None

    @staticmethod
    def _read(
        reader: PayrollReader, feed_since: datetime | None, feed_runs: Sequence[tuple[int, int]]
    ) -> dict[str, list[int]]:
        with reader.beside() as other:
            return _duplicate_codes(other, feed_since, feed_runs)

    def ready(self) -> bool:
        """Whether the codes are read (or their read failed, or was never started)."""
        return self._codes is None or self._codes.done()

    def __call__(self) -> dict[str, list[int]]:
        if self._codes is None:
            return {}  # nobody read: no code to check
        return self._codes.result()

    def in_turn(self, prepared: Iterable[_T]) -> Iterator[_T]:
        """The chunks `prepared` gives, each as it comes once the codes are read; until then
        up to WAITING_CHUNKS of them, read and prepared, wait for the codes."""
        waiting: list[_T] = []
        for chunk in prepared:
            waiting.append(chunk)
            if self.ready() or len(waiting) >= self.WAITING_CHUNKS:
                yield from waiting
                waiting.clear()
        yield from waiting

    def __enter__(self) -> _Duplicates:
        return self

    def __exit__(self, *exc: Any) -> None:
        # A step that failed meanwhile waits for the query's end: its connection closes here.
        self._thread.shutdown(wait=True)


def _compare_in_python(
    conn: Connection,
    database: str,
    source: _Reading,
    lookups: LookupCodes,
    duplicates: _Duplicates,
    ess_empty: bool,
    found: _Compared,
) -> int:
    """Plan each chunk against what ESS holds for it (plan_chunk) and write the plan; the
    number of payroll rows read. The employees gone from payroll are marked too."""
    counts, scope, processed = found.counts, found.scope, found.processed
    # ESS ids of employees updated: their rows may be written only once the chunks are done.
    matched: set[int] = set()
    # Employees a chunk did not hold where their payroll id fell, and those a chunk held by
    # code under another id: gone from payroll are the first less the second.
    unseen: list[tuple[int, str]] = []
    moved: set[int] = set()
    read, high = 0, None
    updates = store.update_writer(conn)

    def prepared() -> Iterator[_Prepared]:
        nonlocal read
        after = None
        ids = None if source.everyone else processed
        for chunk, rows in _prepared_chunks(source, lookups, ids):
            read += len(chunk)
            upto = int(chunk[-1][0])
            # What ESS holds for the chunk is asked here, while the duplicate codes may still
            # be read: a sync of changes' one chunk no longer asks only once they are. The
            # chunks before it may not be written yet, and what they write changes nothing
            # here: an insert holds a payroll id in its own chunk's range and a code no other
            # employee read holds (else both are rejected as duplicates); an employee they
            # update is left out below (`matched`), as it is when they were written first.
            span = (after, upto) if source.everyone else None
            held = {} if ess_empty else store.held_for_chunk(conn, database, rows.keys, span)
            yield chunk, rows, upto, held
            after = upto

    with ExitStack() as writing:
        # Nothing to compare with: no query runs between the inserts, so one COPY takes
        # every chunk while the next is read and prepared (ess/store/bulk.py).
        writer = writing.enter_context(store.first_import_writer(conn)) if ess_empty else None
        for chunk, rows, upto, held in duplicates.in_turn(prepared()):
            if matched:
                # An employee updated by an earlier chunk (found by code: payroll gave it
                # another id) is still read with its old id until the updates are written:
                # it is in payroll, never "gone" from this chunk's range.
                held = {k: h for k, h in held.items() if h.ess_id not in matched}
            plan = plan_chunk(chunk, rows, held, duplicates, high, ranged=source.everyone)
            store.write_plan(conn, database, plan, writer, updates)
            matched.update(ess_id for ess_id, _ in plan.updates)
            unseen += plan.removed
            moved.update(plan.moved)
            counts.merge(plan.counts)
            found.issues.extend(plan.issues)
            scope.note(plan)
            high = upto
    updates.finish()
    gone = [] if ess_empty else [*unseen, *_gone(conn, database, source, high, processed)]
    gone = [g for g in gone if g[0] not in moved]
    store.mark_removed(conn, gone)
    counts.removed += len(gone)
    scope.joined([k for _, k in gone])
    return read


def _compare_in_server(
    conn: Connection,
    database: str,
    source: _Reading,
    lookups: LookupCodes,
    duplicates: _Duplicates,
    found: _Compared,
) -> int:
    """Everyone read into an ESS that holds employees, compared by ESS's server
    (store.ServerComparison); the number of payroll rows read."""
    counts = found.counts
    read_ids = IdSet()  # payroll gives everyone in id order: 8 bytes an id
    rejected: set[str] = set()
    read = 0

    # Every code is checked: a full read replaces every employee's issues.
    with store.ServerComparison(conn, database) as comparison:
        for chunk, rows in duplicates.in_turn(_prepared_chunks(source, lookups, read_ids)):
            read += len(chunk)
            issues, screened, _ = screen_chunk(chunk, rows, duplicates())
            found.issues.extend(issues)
            counts.merge(screened)
            rejected.update(rows.rejected_keys)
            comparison.stage(rows)
        changed, gone = comparison.apply(read_ids, rejected)
    counts.merge(changed)
    counts.removed += len(gone)
    return read


@dataclass(frozen=True)
class _Reading:
    """What a step reads from payroll: everyone, or the employees in the change feed."""

    everyone: bool
    feed_since: datetime | None
    """Where a sync of changes reads the feed from; None when it reads everyone."""
    changed_ids: frozenset[int]
    watermark: datetime | None
    """Where the feed will have been read to once the step commits."""
    chunks: _Chunks
    feed_read: str | None = None
    """The change ids within the overlap before `watermark` this step reads (core/feed.py)."""
    full_read_reason: str | None = None
    """Why a sync of changes reads everyone: the feed cannot say what changed, or it names
    so many employees that reading everyone is cheaper (not a warning: `full_read_warns`)."""
    full_read_warns: bool = True
    feed_runs: tuple[tuple[int, int], ...] = ()
    """A sync of changes: the ids of the feed's changes it read from `feed_since`, as
    (first, last) runs, when there are at most OUTLINE_RUNS of them (else none)."""

    @property
    def reads_someone(self) -> bool:
        """Whether the step reads any employee (a sync the feed names no one reads none)."""
        return self.everyone or bool(self.changed_ids)


def _what_to_read(
    reader: PayrollReader,
    watermark: datetime | None,
    full: bool,
    ess_empty: bool,
    database: str,
    count_held: Callable[[int], int] = lambda upto: 0,
    read: ReadChanges | None = None,
    full_read_from: float = FULL_READ_FROM,
) -> _Reading:
    """Everyone on a first or full sync, else the feed since the watermark (less an overlap).

    A sync of changes reads the employees of the feed's changes the last sync did not read
    (`read`: the ones it read within the overlap). It reads everyone too when the feed no
    longer reaches back to the watermark (it lost changes), when ESS holds employees but no
    watermark, or when the feed names so many of the employees ESS holds (`count_held`,
    counted only when the feed names someone, and only as far as the choice needs) that
    reading everyone is faster: `full_read_from` of them or more.
    """
    reason = None
    if watermark is not None and not full:
        since = watermark - FEED_OVERLAP
        # Only a change kept from `since` or before proves nothing after it was dropped: a
        # feed that starts later (truncated by an upgrade, pruned, or empty) may have lost some.
        if _feed_holds(reader, since):
            return _read_changes(reader, since, watermark, count_held, read, full_read_from)
        reason = messages.feed_gap(watermark, _feed_start(reader))
    elif watermark is None and not full and not ess_empty:
        reason = messages.no_watermark(database)
    # The feed is read before everyone is: each change in it is in the employees read.
    last = _feed_end(reader)
    kept = None if last is None else _changes_from(reader, last - FEED_OVERLAP)
    chunks = _all_employees(reader)
    return _Reading(True, None, frozenset(), last or watermark, chunks, kept, reason)


def _read_changes(
    reader: PayrollReader,
    since: datetime,
    watermark: datetime,
    count_held: Callable[[int], int],
    read: ReadChanges | None,
    full_read_from: float,
) -> _Reading:
    """A sync of changes: the employees of the feed's changes since `since` not read before,
    or everyone when they are `full_read_from` of ESS's or more.

    A feed of more than FEED_READ_HERE changes (a pay review's: one for every employee) is
    first weighed by payroll's server: how many employees it names and where it ends. When
    that is most of ESS's employees, everyone is read and the feed's changes never come
    here; otherwise they are read as any feed's are.
    """
    feed = FeedReading(read, watermark)
    weighed = False
    if not _read_feed(reader, since, feed, FEED_READ_HERE):
        outline = _feed_outline(reader, since, read, watermark)
        if outline is not None:
            named, last = outline
            end = max(last, watermark) if last else watermark
            everyone = _everyone_if_most(reader, named, end, count_held, full_read_from)
            if everyone is not None:
                return everyone
            weighed = True  # the count the feed read below gives: not most of ESS's
        feed = FeedReading(read, watermark)
        _read_feed(reader, since, feed)
    changed_ids = feed.unread
    end = max(feed.end, watermark) if feed.end else watermark
    if not weighed:
        everyone = _everyone_if_most(reader, len(changed_ids), end, count_held, full_read_from)
        if everyone is not None:
            return everyone
    chunks = _employees_by_id(reader, sorted(changed_ids))
    kept = feed.read_from(end, FEED_OVERLAP)
    runs = feed.change_runs() if changed_ids else []
    feed_runs = tuple(runs) if len(runs) <= OUTLINE_RUNS else ()
    return _Reading(False, since, frozenset(changed_ids), end, chunks, kept, feed_runs=feed_runs)


def _everyone_if_most(
    reader: PayrollReader,
    named: int,
    end: datetime,
    count_held: Callable[[int], int],
    full_read_from: float,
) -> _Reading | None:
    """Everyone, when a feed naming `named` employees and ending at `end` names so many of
    ESS's that reading everyone is faster; else None."""
    # ESS's employees are counted only for a feed that names someone: a sync that finds no
    # change (the common one) pays for no count.
    held = count_held(worth_counting(named, full_read_from)) if named else 0
    if not reads_everyone(named, held, full_read_from, plans.SMALL_PAYROLL):
        return None
    # Everyone read is every change read: the watermark moves as far as the feed's.
    reason = messages.feed_names_most(named, held)
    kept = _changes_from(reader, end - FEED_OVERLAP)
    return _Reading(True, None, frozenset(), end, _all_employees(reader), kept, reason, False)


def _repairing(
    reader: PayrollReader, ids: list[int], watermark: datetime | None, feed_read: str | None
) -> _Reading:
    """The employees a reconciliation found different, read by id like the feed's; one
    gone from payroll is marked removed, and the feed's watermark does not move."""
    chunks = _employees_by_id(reader, ids)
    return _Reading(False, None, frozenset(ids), watermark, chunks, feed_read)


def _gone(
    conn: Connection, database: str, source: _Reading, high: int | None, processed: set[int]
) -> list[tuple[int, str]]:
    """(ESS id, code key) of employees gone from payroll the chunks did not find already."""
    if source.everyone:
        # Employees after the last payroll row.
        after = store.held_in_range(conn, database, high, None).values()
        return [(h.ess_id, h.code_key) for h in after if h.in_payroll]
    # In the feed, but no longer in payroll.
    missing = sorted(source.changed_ids - processed)
    return store.in_payroll_by_payroll_id(conn, database, missing)


def _feed_holds(reader: PayrollReader, since: datetime) -> bool:
    """Whether payroll's change feed keeps a change from `since` or before."""
    [(holds,)] = reader.all(select_feed_holds(reader.paramstyle), [since.replace(tzinfo=None)])
    return bool(holds)


def _feed_start(reader: PayrollReader) -> datetime | None:
    [(start,)] = reader.all(SELECT_FEED_START)
    return payroll_time(start)


def _feed_end(reader: PayrollReader) -> datetime | None:
    [(end,)] = reader.all(SELECT_FEED_END)
    return payroll_time(end)


def _read_feed(
    reader: PayrollReader, since: datetime, feed: FeedReading, most: int | None = None
) -> bool:
    """Payroll's change feed since `since`, a chunk at a time, into `feed`; False, read no
    further, when it holds more than `most` changes."""
    sql = select_changed_since(reader.paramstyle)
    rows = 0
    with closing(reader.chunks(sql, [since.replace(tzinfo=None)])) as chunks:
        for chunk in chunks:
            rows += len(chunk)
            if most is not None and rows > most:
                return False
            feed.add_rows(chunk, payroll_time)
    return True


def _feed_outline(
    reader: PayrollReader, since: datetime, read: ReadChanges | None, read_to: datetime
) -> tuple[int, datetime | None] | None:
    """How many employees the feed's changes since `since` name, less the changes `read` up
    to `read_to` (as FeedReading counts them), and the feed's last time: counted by payroll's
    server. None when the read changes are too scattered to name in one query."""
    runs = read.ranges if read else []
    if len(runs) > OUTLINE_RUNS:
        return None
    params: list[Any] = []
    if runs:
        params = [read_to.replace(tzinfo=None), *(i for run in runs for i in run)]
    params.append(since.replace(tzinfo=None))
    [(named, last)] = reader.all(select_feed_outline(reader.paramstyle, len(runs)), params)
    return int(named or 0), payroll_time(last)


def _changes_from(reader: PayrollReader, start: datetime) -> str | None:
    """as_ranges of the feed's change ids from `start` (None: none), found by payroll's
    server: after a pay review they are 200,000, in one run.

    Counted first: ids that fill the span from their first to their last are that one run
    (payroll numbers its changes as it appends them, so a stretch of its feed almost always
    is). Only a feed with gaps in it is asked for its runs, a query that numbers every row:
    105 ms against 25 ms for the count, in psql, after a pay review of 200,000.
    """
    at = [start.replace(tzinfo=None)]
    [(first, last, count)] = reader.all(select_change_span_since(reader.paramstyle), at)
    if not count:
        return None
    if int(last) - int(first) + 1 == int(count):
        return ranges_text([(int(first), int(last))])
    runs = reader.all(select_change_runs_since(reader.paramstyle), at)
    return ranges_text((int(first), int(last)) for first, last in runs) or None


def _duplicate_codes(
    reader: PayrollReader, feed_since: datetime | None, feed_runs: Sequence[tuple[int, int]] = ()
) -> dict[str, list[int]]:
    """Payroll's duplicated codes: of the feed's employees since `feed_since` (of its
    changes in `feed_runs`, when given: the ones the step read), or all."""
    if feed_since is None:
        pairs = reader.all(SELECT_DUPLICATE_CODES)
    else:
        sql = select_duplicates_of_changed(reader.paramstyle, len(feed_runs))
        bounds = [i for run in feed_runs for i in run]
        pairs = reader.all(sql, [feed_since.replace(tzinfo=None), *bounds])
    return duplicate_codes(pairs)


def _all_employees(reader: PayrollReader) -> _Chunks:
    sql = select_all("employee", PAYROLL_COLUMNS, order_by=("employee_id",))
    for chunk in reader.chunks(sql, size=CHUNK):
        yield chunk, reader.widths_of(sql)


def _employees_by_id(reader: PayrollReader, ids: list[int]) -> _Chunks:
    """The sorted ids' employees: dense runs read as key ranges, the rest by IN lists."""
    style = reader.paramstyle
    for sql, params, ranged in reads_by_id(
        "employee", PAYROLL_COLUMNS, "employee_id", ids, style, IN_BATCH
    ):
        if ranged:
            for chunk in reader.chunks(sql, params, size=CHUNK):
                yield chunk, reader.widths_of(sql)
        elif rows := reader.all(sql, params):
            yield rows, reader.widths_of(sql)

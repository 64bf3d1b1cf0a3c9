"""Sync jobs in ESS: one running job per payroll database, held by a lease the job renews.

Only ESS reads and writes here (no Prefect): the page and the CLI use it as they are.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from core import messages
from ess import database as ess_database
from ess.database import ess_engine, job_session_name
from ess.schema import payroll_database, sync_job
from ess.settings import settings
from ess.store.clock import db_now, job_lease, last_beat
from ess.store.log import WARNING, insert_log

RUNNING, COMPLETED, FAILED = "running", "completed", "failed"
TIMED_OUT, ABANDONED, CANCELLED = "timed_out", "abandoned", "cancelled"


@dataclass(frozen=True)
class Job:
    """A job that holds its payroll database."""

    id: int
    payroll_database: str
    kind: str
    started_at: datetime
    flow_run_id: str | None
    notes: tuple[tuple[str, str], ...] = ()
    """(level, message) of the rows written as the job took the database (for Prefect's log)."""


class JobAlreadyRunning(Exception):
    """Another job holds the payroll database."""

    def __init__(self, running: Job) -> None:
        self.running = running
        super().__init__(
            messages.job_not_started(
                running.payroll_database, running.started_at, running.flow_run_id or str(running.id)
            )
        )


def _now() -> datetime:
    return datetime.now(UTC)


class LostLease(Exception):
    """Another job took the database from this one: nothing more of it may be written."""

    def __init__(self, database: str, taken_at: datetime | None) -> None:
        self.database = database
        self.taken_at = taken_at
        super().__init__(messages.job_lost_lease(database, taken_at))


class EssBusy(Exception):
    """ESS on SQLite stayed locked by another job's write for longer than a job waits."""

    def __init__(self) -> None:
        super().__init__(messages.ess_busy(ess_database.SQLITE_BUSY_SECONDS))


def take_job(
    database: str,
    kind: str,
    *,
    flow_run_id: str | None = None,
    lease_seconds: int | None = None,
) -> Job:
    """Take the database for a new job and log `Job Started.`; JobAlreadyRunning if held,
    EssBusy if ESS (SQLite) stays locked by another job's write past its busy timeout.

    The unique index on running jobs makes this atomic on SQLite and PostgreSQL alike.
    A running job whose heartbeat is older than the lease (by ESS's clock) is declared
    abandoned first.
    """
    lease_seconds = lease_seconds or settings().job_lease_seconds
    # Answered from a read first: on SQLite a long write step holds the one write lock, and
    # a second request must not wait for it to be told the database is busy.
    running = live_job(database)
    if running is not None:
        raise JobAlreadyRunning(running)
    for _ in range(_TAKE_ATTEMPTS):
        try:
            return _take(database, kind, flow_run_id, lease_seconds)
        except OperationalError as exc:
            # SQLite: another job's step (of another payroll database) writes for longer
            # than the busy timeout. Said plainly, not as the driver's traceback.
            if "database is locked" in str(exc.orig):
                raise EssBusy() from None
            raise
        except IntegrityError:
            running = running_job(database)
            if running is not None:
                raise JobAlreadyRunning(running) from None
            # The holder finished between our insert and this read: try again.
    raise RuntimeError(
        f"Could not take {database} after {_TAKE_ATTEMPTS} attempts: jobs kept starting "
        "and ending around this one. Try again."
    )


_TAKE_ATTEMPTS = 5


def _take(database: str, kind: str, flow_run_id: str | None, lease_seconds: int) -> Job:
    now = _now()
    started_by = f"{socket.gethostname()} pid {os.getpid()}"
    with ess_engine().begin() as conn:
        beat = last_beat(conn.dialect.name)
        # The write comes first so SQLite takes its write lock before anything is read.
        stale_ids = (
            conn.execute(
                update(sync_job)
                .where(
                    sync_job.c.payroll_database == database,
                    sync_job.c.status == RUNNING,
                    beat < db_now(-lease_seconds),
                )
                .values(status=ABANDONED, finished_at=db_now())
                .returning(sync_job.c.id)
            )
            .scalars()
            .all()
        )
        stale = (
            conn.execute(select(sync_job.c.id, beat).where(sync_job.c.id.in_(stale_ids))).all()
            if stale_ids
            else []
        )
        notes: list[tuple[str, str]] = []
        for stale_id, heartbeat_at in stale:
            abandoned = [("error", messages.job_abandoned(heartbeat_at))]
            ended = _end_sessions(conn, stale_id)
            if ended is not None:
                abandoned.append(ended)
            for level, message in abandoned:
                insert_log(conn, database, message, job_id=stale_id, level=level)
            notes += abandoned
        job_id = conn.execute(
            insert(sync_job)
            .values(
                payroll_database=database,
                kind=kind,
                status=RUNNING,
                started_at=now,
                heartbeat_at=db_now(),
                flow_run_id=flow_run_id,
                started_by=started_by,
            )
            .returning(sync_job.c.id)
        ).scalar_one()
        insert_log(conn, database, messages.JOB_STARTED, job_id=job_id)
    return Job(job_id, database, kind, now, flow_run_id, (*notes, ("info", messages.JOB_STARTED)))


def _end_sessions(conn: Connection, job_id: int) -> tuple[str, str] | None:
    """End the ESS sessions an abandoned job left open; the (level, row) to log, if any.

    A job frozen in the middle of a statement (SIGSTOP, a hung VM: its COPY half sent, a
    read's rows half taken) keeps its transaction and its row locks, and its session is
    busy, not idle, so PostgreSQL's idle-in-transaction timeout never ends it: the job that
    took its database would wait on it. Ended, its transaction rolls back, as the fence
    would have made it anyway (it may no longer commit). Called inside the take, once the
    job's row is ours: a job judged stale is not ended while it beats again. PostgreSQL
    only: SQLite has no sessions to end, and SQL Server's KILL needs a permission ESS's
    login should not have.
    """
    if conn.dialect.name != "postgresql":
        return None
    try:
        with conn.begin_nested():  # a refusal must not undo the take around it
            ended = conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                    "FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = :name AND pid <> pg_backend_pid()"
                ),
                {"name": job_session_name(job_id)},
            ).scalar_one()
    except DBAPIError:
        # Another role's sessions, and ESS's login lacks pg_signal_backend: the job that
        # took the database waits on them, as it would have without this.
        return "warning", messages.ABANDONED_SESSIONS_KEPT
    if not ended:
        return None
    return "warning", messages.abandoned_sessions_ended(ended)


def adopt_job(job_id: int, database: str, kind: str, flow_run_id: str | None) -> Job:
    """Take over a job a caller (the CLI) took for this flow run; ValueError if it cannot."""
    with ess_engine().begin() as conn:
        row = conn.execute(
            update(sync_job)
            .where(
                sync_job.c.id == job_id,
                sync_job.c.payroll_database == database,
                sync_job.c.kind == kind,
                sync_job.c.status == RUNNING,
            )
            .values(flow_run_id=flow_run_id, heartbeat_at=db_now())
            .returning(sync_job.c.started_at)
        ).first()
    if row is None:
        raise ValueError(f"Job {job_id} is not a running {kind} job of {database}.")
    return Job(job_id, database, kind, row.started_at, flow_run_id)


def running_job(database: str) -> Job | None:
    """The job that holds the database now, if any."""
    with ess_engine().connect() as conn:
        row = conn.execute(
            select(sync_job).where(
                sync_job.c.payroll_database == database, sync_job.c.status == RUNNING
            )
        ).first()
    if row is None:
        return None
    return Job(row.id, row.payroll_database, row.kind, row.started_at, row.flow_run_id)


def live_job(database: str) -> Job | None:
    """The job holding the database now, unless its process died (its lease ran out)."""
    running = running_job(database)
    return running if running is not None and lease_is_live(running) else None


def refused(database: str, running: Job) -> str:
    """Log that a request was not started because another job holds the database."""
    message = str(JobAlreadyRunning(running))
    with ess_engine().begin() as conn:
        insert_log(conn, database, message, level=WARNING)
    return message


def renew_lease(job: Job) -> bool:
    """Record the job's heartbeat; False if the job no longer holds the database."""
    with ess_engine().begin() as conn:
        if conn.dialect.name != "sqlite":
            result = conn.execute(
                update(sync_job)
                .where(sync_job.c.id == job.id, sync_job.c.status == RUNNING)
                .values(heartbeat_at=db_now())
            )
            return result.rowcount == 1
        # Reading sync_job needs no lock; writing the leases file takes only that file's.
        held = conn.execute(
            select(sync_job.c.id).where(sync_job.c.id == job.id, sync_job.c.status == RUNNING)
        ).first()
        if held is None:
            return False
        conn.execute(
            sqlite_insert(job_lease)
            .values(job_id=job.id, heartbeat_at=db_now())
            .on_conflict_do_update(index_elements=["job_id"], set_={"heartbeat_at": db_now()})
        )
        return True


def lease_is_live(job: Job) -> bool:
    """True while the job's heartbeat is within its lease (a dead job's is not)."""
    lease = settings().job_lease_seconds
    with ess_engine().connect() as conn:
        beat = last_beat(conn.dialect.name)
        live = conn.execute(
            select(beat >= db_now(-lease)).where(sync_job.c.id == job.id)
        ).scalar_one_or_none()
    return bool(live)


def hold(conn: Connection, job_id: int) -> None:
    """Prove, inside a step's own transaction, that the job still holds its database.

    Called just before the step commits: the row is renewed and locked by this transaction,
    so no other job can take the database until it commits; LostLease (and the caller rolls
    back) when another job took it already.
    """
    held = conn.execute(
        update(sync_job)
        .where(sync_job.c.id == job_id, sync_job.c.status == RUNNING)
        .values(heartbeat_at=db_now())
        .returning(sync_job.c.id)
    ).first()
    if held is None:
        raise _lost(conn, job_id)


def lost_at(job_id: int) -> datetime | None:
    """When another job took this job's database (None while it still holds it)."""
    with ess_engine().connect() as conn:
        return conn.execute(
            select(sync_job.c.finished_at).where(
                sync_job.c.id == job_id, sync_job.c.status == ABANDONED
            )
        ).scalar_one_or_none()


def _lost(conn: Connection, job_id: int) -> LostLease:
    row = conn.execute(
        select(sync_job.c.payroll_database, sync_job.c.finished_at).where(sync_job.c.id == job_id)
    ).one()
    return LostLease(row.payroll_database, row.finished_at)


def finish_job(
    job: Job,
    status: str,
    message: str,
    *,
    level: str = "info",
    summary: dict[str, Any] | None = None,
    last_done_column: str | None = None,
) -> None:
    """End the job, log its last row, and on success move the database's last-sync date.

    All three commit together, so the date never moves without `Job Completed.`; LostLease
    (and nothing written) when another job took the database from this one.
    """
    now = _now()
    with ess_engine().begin() as conn:
        ended = conn.execute(
            update(sync_job)
            .where(sync_job.c.id == job.id, sync_job.c.status == RUNNING)
            .values(
                status=status,
                finished_at=now,
                message=message,
                summary=json.dumps(summary or {}, default=str),
            )
        )
        if ended.rowcount != 1:
            raise _lost(conn, job.id)  # rolls back: no last row, no last-sync date
        if conn.dialect.name == "sqlite":
            conn.execute(delete(job_lease).where(job_lease.c.job_id == job.id))
        insert_log(conn, job.payroll_database, message, job_id=job.id, level=level)
        if status == COMPLETED and last_done_column is not None:
            conn.execute(
                update(payroll_database)
                .where(payroll_database.c.name == job.payroll_database)
                .values({last_done_column: now})
            )


def delete_jobs(conn: Connection, database: str) -> int:
    """Delete every job row of a database (and, on SQLite, their heartbeats); how many.

    Only for removing the database itself: its history goes with it.
    """
    ids = select(sync_job.c.id).where(sync_job.c.payroll_database == database)
    if conn.dialect.name == "sqlite":
        conn.execute(delete(job_lease).where(job_lease.c.job_id.in_(ids)))
    return conn.execute(delete(sync_job).where(sync_job.c.payroll_database == database)).rowcount

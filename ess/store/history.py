"""What the page reads from ESS: per-database status, the running job's step, the log by page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from ess.database import ess_engine
from ess.schema import sync_job, web_api_log
from ess.store.jobs import FAILED, TIMED_OUT, live_job
from ess.store.registry import list_databases
from ess.store.status import database_statuses

PER_PAGE = 50
_FAILED_STATUSES = (FAILED, TIMED_OUT)
_FAILED_PREFIXES = ("Job Failed", "Job Timed Out")


class UnknownJob(LookupError):
    """No job has that id (or not of that database)."""


def when(moment: datetime | None) -> str | None:
    """A date-time as a payroll officer reads it: this machine's local time, to the second,
    and its zone (`2026-11-30 02:00:05 AEDT`), so a reader elsewhere is not misled."""
    if moment is None:
        return None
    if moment.tzinfo is None:  # ESS stores UTC
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or local.strftime("%z"))


def database_rows() -> list[dict[str, Any]]:
    """Per registered database: last syncs, the last job's result and the running job."""
    registered = {d.name: d for d in list_databases()}
    rows = []
    for status in database_statuses():
        known = registered.get(status.database)
        if known is None:  # removed between the two reads
            continue
        # A job whose process died holds nothing once its lease is over: the next click runs.
        job = live_job(status.database)
        current = None
        if job is not None:
            current = {
                "id": job.id,
                "kind": job.kind,
                "started": when(job.started_at),
                "step": _latest_message(job.id),
                "flow_run_id": job.flow_run_id,
            }
        rows.append(
            {
                "name": status.database,
                "connection": known.connection_display,
                "last_sync_from_payroll": when(status.last_sync_from_payroll),
                "last_leave_balance_sync": when(status.last_leave_balance_sync),
                "last_reconciled": None
                if status.last_reconciled_at is None
                else f"{when(status.last_reconciled_at)}: "
                f"{status.last_reconciliation_differences} differences",
                # In its schedule's own timezone, which the text names (`ess-sync schedule`).
                "next_run": status.next_scheduled_run.strftime("%Y-%m-%d %H:%M %Z")
                if status.next_scheduled_run
                else None,
                "last_job": None
                if status.last_job_id is None
                else {
                    "id": status.last_job_id,
                    "kind": status.last_job_kind,
                    "status": status.last_job_status,
                    "finished": when(status.last_job_finished_at),
                    "message": status.last_job_message,
                    "flow_run_id": status.last_job_flow_run_id,
                },
                "running": current,
            }
        )
    return rows


def _latest_message(job_id: int) -> str | None:
    query = (
        select(web_api_log.c.message)
        .where(web_api_log.c.job_id == job_id)
        .order_by(web_api_log.c.id.desc())
        .limit(1)
    )
    with ess_engine().connect() as conn:
        return conn.execute(query).scalar_one_or_none()


def latest_job_id(database: str) -> int:
    """The newest job id of a database (0 if none): a job started later has a larger one."""
    query = select(func.max(sync_job.c.id)).where(sync_job.c.payroll_database == database)
    with ess_engine().connect() as conn:
        return conn.execute(query).scalar_one_or_none() or 0


def check_job(job_id: int, database: str | None) -> None:
    """UnknownJob unless the job exists (and belongs to the database, when one is given)."""
    query = select(sync_job.c.payroll_database).where(sync_job.c.id == job_id)
    with ess_engine().connect() as conn:
        owner = conn.execute(query).scalar_one_or_none()
    if owner is None or (database is not None and owner != database):
        of = f" of payroll database {database!r}" if database is not None else ""
        raise UnknownJob(f"No job {job_id}{of}: choose one from the job list.")


def recent_jobs(database: str | None, limit: int = 30) -> list[dict[str, Any]]:
    """The newest jobs (of one database), for the log's job filter."""
    query = select(sync_job).order_by(sync_job.c.id.desc()).limit(limit)
    if database is not None:
        query = query.where(sync_job.c.payroll_database == database)
    with ess_engine().connect() as conn:
        rows = conn.execute(query).all()
    return [
        {
            "id": r.id,
            "database": r.payroll_database,
            "kind": r.kind,
            "status": r.status,
            "started": when(r.started_at),
        }
        for r in rows
    ]


@dataclass(frozen=True)
class LogPage:
    """One page of the Web API Log, newest first."""

    rows: list[dict[str, Any]]
    page: int
    pages: int
    total: int


def log_page(database: str | None, job_id: int | None, page: int) -> LogPage:
    """Page `page` (from 1) of the log, newest first; each row says if it should stand out."""
    where = []
    if database is not None:
        where.append(web_api_log.c.payroll_database == database)
    if job_id is not None:
        where.append(web_api_log.c.job_id == job_id)
    count = select(func.count()).select_from(web_api_log).where(*where)
    query = (
        select(web_api_log, sync_job.c.status.label("job_status"))
        .outerjoin(sync_job, sync_job.c.id == web_api_log.c.job_id)
        .where(*where)
        .order_by(web_api_log.c.id.desc())
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    )
    with ess_engine().connect() as conn:
        total = conn.execute(count).scalar_one()
        rows = conn.execute(query).all()
    return LogPage(
        rows=[
            {
                "id": r.id,
                "logged": when(r.logged_at),
                "database": r.payroll_database,
                "job": r.job_id,
                "level": r.level,
                "message": r.message,
                "failed": r.job_status in _FAILED_STATUSES
                or r.level == "error"
                or r.message.startswith(_FAILED_PREFIXES),
            }
            for r in rows
        ],
        page=page,
        pages=max(1, -(-total // PER_PAGE)),
        total=total,
    )

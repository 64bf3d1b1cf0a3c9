"""The Web API Log: what support staff read. Each row is committed the moment it is written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import insert, select

from ess.database import ess_engine
from ess.schema import web_api_log

INFO, WARNING, ERROR = "info", "warning", "error"


@dataclass(frozen=True)
class LogRow:
    """One Web API Log row."""

    id: int
    logged_at: datetime
    payroll_database: str | None
    job_id: int | None
    level: str
    message: str


def write_log(
    database: str | None, message: str, *, job_id: int | None = None, level: str = INFO
) -> None:
    """Append a row and commit it, so a person who refreshes sees it."""
    with ess_engine().begin() as conn:
        if conn.dialect.name == "postgresql":
            # Seen by others at once; made durable with the next commit that waits for the
            # disk (a job's end does), rather than a disk flush for every row of the log.
            conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        conn.execute(
            insert(web_api_log).values(
                logged_at=datetime.now(UTC),
                payroll_database=database,
                job_id=job_id,
                level=level,
                message=message,
            )
        )


def read_log(
    database: str | None = None, *, job_id: int | None = None, limit: int = 100
) -> list[LogRow]:
    """The newest `limit` rows (of one database or job), returned oldest first."""
    query = select(web_api_log).order_by(web_api_log.c.id.desc()).limit(limit)
    if database is not None:
        query = query.where(web_api_log.c.payroll_database == database)
    if job_id is not None:
        query = query.where(web_api_log.c.job_id == job_id)
    with ess_engine().connect() as conn:
        rows = [LogRow(**r._asdict()) for r in conn.execute(query)]
    return rows[::-1]

"""The Web API Log: what support staff read. Each row is committed the moment it is written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ess.database import ess_engine
from ess.plain import reading, utc

if TYPE_CHECKING:
    from sqlalchemy import Connection

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
        insert_log(conn, database, message, job_id=job_id, level=level, durable=False)


def insert_log(
    conn: Connection,
    database: str | None,
    message: str,
    *,
    job_id: int | None = None,
    level: str = INFO,
    durable: bool = True,
) -> None:
    """Append a row in `conn`'s transaction: it commits, or not, with what it reports.

    `durable=False` (a transaction that writes only the log) lets PostgreSQL commit it
    without waiting for the disk: seen by others at once, made durable with the next commit
    that waits (a job's end does), rather than a disk flush for every row of the log.
    """
    # Here, not at the top: `ess-sync log` reads (ess/plain.py) and need not import them.
    from sqlalchemy import insert

    from ess.schema import web_api_log

    if not durable and conn.dialect.name == "postgresql":
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
    where: list[str] = []
    parameters: list[object] = []
    if database is not None:
        where.append("payroll_database = ?")
        parameters.append(database)
    if job_id is not None:
        where.append("job_id = ?")
        parameters.append(job_id)
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    with reading() as db:
        rows = db.rows(
            "SELECT id, logged_at, payroll_database, job_id, level, message FROM web_api_log"
            f"{condition} ORDER BY id DESC {db.first(limit)}",
            parameters,
        )
    return [
        LogRow(row_id, utc(logged_at), name, job, level, message)
        for row_id, logged_at, name, job, level, message in reversed(rows)
    ]

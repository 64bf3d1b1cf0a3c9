"""Time and heartbeats as ESS's own database keeps them.

Leases are judged by one clock, the database's, so a worker whose clock runs ahead cannot
call a live job abandoned; and on SQLite heartbeats go to a file of their own, so a job's
long write step (which holds SQLite's one write lock) never blocks its heartbeat.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Float, Integer, MetaData, Table, func, literal, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from ess.schema import UTCDateTime, sync_job


class db_now(FunctionElement[datetime]):
    """The ESS database's own clock in UTC, `seconds` from now: leases are judged by one
    clock, so a worker whose clock runs ahead cannot call a live job abandoned."""

    type = UTCDateTime()
    inherit_cache = True

    def __init__(self, seconds: float = 0) -> None:
        # A bound value, not text in the SQL: a compiled statement is cached and reused.
        super().__init__(literal(float(seconds), Float()))


@compiles(db_now, "postgresql")
def _db_now_postgresql(element: db_now, compiler: Any, **kw: Any) -> str:
    # clock_timestamp(), not now(): a long transaction's start is not the time it asks.
    seconds = compiler.process(element.clauses, **kw)
    return f"(timezone('UTC', clock_timestamp()) + make_interval(secs => {seconds}))"


@compiles(db_now, "sqlite")
def _db_now_sqlite(element: db_now, compiler: Any, **kw: Any) -> str:
    # The text format SQLAlchemy stores SQLite date-times in, to the microsecond.
    seconds = compiler.process(element.clauses, **kw)
    return f"strftime('%Y-%m-%d %H:%M:%f000', 'now', ({seconds}) || ' seconds')"


@compiles(db_now, "mssql")
def _db_now_mssql(element: db_now, compiler: Any, **kw: Any) -> str:
    seconds = compiler.process(element.clauses, **kw)
    return f"DATEADD(millisecond, CAST(({seconds}) * 1000 AS INT), SYSUTCDATETIME())"


# SQLite only: heartbeats in a file of their own, ATTACHed as `leases` by ess/database.py.
job_lease = Table(
    "job_lease",
    MetaData(schema="leases"),
    Column("job_id", Integer, primary_key=True),
    Column("heartbeat_at", UTCDateTime, nullable=False),
)


def last_beat(dialect: str) -> ColumnElement[datetime]:
    """A job's latest heartbeat: in sync_job, or on SQLite in the leases file if later."""
    if dialect != "sqlite":
        return sync_job.c.heartbeat_at
    side = (
        select(job_lease.c.heartbeat_at)
        .where(job_lease.c.job_id == sync_job.c.id)
        .scalar_subquery()
    )
    beat: ColumnElement[datetime] = func.max(
        sync_job.c.heartbeat_at, func.coalesce(side, sync_job.c.heartbeat_at)
    )
    return beat

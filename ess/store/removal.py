"""Removing a payroll database from ESS: its registration and everything synced from it
(employees, issues, lookups, leave balances, cache, jobs, Web API Log), in one transaction,
never while a job holds it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table, delete

from ess.database import ess_engine
from ess.schema import metadata, payroll_database, sync_job
from ess.store.cache import RedisCache, ess_cache_store
from ess.store.jobs import FAILED, delete_jobs, finish_job, hold, take_job
from ess.store.registry import get_database

REMOVING = "remove-database"
"""The sync_job kind that holds a database while it is being removed."""


@dataclass(frozen=True)
class Removed:
    """What removing a database deleted: rows per ESS table, and Redis cache entries."""

    database: str
    rows: dict[str, int]
    cache_entries: int = 0

    @property
    def total(self) -> int:
        """Every row and cache entry removed."""
        return sum(self.rows.values()) + self.cache_entries


def _data_tables() -> list[Table]:
    # Every ESS table that remembers its payroll database (the contract: everything that
    # came from one does), so a table added later is removed too without a change here.
    return [
        t
        for t in reversed(metadata.sorted_tables)
        if "payroll_database" in t.c and t is not sync_job
    ]


def remove_database_data(name: str) -> Removed:
    """Forget a payroll database and delete everything ESS holds from it, all or nothing.

    UnknownDatabase if it is not registered; JobAlreadyRunning (with the `Job Not Started`
    sentence) while a job holds it. The database is taken like a job first, so no sync can
    start while its rows are deleted; the deletes, the job rows and the registration then
    go in one transaction.
    """
    get_database(name)
    job = take_job(name, REMOVING)
    try:
        with ess_engine().begin() as conn:
            hold(conn, job.id)  # on SQLite, the write lock from here to the commit
            rows = {
                t.name: conn.execute(delete(t).where(t.c.payroll_database == name)).rowcount
                for t in _data_tables()
            }
            rows[sync_job.name] = delete_jobs(conn, name)
            conn.execute(delete(payroll_database).where(payroll_database.c.name == name))
    except BaseException:
        finish_job(job, FAILED, f"Removing {name} failed: nothing was removed.", level="error")
        raise
    cache = ess_cache_store()
    # The table cache went in the transaction; Redis is outside it, emptied after the commit.
    cache_entries = cache.clear(name) if isinstance(cache, RedisCache) else 0
    return Removed(name, rows, cache_entries)

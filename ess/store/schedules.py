"""Per-database schedules in ESS: what `ess-sync schedule` sets and every deploy re-applies."""

from __future__ import annotations

from datetime import UTC, datetime

from core.schedules import Schedule
from ess.database import ess_engine
from ess.plain import Reader, reading

# SQLAlchemy and the schema are imported by the functions that write: reading (ess/plain.py)
# needs neither, and `ess-sync status` reads the schedules in less time than importing them.


def save_schedule(database: str, kind: str, cron: str, timezone: str) -> Schedule:
    """Set (and switch on) when KIND runs for the database; cron and timezone already checked."""
    from sqlalchemy import update

    from ess.schema import payroll_schedule

    values = {"cron": cron, "timezone": timezone, "active": True, "updated_at": datetime.now(UTC)}
    key = (payroll_schedule.c.payroll_database == database) & (payroll_schedule.c.kind == kind)
    with ess_engine().begin() as conn:
        if conn.execute(update(payroll_schedule).where(key).values(**values)).rowcount == 0:
            conn.execute(
                payroll_schedule.insert().values(payroll_database=database, kind=kind, **values)
            )
    return Schedule(database, kind, cron, timezone, True)


def set_timezone(database: str, timezone: str) -> int:
    """Move every schedule of the database to TIMEZONE's wall clock; how many there are."""
    return _update(database, timezone=timezone)


def switch(database: str, active: bool) -> int:
    """Switch every schedule of the database on or off (each keeps its cron); how many."""
    return _update(database, active=active)


def remove_schedule(database: str, kind: str) -> bool:
    """Forget when KIND runs for the database; whether it had a schedule."""
    from sqlalchemy import delete

    from ess.schema import payroll_schedule

    with ess_engine().begin() as conn:
        removed = conn.execute(
            delete(payroll_schedule).where(
                (payroll_schedule.c.payroll_database == database)
                & (payroll_schedule.c.kind == kind)
            )
        ).rowcount
    return bool(removed)


def forget_schedules(database: str) -> int:
    """Forget every schedule of the database (for `databases remove`); how many there were."""
    from sqlalchemy import delete

    from ess.schema import payroll_schedule

    with ess_engine().begin() as conn:
        return int(
            conn.execute(
                delete(payroll_schedule).where(payroll_schedule.c.payroll_database == database)
            ).rowcount
        )


def schedules_of(database: str) -> list[Schedule]:
    """The database's schedules, by kind of job."""
    return all_schedules().get(database, [])


def all_schedules() -> dict[str, list[Schedule]]:
    """Every database's schedules, by database then kind of job."""
    with reading() as db:
        return read_schedules(db)


def read_schedules(db: Reader) -> dict[str, list[Schedule]]:
    """Every database's schedules, by database then kind of job, read on DB."""
    rows = db.rows(
        "SELECT payroll_database, kind, cron, timezone, active FROM payroll_schedule"
        " ORDER BY payroll_database, kind"
    )
    found: dict[str, list[Schedule]] = {}
    for database, kind, cron, timezone, active in rows:
        schedule = Schedule(database, kind, cron, timezone, bool(active))
        found.setdefault(database, []).append(schedule)
    return found


def _update(database: str, **values: object) -> int:
    from sqlalchemy import update

    from ess.schema import payroll_schedule

    with ess_engine().begin() as conn:
        return int(
            conn.execute(
                update(payroll_schedule)
                .where(payroll_schedule.c.payroll_database == database)
                .values(updated_at=datetime.now(UTC), **values)
            ).rowcount
        )

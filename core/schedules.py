"""Per-database schedules as ESS keeps them: checking a cron and a timezone, the next run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

DEFAULT_TIMEZONE = "Australia/Sydney"


class InvalidSchedule(ValueError):
    """A cron expression or timezone ESS cannot schedule by; the message says which and why."""


@dataclass(frozen=True)
class Schedule:
    """When one kind of job runs for one payroll database (kept in ESS's payroll_schedule)."""

    database: str
    kind: str
    cron: str
    timezone: str
    active: bool


def check_cron(cron: str) -> str:
    """The cron expression with its spaces tidied; InvalidSchedule unless it has five fields."""
    fields = cron.split()
    # Prefect's scheduler (croniter) also takes seconds and random ("R"/"H") fields that
    # cronsim, which ESS computes next runs with, does not: five plain fields suit both.
    if len(fields) != 5 or any(f.casefold() in ("r", "h") for f in fields):
        raise InvalidSchedule(
            f"{cron!r} is not a cron expression of five fields (minute hour day month "
            "weekday), e.g. '0 2 * * *' for 02:00 every day."
        )
    tidy = " ".join(fields)
    try:
        CronSim(tidy, datetime(2026, 1, 1))
    except CronSimError as exc:
        raise InvalidSchedule(f"{cron!r} is not a valid cron expression: {exc}.") from None
    return tidy


def check_timezone(name: str) -> str:
    """The IANA timezone name; InvalidSchedule if zoneinfo does not know it."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule(
            f"{name!r} is not an IANA timezone name, e.g. {DEFAULT_TIMEZONE} or UTC."
        ) from None
    return name


def next_run(cron: str, timezone: str, after: datetime) -> datetime:
    """The first time after AFTER (zone-aware) that CRON fires, read in TIMEZONE's wall clock."""
    local = after.astimezone(ZoneInfo(timezone))
    return next(CronSim(cron, local))


def next_scheduled_run(schedules: list[Schedule], after: datetime) -> datetime | None:
    """The soonest next run of the active schedules; None when none is on."""
    runs = [next_run(s.cron, s.timezone, after) for s in schedules if s.active]
    return min(runs, default=None)

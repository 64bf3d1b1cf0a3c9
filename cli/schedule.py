"""`ess-sync schedule`: when a payroll database's jobs run, kept in ESS, applied to Prefect."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from cli.common import fail, require_database

console = Console()
# What `--sync off` / `--leave off` says: forget that schedule.
OFF = "off"


def schedule(
    database: Annotated[str, typer.Argument(help="The payroll database's registered name.")],
    sync: Annotated[
        str | None,
        typer.Option(
            help="Cron for Sync from Payroll, e.g. '0 2 * * *' (02:00); 'off' forgets it."
        ),
    ] = None,
    leave: Annotated[
        str | None,
        typer.Option(help="Cron for the leave-balance sync, e.g. '0 3 * * *'; 'off' forgets it."),
    ] = None,
    reconcile: Annotated[
        str | None,
        typer.Option(
            help="Cron for the check against payroll, e.g. '0 3 * * 0' (Sundays 03:00); "
            "'off' forgets it."
        ),
    ] = None,
    timezone: Annotated[
        str | None,
        typer.Option(help="IANA timezone the crons are read in (default Australia/Sydney)."),
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Switch its schedules off (kept).")] = False,
    on: Annotated[bool, typer.Option("--on", help="Switch its schedules back on.")] = False,
) -> None:
    """Schedule a database's syncs on the Prefect server; with no option, show its schedules.

    ESS keeps the schedules, so neither `ess-sync prefect deploy` nor `prefect deploy`
    undoes them. Times are wall-clock times in the timezone (Australia/Sydney by default).
    """
    from core.schedules import DEFAULT_TIMEZONE, InvalidSchedule, check_cron, check_timezone
    from ess.store import schedules as store
    from jobs.kinds import RECONCILE, SYNC_FROM_PAYROLL, SYNC_LEAVE_BALANCES

    require_database(database)
    crons = {
        SYNC_FROM_PAYROLL.name: sync,
        SYNC_LEAVE_BALANCES.name: leave,
        RECONCILE.name: reconcile,
    }
    if off and on:
        raise fail("Give --off or --on, not both.")
    if (off or on) and any(crons.values()):
        raise fail(
            "--off and --on switch the existing schedules: "
            "give them without --sync/--leave/--reconcile."
        )
    try:
        zone = check_timezone(timezone) if timezone is not None else None
        checked = {k: c if c == OFF else check_cron(c) for k, c in crons.items() if c is not None}
    except InvalidSchedule as exc:
        raise fail(str(exc)) from None
    existing = {s.kind: s for s in store.schedules_of(database)}
    for kind, cron in checked.items():
        if cron == OFF:
            store.remove_schedule(database, kind)
        else:
            kept = existing[kind].timezone if kind in existing else DEFAULT_TIMEZONE
            store.save_schedule(database, kind, cron, zone or kept)
    if zone is not None:
        store.set_timezone(database, zone)
    if off or on:
        store.switch(database, active=on)
    changed = bool(checked) or zone is not None or off or on
    _show(database)
    if changed:
        from cli.prefect_setup import deploy_database_if_served

        deploy_database_if_served(database)


def _show(database: str) -> None:
    from datetime import UTC, datetime

    from core.schedules import next_run
    from ess.store.schedules import schedules_of

    found = schedules_of(database)
    if not found:
        console.print(f"{database} has no schedule.", markup=False)
    now = datetime.now(UTC)
    for s in found:
        when = f"next {next_run(s.cron, s.timezone, now):%Y-%m-%d %H:%M %Z}" if s.active else "off"
        console.print(f"{s.kind} of {database}: {s.cron!r} in {s.timezone}, {when}.", markup=False)

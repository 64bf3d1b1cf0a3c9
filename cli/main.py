"""`ess-sync`: the command line for payroll officers and support staff. Thin by design."""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import traceback
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from cli import render
from cli.common import fail, json_default, require_database
from cli.databases import databases_app
from cli.employees import rejects, show_app
from cli.notify import notify_app
from cli.prefect_setup import prefect_app
from cli.reconcile import reconcile
from cli.schedule import schedule
from cli.serve import serve
from cli.support import support_bundle
from cli.typer_params import convert_parameters_lazily
from cli.ui import ui
from jobs.prefect_defaults import apply_prefect_defaults
from orchestration.server import use_local_server

# Before any command imports Prefect (nothing above does: tests/cli/test_cli.py checks).
apply_prefect_defaults()
use_local_server()
convert_parameters_lazily()

app = typer.Typer(
    help="ESS Payroll Sync: bring payroll databases' changes into Employee Self Service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(databases_app, name="databases")
db_app = typer.Typer(help="The ESS database's schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(show_app, name="show")
app.add_typer(prefect_app, name="prefect")
app.add_typer(notify_app, name="notify")
app.command()(rejects)
app.command()(reconcile)
app.command("support-bundle")(support_bundle)
app.command()(schedule)
app.command()(serve)
app.command()(ui)
console = Console()
errors = Console(stderr=True)

EXIT_FAILED, EXIT_NOT_STARTED = 1, 3


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the ESS database's schema to the newest migration."""
    from ess.database import create_ess_engine, head_revision, upgrade
    from ess.settings import settings

    engine = create_ess_engine(settings().ess_url())
    try:
        ran = upgrade(engine)
    finally:
        engine.dispose()
    console.print(f"ESS database {'upgraded' if ran else 'already'} at revision {head_revision()}.")


@app.command()
def run(
    database: Annotated[str, typer.Argument(help="The payroll database's registered name.")],
    full: Annotated[bool, typer.Option(help="Read every employee, not only the changes.")] = False,
    preview: Annotated[
        bool, typer.Option(help="Show what each step would change; change nothing.")
    ] = False,
    repair: Annotated[
        bool,
        typer.Option(help="Re-import only the employees the last reconciliation found different."),
    ] = False,
) -> None:
    """Run Sync from Payroll for one database; exit code 0 only when the job completed."""
    raise typer.Exit(_run_sync(database, full=full, preview=preview, repair=repair))


def _run_sync(database: str, *, full: bool, preview: bool = False, repair: bool = False) -> int:
    from jobs.kinds import SYNC_FROM_PAYROLL

    require_database(database)
    if repair and (full or preview):
        raise fail(
            "--repair re-imports only what the last reconciliation found: "
            "not with --full or --preview."
        )
    if preview:
        return _run_preview(database, full=full)
    if repair:
        return _run_job(SYNC_FROM_PAYROLL, database, full=False, repair=True)
    return _run_job(SYNC_FROM_PAYROLL, database, full=full)


def _run_job(kind: Any, database: str, **parameters: Any) -> int:
    """Run a job through jobs.start, print its Web API Log; the exit code says how it ended."""
    from ess.store.log import read_log
    from jobs.start import NOT_STARTED, start_job

    outcome = start_job(kind, database, **parameters)
    if outcome.status == NOT_STARTED and outcome.job_id is None:
        errors.print(outcome.message, highlight=False, markup=False)
        return EXIT_NOT_STARTED
    _print_log(read_log(database, job_id=outcome.job_id, limit=500), database)
    if outcome.ok:
        return 0
    if outcome.status == NOT_STARTED:
        errors.print(outcome.message, highlight=False, markup=False)
        return EXIT_NOT_STARTED
    return EXIT_FAILED


def _print_log(rows: Any, database: str) -> None:
    # The job has ended by now: how its log prints never changes the exit code it earned.
    try:
        console.print(render.log_table(rows, title=f"Web API Log: {database}"))
    except Exception as exc:
        errors.print(
            f"The Web API Log could not be shown ({type(exc).__name__}); see "
            f"`ess-sync log {database} --json`.",
            markup=False,
        )


def _run_preview(database: str, *, full: bool) -> int:
    from jobs.kinds import SYNC_FROM_PAYROLL
    from jobs.start import NOT_STARTED, preview_job

    outcome = preview_job(SYNC_FROM_PAYROLL, database, full=full)
    if outcome.result is None:
        errors.print(outcome.message, highlight=False, markup=False)
        return EXIT_NOT_STARTED if outcome.status == NOT_STARTED else EXIT_FAILED
    console.print(render.preview_table(outcome.result, title=f"Preview: {database}"))
    console.print("Preview only: nothing was changed.")
    return 0


@app.command("leave-balances")
def leave_balances(
    database: Annotated[str, typer.Argument(help="The payroll database's registered name.")],
) -> None:
    """Sync balances for Leave Report: leave types and reasons, then every balance."""
    from jobs.kinds import SYNC_LEAVE_BALANCES

    require_database(database)
    raise typer.Exit(_run_job(SYNC_LEAVE_BALANCES, database))


@app.command("purge-log")
def purge_log(
    dry_run: Annotated[bool, typer.Option(help="Count what would go; remove nothing.")] = False,
    months: Annotated[int, typer.Option(min=0, help="Calendar months of log to keep.")] = 1,
) -> None:
    """Remove Web API Log rows older than a month (never a running job's)."""
    from flows.web_api_log_retention import web_api_log_retention

    result = web_api_log_retention(months=months, dry_run=dry_run)
    verb = "Would remove" if dry_run else "Removed"
    console.print(f"{verb} {result['removed']} Web API Log row(s) older than {result['cutoff']}.")


@app.command()
def demo(
    employees: Annotated[int, typer.Option(help="How many employees the demo payroll has.")] = 3000,
    rebuild: Annotated[bool, typer.Option(help="Build the demo payroll afresh.")] = False,
) -> None:
    """Build a realistic demo payroll on SQLite, register it and run Sync from Payroll."""
    from ess.settings import settings
    from ess.store.registry import register_database
    from generator import build_payroll_file

    path = settings().data_dir / "demo_payroll.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    if rebuild and path.exists():
        path.unlink()
    if not path.exists():
        console.print(
            f"Building the demo payroll ({employees:,} employees) at {path} ...", markup=False
        )
        summary = build_payroll_file(path, employees=employees)
        console.print(render.table_counts(summary.tables))
    register_database("demo_payroll", url=f"sqlite:///{path}")
    raise typer.Exit(_run_sync("demo_payroll", full=False))


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Per payroll database: the last successful sync and the last job's result."""
    from ess.plain import only_reading
    from ess.store.status import database_statuses

    only_reading()
    statuses = database_statuses()
    if as_json:
        print(json.dumps([s.__dict__ for s in statuses], default=json_default, indent=2))
        return
    console.print(render.status_table(statuses))


@app.command()
def log(
    database: Annotated[str, typer.Argument(help="The payroll database's registered name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="How many rows.")] = 50,
) -> None:
    """The Web API Log of one database, newest last."""
    from ess.plain import only_reading
    from ess.store.log import read_log

    only_reading()
    require_database(database)
    rows = read_log(database, limit=limit)
    if as_json:
        print(json.dumps([r.__dict__ for r in rows], default=json_default, indent=2))
        return
    console.print(render.log_table(rows, title=f"Web API Log: {database}"))


@app.command()
def lookups(
    database: Annotated[str, typer.Argument(help="The payroll database's registered name.")],
    name: Annotated[str, typer.Argument(help="The lookup, e.g. 'super fund' or state.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A lookup list as ESS serves it (through the ESS cache)."""
    from core.lookups import spec_named
    from ess.store.lookup_lists import lookup_list

    require_database(database)
    try:
        spec = spec_named(name)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None
    rows = lookup_list(database, spec)
    if as_json:
        print(json.dumps(rows, default=json_default, indent=2))
        return
    console.print(render.rows_table(rows, title=f"{spec.name} ({database})"))


def main() -> NoReturn:
    """Entry point of `ess-sync` and `python -m cli.main`: the command, then a quick exit."""
    code: object = 0
    try:
        app()
    except SystemExit as done:  # Typer ends every command so
        code = done.code
    # Any other exception is Python's to report, and its exit is Python's own.
    exit_quickly(code)


def exit_quickly(code: object) -> NoReturn:
    """End the process with `code` (as SystemExit reads it) as Python would, but without
    tearing down every module first.

    A command that ran a flow holds about 3,000 modules (Prefect, pydantic, SQLAlchemy);
    Python's finalization of them took 0.3-0.7 s of every `ess-sync run` here, and nothing
    of it is seen outside the process once what it does first has run, in its order: the
    threads that are not daemons joined (Prefect drains its log and event workers there),
    the exit handlers (logging flushes, temporary directories go), then ESS's pooled
    connections closed (a SQLite ESS folds its write-ahead log back into the file) and the
    output flushed. A step that fails is reported and the exit goes on, as Python's does.
    """
    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is None:  # a Python without it (its internals change): Python's own exit
        raise SystemExit(code)
    status = 0 if code is None else code if isinstance(code, int) else 1
    try:
        if not isinstance(code, int) and code is not None:
            print(code, file=sys.stderr)  # a message: Python prints it and exits 1
        for step in (shutdown, atexit._run_exitfuncs, _close_ess):
            try:
                step()
            except BaseException:  # a second Ctrl-C while threads drain, say
                traceback.print_exc()
        for stream in (sys.stdout, sys.stderr):
            if stream is None or stream.closed:
                continue
            try:
                stream.flush()
            except (OSError, ValueError):  # a reader gone (`| head`)
                status = 120  # Python's status when it cannot flush its output at exit
    finally:
        os._exit(status)


def _close_ess() -> None:
    database = sys.modules.get("ess.database")
    if database is not None:
        database.dispose_engines()


if __name__ == "__main__":
    main()

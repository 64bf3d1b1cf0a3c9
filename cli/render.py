"""Rich tables for what people read at the terminal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from core.results import JobResult


def data(value: object) -> Text:
    """A value as a table cell or line printed as it is: never read as Rich markup."""
    # A payroll name such as "[/]" or "[bold red]x" is data, not an instruction to Rich.
    return Text("" if value is None else str(value))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "never"


def _next_run(value: datetime | None) -> str:
    # In the schedule's own timezone, named: a payroll officer set it as wall-clock time.
    return value.strftime("%Y-%m-%d %H:%M %Z") if value else "not scheduled"


def _table(title: str) -> Table:
    return Table(title=data(title), title_justify="left")


_STYLES = {"error": "bold red", "warning": "yellow"}


def reconciled(when: datetime | None, differences: int | None) -> str:
    """The last reconciliation as one cell: when, and how many differences it found."""
    if when is None:
        return "never"
    return f"{_when(when)} ({differences} differences)"


def log_table(rows: Sequence[Any], title: str) -> Table:
    """Web API Log rows, oldest first; failures stand out."""
    table = _table(title)
    table.add_column("Time (UTC)", no_wrap=True)
    table.add_column("Job", justify="right")
    table.add_column("Message")
    for row in rows:
        table.add_row(
            _when(row.logged_at),
            str(row.job_id or ""),
            data(row.message),
            style=_STYLES.get(row.level),
        )
    return table


def status_table(statuses: Iterable[Any]) -> Table:
    """The status of each payroll database."""
    table = _table("Sync status")
    headings = (
        "Database",
        "Last Sync from Payroll",
        "Last job",
        "Result",
        "Message",
        "Next run",
        "Checked against payroll",
    )
    for heading in headings:
        # A time or a name broken over lines is misread; the message wraps instead.
        table.add_column(heading, no_wrap=heading in ("Database", "Next run"))
    for s in statuses:
        table.add_row(
            data(s.database),
            _when(s.last_sync_from_payroll),
            data(f"{s.last_job_kind} #{s.last_job_id}" if s.last_job_id else "none"),
            data(s.last_job_status),
            data(s.last_job_message),
            _next_run(s.next_scheduled_run),
            reconciled(s.last_reconciled_at, s.last_reconciliation_differences),
            style=_STYLES["error"] if s.last_job_status in ("failed", "timed_out") else None,
        )
    return table


def databases_table(databases: Iterable[Any]) -> Table:
    """The registered payroll databases, with redacted connections."""
    table = _table("Payroll databases")
    for heading in ("Name", "Kind", "Connection", "Last Sync from Payroll"):
        table.add_column(heading)
    for d in databases:
        table.add_row(
            data(d.name),
            data(d.connection_kind),
            data(d.connection_display),
            _when(d.last_sync_from_payroll),
        )
    return table


def table_counts(counts: Mapping[str, int]) -> Table:
    """Rows per table."""
    table = _table("Demo payroll")
    table.add_column("Table")
    table.add_column("Rows", justify="right")
    for name, count in counts.items():
        table.add_row(data(name), f"{count:,}")
    return table


def rows_table(rows: Sequence[Mapping[str, Any]], title: str) -> Table:
    """Any list of flat rows."""
    table = _table(title)
    for column in rows[0] if rows else ():
        table.add_column(data(column))
    for row in rows:
        table.add_row(*(data(v) for v in row.values()))
    return table


def preview_table(result: JobResult, title: str) -> Table:
    """What each step of a sync would change, and the first employee codes of each change."""
    table = _table(title)
    table.add_column("Step")
    table.add_column("Would change")
    for step in result.steps:
        table.add_row(data(step.name), data(step.shown()))
        for kind, codes in step.samples:
            table.add_row("", data(f"{kind}: {', '.join(codes)}"), style="dim")
    return table

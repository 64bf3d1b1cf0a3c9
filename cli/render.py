"""Rich tables for what people read at the terminal."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.table import Table

from core.results import JobResult


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "never"


_STYLES = {"error": "bold red", "warning": "yellow"}


def log_table(rows: Sequence[Any], title: str) -> Table:
    """Web API Log rows, oldest first; failures stand out."""
    table = Table(title=title, title_justify="left")
    table.add_column("Time (UTC)", no_wrap=True)
    table.add_column("Job", justify="right")
    table.add_column("Message")
    for row in rows:
        table.add_row(
            _when(row.logged_at),
            str(row.job_id or ""),
            row.message,
            style=_STYLES.get(row.level),
        )
    return table


def status_table(statuses: Iterable[Any]) -> Table:
    """The status of each payroll database."""
    table = Table(title="Sync status", title_justify="left")
    for heading in ("Database", "Last Sync from Payroll", "Last job", "Result", "Message"):
        table.add_column(heading)
    for s in statuses:
        table.add_row(
            s.database,
            _when(s.last_sync_from_payroll),
            f"{s.last_job_kind} #{s.last_job_id}" if s.last_job_id else "none",
            s.last_job_status or "",
            s.last_job_message or "",
            style=_STYLES["error"] if s.last_job_status in ("failed", "timed_out") else None,
        )
    return table


def databases_table(databases: Iterable[Any]) -> Table:
    """The registered payroll databases, with redacted connections."""
    table = Table(title="Payroll databases", title_justify="left")
    for heading in ("Name", "Kind", "Connection", "Last Sync from Payroll"):
        table.add_column(heading)
    for d in databases:
        table.add_row(
            d.name, d.connection_kind, d.connection_display, _when(d.last_sync_from_payroll)
        )
    return table


def table_counts(counts: Mapping[str, int]) -> Table:
    """Rows per table."""
    table = Table(title="Demo payroll", title_justify="left")
    table.add_column("Table")
    table.add_column("Rows", justify="right")
    for name, count in counts.items():
        table.add_row(name, f"{count:,}")
    return table


def rows_table(rows: Sequence[Mapping[str, Any]], title: str) -> Table:
    """Any list of flat rows."""
    table = Table(title=title, title_justify="left")
    for column in rows[0] if rows else ():
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    return table


def preview_table(result: JobResult, title: str) -> Table:
    """What each step of a sync would change, and the first employee codes of each change."""
    table = Table(title=title, title_justify="left")
    table.add_column("Step")
    table.add_column("Would change")
    for step in result.steps:
        table.add_row(step.name, step.shown())
        for kind, codes in step.samples:
            table.add_row("", f"{kind}: {', '.join(codes)}", style="dim")
    return table

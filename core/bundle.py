"""Support bundles: what each file holds, and keeping secrets out of every one of them."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, is_dataclass
from datetime import datetime
from typing import Any

from core.redact import (
    REDACTED,
    connection_secrets,
    parse_odbc,
    redact_connection,
    scrub,
    spellings,
)

MEMBERS: dict[str, str] = {
    "README.txt": "This file: what each file in the bundle holds.",
    "job.json": "The job the bundle is about (its sync_job row: status, times, message, "
    "summary of counts per step) and how it was chosen.",
    "log.json": "The job's Web API Log rows, oldest first, plus the database's rows without a "
    "job id logged in the job's time window (e.g. 'Job Not Started' refusals).",
    "log.txt": "The same Web API Log rows, as support staff read them.",
    "jobs.json": "The database's last 50 jobs (sync_job rows), newest first.",
    "rejects.json": "Employees and fields ESS holds back (rejected) or imported without a "
    "field (warning), as `ess-sync rejects` shows them.",
    "database.json": "The payroll database as ESS has it registered; its connection redacted.",
    "prefect.json": "The job's Prefect flow run, its states and its logs, when a Prefect "
    "server is configured; otherwise why they are not here.",
    "versions.json": "Versions of ess-payroll-sync, Python, Prefect, SQLAlchemy, pandas, "
    "pyodbc, and the ESS schema's revision against the newest migration.",
    "config.json": "ESS_* settings and Prefect settings, every secret redacted.",
    "reconciliation.json": "The database's last reconciliation with payroll (`ess-sync "
    "reconcile`): when, how many differences, per table and field with example codes.",
}

LOG_WINDOW_NOTE = "near this job, not part of it"

# ATO check-digit weights of a tax file number: nine digits, and the older eight.
_TFN_WEIGHTS = {9: (1, 4, 3, 7, 5, 8, 6, 9, 10), 8: (10, 7, 8, 4, 6, 3, 5, 1)}
# Eight or nine digits standing alone (not inside a longer number, a code such as E000123
# or a UUID), written together or in groups as people write a TFN: 123 456 782, 12 345 678.
_TFN_LIKE = re.compile(r"(?<![0-9A-Za-z_.-])(?:\d{8,9}|\d{2,3} \d{3} \d{2,3})(?![0-9A-Za-z_-])")
_SECRET_SETTING = re.compile(r"(?i)key|secret|password|pwd|token|auth|credential")
HIDDEN = "(set, hidden)"
_MAX_JOB_ID = 2**31  # sync_job.id is an INTEGER: a larger number cannot be one


def to_json(value: Any) -> str:
    """Indented JSON of rows, dataclasses and dates (datetimes as ISO 8601)."""

    def default(item: Any) -> Any:
        if is_dataclass(item) and not isinstance(item, type):
            return asdict(item)
        return item.isoformat() if hasattr(item, "isoformat") else str(item)

    return json.dumps(value, default=default, indent=2, ensure_ascii=False) + "\n"


def parse_run(run: str) -> int | str:
    """An ESS job id (a number) or a Prefect flow-run id (a UUID); ValueError if neither."""
    text = run.strip()
    if text.isdecimal() and text.isascii():
        if int(text) >= _MAX_JOB_ID:
            raise ValueError(f"{run!r} is too large to be an ESS job id: no job has it.")
        return int(text)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ValueError(
            f"{run!r} is neither an ESS job id (a number) nor a Prefect flow-run id (a UUID)."
        ) from None


def log_text(rows: Iterable[Mapping[str, Any]]) -> str:
    """Web API Log rows as lines a person reads: time, level, job, message."""
    lines = []
    for row in rows:
        when: datetime = row["logged_at"]
        job = f"job {row['job_id']}" if row["job_id"] is not None else LOG_WINDOW_NOTE
        lines.append(
            f"{when:%Y-%m-%d %H:%M:%S} UTC  {row['level'].upper():<7}  [{job}]  {row['message']}"
        )
    return "\n".join(lines) + "\n" if lines else "(no Web API Log rows)\n"


def readme(database: str, about: str, created_at: datetime, notes: Iterable[str] = ()) -> str:
    """README.txt: what the bundle is about and what each file holds."""
    width = max(len(name) for name in MEMBERS)
    lines = [
        f"ESS Payroll Sync support bundle for payroll database {database}",
        f"Created {created_at:%Y-%m-%d %H:%M:%S} UTC. {about}",
        "",
        "Files:",
        *(f"  {name:<{width}}  {text}" for name, text in MEMBERS.items()),
        "",
        "Times are UTC. Secrets are never included: connection strings appear redacted, and",
        "every known password and every eight- or nine-digit number (spaced or not) that "
        f"could be a tax file number is replaced by {REDACTED}.",
    ]
    notes = list(notes)
    if notes:
        lines += ["", "Notes:", *(f"  - {note}" for note in notes)]
    return "\n".join(lines) + "\n"


@dataclass
class Contents:
    """What a support bundle holds, gathered; it lays the members out."""

    database: str
    chosen_by: str
    job: dict[str, Any] | None
    log_rows: list[dict[str, Any]]
    history: list[dict[str, Any]]
    issues: list[Any]  # held issues, each with an `outcome` of "rejected" or "warning"
    registered: Any
    prefect: dict[str, Any]
    versions: dict[str, Any]
    config: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    reconciliation: dict[str, Any] | None = None

    def about(self) -> str:
        """One line on the job the bundle is about."""
        return f"Job {self.job['id']} ({self.job['status']})." if self.job else "No job yet."

    def members(self, created_at: datetime) -> dict[str, str]:
        """Each member's text, named as MEMBERS lists them (not yet scrubbed)."""
        notes = self.notes
        if self.job is None:
            notes = [*notes, f"{self.database} has no jobs yet: there is no job log to show."]
        members = {
            "README.txt": readme(self.database, self.about(), created_at, notes),
            "job.json": to_json({"chosen_by": self.chosen_by, "job": self.job}),
            "log.json": to_json(self.log_rows),
            "log.txt": log_text(self.log_rows),
            "jobs.json": to_json(self.history),
            "rejects.json": to_json(self.issues),
            "database.json": to_json(self.registered),
            "prefect.json": to_json(self.prefect),
            "versions.json": to_json(self.versions),
            "config.json": to_json(self.config),
            "reconciliation.json": to_json(self.reconciliation),
        }
        return {name: members[name] for name in MEMBERS}

    def holds(self) -> dict[str, str]:
        """A short line per member on what it holds, for the person who asked for it."""
        rejected = sum(i.outcome == "rejected" for i in self.issues)
        jobs = len(self.history)
        flow = self.prefect
        return {
            "job.json": self.about(),
            "log.json": f"{len(self.log_rows)} Web API Log rows",
            "jobs.json": f"{jobs} job{'' if jobs == 1 else 's'}",
            "rejects.json": f"{rejected} rejected, {len(self.issues) - rejected} warnings",
            "prefect.json": flow.get("note")
            or f"{len(flow['states'])} states, {len(flow['logs'])} logs",
            "reconciliation.json": "never reconciled"
            if self.reconciliation is None
            else f"{self.reconciliation['differences']} differences "
            f"({self.reconciliation['reconciled_at']:%Y-%m-%d %H:%M} UTC)",
        }


def url_secrets(url: str) -> list[str]:
    """The URL (when it holds a secret) and every secret inside it, written and decoded."""
    return connection_secrets("url", url)


def is_secret_setting(name: str) -> bool:
    """Whether a setting's name says its value is a secret (ESS_UI_PASSWORD, an API key)."""
    return bool(_SECRET_SETTING.search(name))


def redact_setting(name: str, value: str | None) -> str | None:
    """A setting's value fit to show: secrets hidden, URLs and ODBC strings redacted."""
    if value is None or value == "":
        return value
    if is_secret_setting(name):
        return HIDDEN
    if "://" in value:
        return redact_connection("url", value)
    if "=" in value and parse_odbc(value) is not None:
        return redact_connection("odbc", value)
    return value


def is_tfn(digits: str) -> bool:
    """Whether eight or nine digits (spaces aside) pass the tax file number check-digit test."""
    digits = digits.replace(" ", "")
    weights = _TFN_WEIGHTS.get(len(digits))
    if weights is None or not digits.isdigit():
        return False
    return sum(w * int(d) for w, d in zip(weights, digits, strict=True)) % 11 == 0


def scrub_member(text: str, secrets: Iterable[str]) -> str:
    """A bundle member with every known secret and every TFN-like number replaced."""
    known = [form for s in secrets if s for form in spellings(s)]
    # JSON writes a quote or backslash in a secret escaped; replace that spelling too.
    escaped = [json.dumps(s, ensure_ascii=False)[1:-1] for s in known]
    text = scrub(text, _distinct(known + escaped))
    # Privacy (TFN) Rule 2015: a TFN never leaves payroll, even one that slipped into a log.
    return _TFN_LIKE.sub(lambda m: REDACTED if is_tfn(m.group()) else m.group(), text)


def _distinct(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))

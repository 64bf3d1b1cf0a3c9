"""Gathering a support bundle: one zip with what a support case about a sync needs."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import uuid
import zipfile
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select

from core.bundle import (
    HIDDEN,
    Contents,
    connection_secrets,
    is_secret_setting,
    parse_run,
    redact_setting,
    scrub_member,
    url_secrets,
)
from core.redact import redact_connection
from ess.database import current_revision, ess_engine, head_revision
from ess.schema import sync_job, web_api_log
from ess.settings import Secret, Settings, settings
from ess.store.reads import list_issues
from ess.store.reconciliations import last_reconciliation
from ess.store.registry import get_database
from orchestration.server import configured_api_url

HISTORY = 50
# A refusal is logged while the job holds the database; a minute either side also catches
# the click just before it started or just after it ended.
NEAR = timedelta(minutes=1)
LOG_LIMIT = 10_000
PREFECT_LOG_PAGE, PREFECT_LOG_LIMIT = 200, 5_000
# Reading a block without a server starts Prefect's temporary one: seconds, not minutes.
BLOCK_READ_SECONDS = 120
_DISTRIBUTIONS = ("ess-payroll-sync", "prefect", "sqlalchemy", "pandas", "pyodbc", "alembic")
_LOG_FIELDS = {"timestamp", "level", "name", "message", "task_run_id"}


class UnknownRun(LookupError):
    """No job of the database has that job id or flow-run id."""


def find_job(database: str, run: str | None) -> dict[str, Any] | None:
    """The job a bundle is about: by ESS job id, by flow-run id, or the database's latest."""
    query = select(sync_job).where(sync_job.c.payroll_database == database)
    try:
        wanted = None if run is None else parse_run(run)
    except ValueError as exc:
        raise UnknownRun(str(exc)) from None
    if wanted is None:
        query = query.order_by(sync_job.c.id.desc()).limit(1)
    elif isinstance(wanted, int):
        query = query.where(sync_job.c.id == wanted)
    else:
        query = query.where(sync_job.c.flow_run_id == wanted)
    with ess_engine().connect() as conn:
        row = conn.execute(query).mappings().first()
    if row is None and run is not None:
        raise UnknownRun(
            f"No job of {database} has the id {run!r} (see `ess-sync status` and "
            f"`ess-sync log {database}` for its jobs)."
        )
    return None if row is None else _job(dict(row))


def _job(row: dict[str, Any]) -> dict[str, Any]:
    # An unreadable summary is still worth showing as it is.
    with contextlib.suppress(ValueError):
        row["summary"] = json.loads(row["summary"]) if row["summary"] else None
    return row


def job_log(database: str, job: dict[str, Any]) -> list[dict[str, Any]]:
    """The job's Web API Log rows and the database's job-less rows in its time window."""
    until = job["finished_at"] or job["heartbeat_at"]
    query = (
        select(web_api_log)
        .where(
            or_(
                web_api_log.c.job_id == job["id"],
                and_(
                    web_api_log.c.payroll_database == database,
                    web_api_log.c.job_id.is_(None),
                    web_api_log.c.logged_at.between(job["started_at"] - NEAR, until + NEAR),
                ),
            )
        )
        .order_by(web_api_log.c.id)
        .limit(LOG_LIMIT)
    )
    with ess_engine().connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def job_history(database: str, limit: int = HISTORY) -> list[dict[str, Any]]:
    """The database's newest jobs, newest first."""
    query = (
        select(sync_job)
        .where(sync_job.c.payroll_database == database)
        .order_by(sync_job.c.id.desc())
        .limit(limit)
    )
    with ess_engine().connect() as conn:
        return [_job(dict(r)) for r in conn.execute(query).mappings()]


def versions() -> dict[str, Any]:
    """Versions of what runs the sync, and the ESS schema's revision."""
    found: dict[str, Any] = {"python": sys.version, "platform": platform.platform()}
    for name in _DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    found["ess_schema_revision"] = current_revision(ess_engine())
    found["ess_schema_head_revision"] = head_revision()
    return found


def configuration(api_url: str | None) -> dict[str, Any]:
    """ESS_* and Prefect settings, every secret redacted."""
    current = settings()
    ess: dict[str, Any] = {}
    for name in (f.name for f in fields(Settings)):
        value = getattr(current, name)
        value = value.get_secret_value() if isinstance(value, Secret) else value
        ess[f"ESS_{name.upper()}"] = redact_setting(name, None if value is None else str(value))
    ess["ESS database in use"] = redact_connection("url", current.ess_url())
    prefect: dict[str, Any] = {
        "server_configured": api_url is not None,
        "PREFECT_API_URL": None if api_url is None else redact_connection("url", api_url),
        "environment": {
            k: redact_setting(k, v) for k, v in sorted(os.environ.items()) if k[:8] == "PREFECT_"
        },
    }
    if api_url is not None:
        prefect["effective"] = _prefect_settings()
    return {"ess": ess, "prefect": prefect}


def _prefect_settings() -> dict[str, Any]:
    from prefect.context import get_settings_context
    from prefect.settings import get_current_settings

    s = get_current_settings()
    shown = {
        "PREFECT_PROFILE": get_settings_context().profile.name,
        "PREFECT_HOME": str(s.home),
        "PREFECT_API_URL": s.api.url,
        "PREFECT_API_KEY": HIDDEN if s.api.key else None,
        "PREFECT_API_AUTH_STRING": HIDDEN if s.api.auth_string else None,
        "PREFECT_API_REQUEST_TIMEOUT": str(s.api.request_timeout),
        "PREFECT_CLIENT_MAX_RETRIES": str(s.client.max_retries),
        "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": str(s.server.ephemeral.enabled),
        "PREFECT_LOGGING_LEVEL": s.logging.level,
    }
    return {k: redact_setting(k, v) for k, v in shown.items()}


def prefect_run(api_url: str | None, flow_run_id: str | None) -> dict[str, Any]:
    """The flow run's states and logs from the configured server, or a note why not."""
    if api_url is None:
        return {
            "note": "No Prefect server is configured (PREFECT_API_URL is not set): flows ran on "
            "a temporary local server whose history is gone. The Web API Log is in log.txt."
        }
    shown = {"api_url": redact_connection("url", api_url)}
    if flow_run_id is None:
        return shown | {"note": "This job has no Prefect flow run (it never started one)."}
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            problem = client.api_healthcheck()
            if problem is not None:
                reason = f"{type(problem).__name__}: {problem}"
                return shown | {"note": f"The Prefect server did not answer ({reason})."}
            run = client.read_flow_run(uuid.UUID(flow_run_id))
            states = client.read_flow_run_states(run.id)
            only_this_run = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id]))
            logs: list[Any] = []
            while len(logs) < PREFECT_LOG_LIMIT:
                page = client.read_logs(only_this_run, limit=PREFECT_LOG_PAGE, offset=len(logs))
                logs += page
                if len(page) < PREFECT_LOG_PAGE:
                    break
    except ObjectNotFound:
        return shown | {"note": f"The Prefect server has no flow run {flow_run_id}."}
    except Exception as exc:  # the bundle is most needed when the server misbehaves
        return shown | {"note": f"Prefect could not be read: {type(exc).__name__}: {exc}"}
    return shown | {
        "flow_run": run.model_dump(mode="json"),
        "states": [s.model_dump(mode="json", exclude={"data"}) for s in states],
        "logs": [
            log.model_dump(mode="json", include=_LOG_FIELDS)
            | {"level_name": logging.getLevelName(log.level)}
            for log in logs
        ],
    }


def known_secrets(database: str, api_url: str | None) -> tuple[list[str], list[str]]:
    """Secrets to scrub from every member, and notes on those that could not be read.

    The payroll connection's secrets come from its Payroll Database block, read from the
    configured Prefect server or, without one, from the local (ephemeral) Prefect store that
    `ess-sync databases add` saved it in: the bundle scrubs them either way.
    """
    current = settings()
    secrets: list[str] = []
    for secret in (current.database_url, current.cache_url):
        if secret is not None:
            secrets += url_secrets(secret.get_secret_value())
    # ESS_UI_PASSWORD, PREFECT_API_AUTH_STRING, PREFECT_API_KEY and any connection string
    # in an ESS_* or PREFECT_* variable, whichever settings class reads it.
    for name, value in os.environ.items():
        if value and name.startswith(("ESS_", "PREFECT_")):
            if is_secret_setting(name):
                secrets.append(value)
            elif redact_setting(name, value) != value:
                secrets += connection_secrets(None, value)
    try:
        found = _block_secrets(database, api_url)
    except Exception as exc:
        where = "the Prefect server" if api_url else "the local Prefect store"
        note = f"The payroll connection block could not be loaded from {where} ({exc})."
        return secrets, [scrub_member(note, secrets)]
    return secrets + found, []


def _block_secrets(database: str, api_url: str | None) -> list[str]:
    if api_url is not None:
        from payroll.connect import load_payroll

        block = load_payroll(database)
        return connection_secrets(block.connection_kind, block.connection_string.get_secret_value())
    child = subprocess.run(
        [sys.executable, "-m", "support.block_secrets", database],
        capture_output=True,
        text=True,
        timeout=BLOCK_READ_SECONDS,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if child.returncode != 0:
        reason = (child.stderr.strip().splitlines() or ["no reason given"])[-1]
        raise RuntimeError(reason)
    secrets: list[str] = json.loads(child.stdout.strip().splitlines()[-1])
    return secrets


def write_bundle(database: str, output: Path, run: str | None = None) -> Contents:
    """Gather the bundle of one database's job and write it as a zip, every member scrubbed."""
    registered = get_database(database)
    job = find_job(database, run)
    api_url = configured_api_url()
    secrets, notes = known_secrets(database, api_url)
    contents = Contents(
        database=database,
        chosen_by=run or "latest job",
        job=job,
        log_rows=job_log(database, job) if job else [],
        history=job_history(database),
        issues=list_issues(database),
        registered=registered,
        prefect=prefect_run(api_url, job["flow_run_id"] if job else None),
        versions=versions(),
        config=configuration(api_url),
        notes=notes,
        reconciliation=last_reconciliation_shown(database),
    )
    members = contents.members(datetime.now(UTC))
    _write_zip(output, {name: scrub_member(text, secrets) for name, text in members.items()})
    return contents


def last_reconciliation_shown(database: str) -> dict[str, Any] | None:
    """The last reconciliation's counts and example codes (no payroll values: personal data)."""
    found = last_reconciliation(database)
    if found is None:
        return None
    summary = {k: v for k, v in found.summary.items() if k != "shown"}
    return {
        "id": found.id,
        "job_id": found.job_id,
        "reconciled_at": found.reconciled_at,
        "differences": found.differences,
        "employees": found.employees,
        **summary,
    }


def _write_zip(output: Path, members: dict[str, str]) -> None:
    # Written beside the target and renamed: a failure never leaves half a bundle behind.
    handle, temporary = tempfile.mkstemp(dir=output.parent, prefix=".bundle-", suffix=".zip")
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, text in members.items():
                archive.writestr(name, text.encode())
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

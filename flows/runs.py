"""What a sync's flow run carries in Prefect: its database in its name and its tags (so the
UI's history can be filtered by database), and a one-sentence end for an unknown database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run
from prefect.settings import get_current_settings
from prefect.states import Failed, State

from ess.store.log import ERROR, WARNING
from jobs.kinds import database_tag
from jobs.log import echo
from payroll.connect import unregistered

# Payroll officers date their runs in Sydney time, as the shipped schedules are: a 02:00
# sync on a server kept in UTC still carries the date it ran for.
RUN_DATE_ZONE = ZoneInfo("Australia/Sydney")

RESULTS_NOT_PERSISTED = False
"""Every flow's persist_result: its return value (a JobResult, a dict) is read in memory by
whoever called it, and the flow-run history keeps its artifacts and logs, never a result."""
LOCAL_RESULT_STORAGE = Path(get_current_settings().results.local_storage_path)
"""Every flow's result_storage: Prefect's own local default, named, though nothing is stored
there. A flow that names neither makes Prefect ask the server for its default result storage
three times a run (about 15 ms of a 0.35 s sync that changes nothing)."""


def run_name(prefix: str) -> Callable[[], str]:
    """A flow_run_name: `sync demo_payroll 2026-11-30`, the date the run started in Sydney."""

    def name() -> str:
        database = flow_run.get_parameters().get("database", "?")
        return f"{prefix} {database} {datetime.now(RUN_DATE_ZONE):%Y-%m-%d}"

    return name


def refuse_unregistered(database: str) -> State[Any] | None:
    """Failed, in one sentence, when the database is not registered; None when it is.

    Nothing is written to ESS: no log row, no job, no registration (the name may be a typo).
    """
    problem = unregistered(database)
    if problem is None:
        return None
    echo(problem, ERROR)
    return Failed(message=problem)


def tag_with_database(database: str) -> None:
    """Add the database's tag to this flow run, unless it was created with it.

    start_job() creates its runs tagged; a run from a deployment of all databases is not.
    """
    run_id = flow_run.get_id()
    if run_id is None or database_tag(database) in flow_run.get_tags():
        return
    tags = sorted({*flow_run.get_tags(), database_tag(database)})
    try:
        with get_client(sync_client=True) as client:
            client.update_flow_run(UUID(run_id), tags=tags)
    except httpx.HTTPError as exc:
        # A tag only helps people filter the history: it never stops a sync.
        echo(f"The flow run could not be tagged {database_tag(database)} ({exc}).", WARNING)

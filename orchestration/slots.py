"""Releasing Prefect concurrency slots that leaked, so a database is never blocked longer
than ESS's own job lease.

A slot leaks when a worker (and the run it started) is killed with SIGKILL, or when the
Prefect server restarts mid-run: its leases live in memory, so nothing gives the slot back.
`ess-sync prefect release-slots` looks once; `--every 15` (started by `ess-sync serve`)
keeps looking. The decision is core/slots.py's; this module reads Prefect and ESS and acts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterTags,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.responses import GlobalConcurrencyLimitResponse
from prefect.states import Crashed

from core.slots import (
    CANCELLING,
    NO_JOB,
    PENDING,
    RUNNING,
    SeenRun,
    crash_message,
    decide_slots,
)
from ess.store.holders import jobs_of_runs
from ess.store.jobs import live_job
from orchestration.deployments import DATABASE_TAG, MANAGED_TAG
from orchestration.limits import limit_name, our_limits, release_slots

EVERY_SECONDS = 15.0
_logger = logging.getLogger("ess_sync.slots")
_HOLDING = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]


def reconcile_slots(now: datetime | None = None) -> list[str]:
    """Release every database's leaked slots and crash runs whose job died; what was done."""
    done: list[str] = []
    with get_client(sync_client=True) as client:
        for database, limit in sorted(our_limits(client).items()):
            if limit.active_slots > 0:
                done += _reconcile(client, database, limit, now or datetime.now(UTC))
    return done


def reconcile_forever(
    every: float = EVERY_SECONDS,
    stop: threading.Event | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Reconcile every `every` seconds until `stop` is set; a failed round is tried again."""
    stop = stop or threading.Event()
    while True:
        try:
            for line in reconcile_slots():
                say(line)
        except Exception as exc:  # a server restarting, ESS busy: the next round sees it
            say(f"Could not reconcile concurrency slots ({type(exc).__name__}); trying again.")
        if stop.wait(every):
            return


def _reconcile(
    client: SyncPrefectClient, database: str, limit: GlobalConcurrencyLimitResponse, now: datetime
) -> list[str]:
    # Read in this order: the limit, then ESS, then the runs. A run that takes the slot or
    # its ESS job after an earlier read is still seen by a later one, and counted.
    busy = live_job(database) is not None
    runs = _seen_runs(client, database)
    decision = decide_slots(limit.active_slots, busy, runs, now)
    done = []
    for run in decision.crash:
        # Forced, as Prefect's own zombie automation does; ending it gives its slot back.
        message = crash_message(run)
        client.set_flow_run_state(UUID(run.id), Crashed(message=message), force=True)
        done.append(f"Marked flow run {run.name} ({run.id}) of {database} Crashed: {message}")
    if decision.release:
        release_slots(client, database, decision.release)
        done.append(
            f"Released {decision.release} slot(s) of {limit_name(database)}: ESS holds no "
            f"job on {database} and no run of it is starting."
        )
    for line in done:
        _logger.warning(line)
    return done


def _seen_runs(client: SyncPrefectClient, database: str) -> list[SeenRun]:
    """The database's runs that Prefect shows holding or about to hold its slot."""
    deployments = client.read_deployments(
        deployment_filter=DeploymentFilter(
            tags=DeploymentFilterTags(all_=[MANAGED_TAG, f"{DATABASE_TAG}{database}"])
        )
    )
    if not deployments:
        return []
    runs = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[d.id for d in deployments]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=_HOLDING)),
        )
    )
    jobs = jobs_of_runs([str(r.id) for r in runs])
    seen = []
    for run in runs:
        if run.state is None or run.state.type.value not in (PENDING, RUNNING, CANCELLING):
            continue
        job_id, job = jobs.get(str(run.id), (None, NO_JOB))
        state = run.state.type.value
        seen.append(SeenRun(str(run.id), run.name, state, run.state.timestamp, job, job_id))
    return seen

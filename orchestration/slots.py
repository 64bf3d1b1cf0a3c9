"""Releasing Prefect concurrency slots that leaked, so a database is never blocked longer
than ESS's own job lease.

A slot leaks when a worker (and the run it started) is killed with SIGKILL, or when the
Prefect server restarts mid-run: its leases live in memory, so nothing gives the slot back.
`ess-sync prefect release-slots` looks once; `--every 15` (started by `ess-sync serve`)
keeps looking. The decision is core/slots.py's; this module reads Prefect and ESS and acts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
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
from ess.store.holders import jobs_of_runs, lease_left
from orchestration.deployments import DATABASE_TAG, MANAGED_TAG
from orchestration.limits import limit_name, our_limits, release_slots

EVERY_SECONDS = 15.0
# ESS's clock and ours differ by the round's own time: look again just after the lease.
_AFTER_LEASE = 0.5
_MIN_WAIT = 0.5
_HOLDING = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]


def reconcile_slots(now: datetime | None = None) -> list[str]:
    """Release every database's leaked slots and crash runs whose job died; what was done."""
    return _round(now).done


def reconcile_forever(
    every: float = EVERY_SECONDS,
    stop: threading.Event | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Reconcile every `every` seconds until `stop` is set; a failed round is tried again.

    A database held by a job whose lease runs out sooner is looked at again just after it
    does, so a dead job's slot comes back within a second of ESS calling the database free.
    """
    stop = stop or threading.Event()
    while True:
        wait = every
        try:
            found = _round()
        except Exception as exc:  # a server restarting, ESS busy: the next round sees it
            say(f"Could not reconcile concurrency slots ({type(exc).__name__}); trying again.")
        else:
            for line in found.done:
                say(line)
            if found.recheck_in is not None:
                wait = min(every, max(found.recheck_in, _MIN_WAIT))
        if stop.wait(wait):
            return


@dataclass
class _Round:
    done: list[str] = field(default_factory=list)
    recheck_in: float | None = None  # seconds until a held database's job lease runs out

    def recheck(self, seconds: float) -> None:
        self.recheck_in = seconds if self.recheck_in is None else min(self.recheck_in, seconds)


def _round(now: datetime | None = None) -> _Round:
    found = _Round()
    with get_client(sync_client=True) as client:
        for database, limit in sorted(our_limits(client).items()):
            if limit.active_slots > 0:
                _reconcile(client, database, limit, now or datetime.now(UTC), found)
    return found


def _reconcile(
    client: SyncPrefectClient,
    database: str,
    limit: GlobalConcurrencyLimitResponse,
    now: datetime,
    found: _Round,
) -> None:
    # Read in this order: the limit, then ESS, then the runs. A run that takes the slot or
    # its ESS job after an earlier read is still seen by a later one, and counted.
    left = lease_left(database)
    busy = left is not None and left > 0
    if busy and left is not None:
        found.recheck(left + _AFTER_LEASE)
    runs = _seen_runs(client, database)
    decision = decide_slots(limit.active_slots, busy, runs, now)
    for run in decision.crash:
        message = crash_message(run)
        # Forced, as Prefect's own zombie automation does; ending it gives its slot back.
        client.set_flow_run_state(UUID(run.id), Crashed(message=message), force=True)
        found.done.append(f"Marked flow run {run.name} ({run.id}) of {database} Crashed: {message}")
    if decision.release:
        release_slots(client, database, decision.release)
        found.done.append(
            f"Released {decision.release} slot(s) of {limit_name(database)}: ESS holds no "
            f"job on {database} and no run of it is starting."
        )


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

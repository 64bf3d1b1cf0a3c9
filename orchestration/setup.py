"""Readying a Prefect server for ESS's deployments: block type, work pool, zombie-run automation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect.automations import (
    AutomationCore,
    ChangeFlowRunState,
    EventTrigger,
    Posture,
    ResourceSpecification,
)
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.client.schemas.objects import StateType
from prefect.exceptions import ObjectNotFound
from prefect.settings import get_current_settings

from blocks.payroll_database import PayrollDatabase

WORK_POOL = "ess-sync"
WORK_POOL_TYPE = "process"
ZOMBIE_AUTOMATION = "ess-sync: crash flow runs whose heartbeats stopped"
# Prefect's docs wait for three missed heartbeats before calling a run a zombie.
MISSED_HEARTBEATS = 3


class WrongWorkPool(RuntimeError):
    """A work pool of ESS's name exists but is not a process pool."""


def heartbeat_seconds() -> int:
    """How often flow runs here send heartbeats (PREFECT_FLOWS_HEARTBEAT_FREQUENCY)."""
    # None switches heartbeats off; 180 s is Prefect's own default.
    return get_current_settings().flows.heartbeat_frequency or 180


def register_block_type() -> str:
    """Register the Payroll Database block type; 'registered', 'updated' or 'unchanged'."""
    with get_client(sync_client=True) as client:
        try:
            client.read_block_type_by_slug(PayrollDatabase.get_block_type_slug())
        except ObjectNotFound:
            outcome = "registered"
        else:
            try:
                client.read_block_schema_by_checksum(
                    PayrollDatabase._calculate_schema_checksum(),
                    version=PayrollDatabase.get_block_schema_version(),
                )
                outcome = "unchanged"
            except ObjectNotFound:
                outcome = "updated"
    PayrollDatabase.register_type_and_schema()
    return outcome


def ensure_work_pool(name: str = WORK_POOL) -> str:
    """Create the process work pool if it is missing; 'created' or 'unchanged'."""
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client:
        try:
            pool = client.read_work_pool(name)
        except ObjectNotFound:
            client.create_work_pool(
                WorkPoolCreate(
                    name=name,
                    type=WORK_POOL_TYPE,
                    description="ESS Payroll Sync: process workers on a checkout of the repo.",
                    base_job_template=ProcessWorker.get_default_base_job_template(),
                )
            )
            return "created"
    if pool.type != WORK_POOL_TYPE:
        raise WrongWorkPool(
            f"Work pool {name!r} exists with type {pool.type!r}, not {WORK_POOL_TYPE!r}: ESS's "
            f"deployments need process workers. Remove it (`prefect work-pool delete {name}`) "
            "and run `ess-sync prefect setup` again."
        )
    return "unchanged"


def zombie_automation(heartbeat_every: int) -> AutomationCore:
    """The automation that marks a flow run Crashed when its heartbeats stop."""
    silent_for = heartbeat_every * MISSED_HEARTBEATS
    return AutomationCore(
        name=ZOMBIE_AUTOMATION,
        description=(
            f"A flow run that sent a heartbeat and then nothing for {silent_for} s (its process "
            "or machine died) is marked Crashed. ESS frees the payroll database itself once the "
            "job's lease runs out. Managed by `ess-sync prefect setup`."
        ),
        trigger=EventTrigger(
            match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
            for_each={"prefect.resource.id"},
            after={"prefect.flow-run.heartbeat"},
            # Any flow-run event is a sign of life, not only the documented terminal names:
            # state events are named by state *name*, and our flows end in named states
            # such as TimedOut, which a list of Completed/Failed/Crashed would not match.
            expect={"prefect.flow-run.*"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=silent_for),
        ),
        actions=[
            ChangeFlowRunState(
                name=None,
                state=StateType.CRASHED,
                message=f"No heartbeat for {silent_for} s: the flow run's process is gone.",
                # Unforced, so a run that did end (its last event lost) keeps its real state.
                force=False,
            )
        ],
    )


def ensure_zombie_automation(heartbeat_every: int) -> str:
    """Create or update the zombie-run automation; 'created', 'updated' or 'unchanged'."""
    wanted = zombie_automation(heartbeat_every)
    with get_client(sync_client=True) as client:
        existing = client.read_automations_by_name(ZOMBIE_AUTOMATION)
        if not existing:
            client.create_automation(wanted)
            return "created"
        first, *duplicates = existing
        # Two setups racing on a fresh server can both create it; one is enough.
        for duplicate in duplicates:
            client.delete_automation(duplicate.id)
        if _comparable(first) == _comparable(wanted) and not duplicates:
            return "unchanged"
        client.update_automation(first.id, wanted)
        return "updated"


def _comparable(automation: AutomationCore) -> dict[str, Any]:
    return automation.model_dump(include=set(AutomationCore.model_fields) - {"owner_resource"})

"""One Prefect deployment per payroll database and job kind, kept up to date from ESS.

`sync-from-payroll/<database>` and `sync-leave-balances/<database>` have the database fixed
in their parameters (Run in the Prefect UI is one click), the schedules ESS keeps
(`ess-sync schedule`) and one concurrency limit of 1 between them (orchestration/limits.py).
deployments/prefect.yaml declares none of them, so `prefect deploy --all` never touches
them; `ess-sync prefect deploy` brings them all in line with ESS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate, DeploymentUpdate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
from prefect.client.schemas.objects import DeploymentSchedule
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.schedules import CronSchedule
from prefect.exceptions import ObjectNotFound
from prefect.utilities.callables import parameter_schema

from core.schedules import DEFAULT_TIMEZONE, Schedule
from ess.store.registry import list_databases
from ess.store.schedules import all_schedules, schedules_of
from jobs.kinds import RECONCILE, SYNC_FROM_PAYROLL, SYNC_LEAVE_BALANCES, JobKind
from orchestration.limits import (
    ensure_limit,
    limit_name,
    our_limits,
    point_at_limit,
    read_limit,
    remove_limit,
    uses_limit,
)
from orchestration.setup import WORK_POOL

REPO = Path(__file__).resolve().parent.parent
PER_DATABASE: tuple[JobKind, ...] = (SYNC_FROM_PAYROLL, SYNC_LEAVE_BALANCES, RECONCILE)
# Reconcile runs weekly once someone switches it on (`ess-sync schedule` or the Prefect UI).
RECONCILE_WEEKLY = "0 3 * * 0"
# Every per-database deployment carries it, so ours are found without guessing by name.
MANAGED_TAG = "ess-sync:per-database"
DATABASE_TAG = "database:"
# The one schedule of a deployment that ESS owns; others (added in the UI) are left alone.
SCHEDULE_SLUG = "ess-sync"
CREATED, UPDATED, UNCHANGED, REMOVED = "created", "updated", "unchanged", "removed"
# The one deployment per flow for all databases that releases before 0.4 made.
LEGACY_DEPLOYMENT = "process-worker"
LIMIT = "Concurrency limit"


class NotSetUp(RuntimeError):
    """The Prefect server has no ess-sync work pool: `ess-sync prefect setup` never ran there."""


@dataclass(frozen=True)
class DeploymentChange:
    """What bringing one deployment up to date did to it."""

    deployment: str
    outcome: str
    what: str = "Deployment"


def deployment_name(kind: JobKind, database: str) -> str:
    """flow-name/deployment-name of a database's deployment, e.g. sync-from-payroll/acme."""
    return f"{kind.name}/{database}"


def entrypoint(kind: JobKind) -> str:
    """The flow's entrypoint relative to the repo root, as deployments/prefect.yaml writes it."""
    module, _, function = kind.flow.partition(":")
    return f"{module.replace('.', '/')}.py:{function}"


def deploy_database(database: str) -> list[DeploymentChange]:
    """Create or update the database's deployments and apply its schedules from ESS."""
    by_kind = {s.kind: s for s in schedules_of(database)}
    with get_client(sync_client=True) as client:
        _require_pool(client)
        return _deploy_database(client, database, by_kind)


def deploy_all() -> list[DeploymentChange]:
    """Bring every registered database's deployments up to date; remove unregistered ones'."""
    registered = [d.name for d in list_databases()]
    schedules = all_schedules()
    changes: list[DeploymentChange] = []
    with get_client(sync_client=True) as client:
        _require_pool(client)
        for database in registered:
            by_kind = {s.kind: s for s in schedules.get(database, [])}
            changes += _deploy_database(client, database, by_kind)
        for deployment, database in _managed(client):
            if database not in registered:
                changes.append(_remove(client, deployment, database))
        changes += _remove_legacy(client)
        for owner in our_limits(client):
            if owner not in registered:
                remove_limit(client, owner)
                changes.append(DeploymentChange(limit_name(owner), REMOVED, LIMIT))
    return changes


def remove_database_deployments(database: str) -> list[DeploymentChange]:
    """Delete the database's deployments (for `databases remove`); their run history stays."""
    with get_client(sync_client=True) as client:
        had_limit = read_limit(client, database) is not None
        changes = [_remove(client, d, db) for d, db in _managed(client) if db == database]
        # Deleting a deployment deletes its limit too: whichever went, the limit is gone.
        remove_limit(client, database)
        if had_limit:
            changes.append(DeploymentChange(limit_name(database), REMOVED, LIMIT))
        return changes


def _schedule(kind: JobKind, database: str, kept: dict[str, Schedule]) -> Schedule | None:
    """The schedule ESS keeps for the kind; reconcile's default is weekly and off."""
    if kind.name in kept or kind is not RECONCILE:
        return kept.get(kind.name)
    return Schedule(database, kind.name, RECONCILE_WEEKLY, DEFAULT_TIMEZONE, active=False)


def _require_pool(client: SyncPrefectClient) -> None:
    try:
        client.read_work_pool(WORK_POOL)
    except ObjectNotFound:
        raise NotSetUp(
            f"The Prefect server has no {WORK_POOL!r} work pool to run deployments on: run "
            "`ess-sync prefect setup`, then `ess-sync prefect deploy`."
        ) from None


def _deploy_database(
    client: SyncPrefectClient, database: str, by_kind: dict[str, Schedule]
) -> list[DeploymentChange]:
    """The database's deployments, its concurrency limit, and every deployment held to it."""
    changes = [
        _deploy(client, kind, database, _schedule(kind, database, by_kind)) for kind in PER_DATABASE
    ]
    limit_id, outcome = ensure_limit(client, database)
    for index, change in enumerate(changes):
        deployment = client.read_deployment_by_name(change.deployment)
        if not uses_limit(deployment, limit_id):
            point_at_limit(client, deployment.id, limit_id)
            if change.outcome == UNCHANGED:
                changes[index] = DeploymentChange(change.deployment, UPDATED)
    return [DeploymentChange(limit_name(database), outcome, LIMIT), *changes]


def _remove_legacy(client: SyncPrefectClient) -> list[DeploymentChange]:
    """Delete the one-for-all-databases deployments of our flows that older releases made."""
    removed = []
    for kind in PER_DATABASE:
        name = deployment_name(kind, LEGACY_DEPLOYMENT)
        try:
            legacy = client.read_deployment_by_name(name)
        except ObjectNotFound:
            continue
        client.delete_deployment(legacy.id)
        removed.append(DeploymentChange(name, REMOVED))
    return removed


def _deploy(
    client: SyncPrefectClient, kind: JobKind, database: str, schedule: Schedule | None
) -> DeploymentChange:
    name = deployment_name(kind, database)
    wanted = _wanted(kind, database)
    try:
        existing = client.read_deployment_by_name(name)
    except ObjectNotFound:
        client.create_deployment(
            flow_id=client.create_flow_from_name(kind.name),
            name=database,
            schedules=[_schedule_create(schedule)] if schedule else [],
            **wanted,
        )
        return DeploymentChange(name, CREATED)
    changed = _differs(existing, wanted)
    if changed:
        client.update_deployment(existing.id, DeploymentUpdate(**wanted))
    changed = _apply_schedule(client, existing.id, existing.schedules, schedule) or changed
    return DeploymentChange(name, UPDATED if changed else UNCHANGED)


def _wanted(kind: JobKind, database: str) -> dict[str, Any]:
    # job_id stays out of the form: the flow marks it SkipJsonSchema.
    return {
        "description": f"{kind.label} of the payroll database {database}.",
        "entrypoint": entrypoint(kind),
        "work_pool_name": WORK_POOL,
        "parameters": {"database": database},
        "tags": sorted(["ess-sync", "payroll", MANAGED_TAG, f"{DATABASE_TAG}{database}"]),
        "parameter_openapi_schema": parameter_schema(kind.flow_function()).model_dump_for_openapi(),
        # As deployments/prefect.yaml's pull step: workers run the code of this checkout.
        "pull_steps": [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
        ],
    }


def _differs(existing: DeploymentResponse, wanted: dict[str, Any]) -> bool:
    found = {
        "description": existing.description,
        "entrypoint": existing.entrypoint,
        "work_pool_name": existing.work_pool_name,
        "parameters": existing.parameters,
        "tags": sorted(existing.tags),
        "parameter_openapi_schema": existing.parameter_openapi_schema,
        "pull_steps": existing.pull_steps,
    }
    return found != wanted


def _schedule_create(schedule: Schedule) -> DeploymentScheduleCreate:
    return DeploymentScheduleCreate(
        schedule=CronSchedule(cron=schedule.cron, timezone=schedule.timezone),
        active=schedule.active,
        slug=SCHEDULE_SLUG,
    )


def _apply_schedule(
    client: SyncPrefectClient,
    deployment_id: UUID,
    present: list[DeploymentSchedule],
    schedule: Schedule | None,
) -> bool:
    """Make ESS's schedule the deployment's own; whether anything changed."""
    ours = [s for s in present if s.slug == SCHEDULE_SLUG]
    if schedule is None or len(ours) > 1:
        for extra in ours:
            client.delete_deployment_schedule(deployment_id, extra.id)
        if schedule is None:
            return bool(ours)
        ours = []
    if not ours:
        client.create_deployment_schedules(deployment_id, [_schedule_create(schedule)])
        return True
    current = ours[0]
    same = (
        isinstance(current.schedule, CronSchedule)
        and current.schedule.cron == schedule.cron
        and current.schedule.timezone == schedule.timezone
        and current.active == schedule.active
    )
    if not same:
        # Switching a schedule off also deletes the runs it had scheduled (Prefect's server).
        client.update_deployment_schedule(
            deployment_id,
            current.id,
            active=schedule.active,
            schedule=CronSchedule(cron=schedule.cron, timezone=schedule.timezone),
        )
    return not same


def _managed(client: SyncPrefectClient) -> list[tuple[DeploymentResponse, str]]:
    """Every per-database deployment on the server, with the database it runs."""
    found = client.read_deployments(
        deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[MANAGED_TAG]))
    )
    managed = []
    for deployment in found:
        databases = [t[len(DATABASE_TAG) :] for t in deployment.tags if t.startswith(DATABASE_TAG)]
        if len(databases) == 1:
            managed.append((deployment, databases[0]))
    return managed


def _remove(
    client: SyncPrefectClient, deployment: DeploymentResponse, database: str
) -> DeploymentChange:
    client.delete_deployment(deployment.id)
    flow = client.read_flow(deployment.flow_id)
    return DeploymentChange(f"{flow.name}/{deployment.name}", REMOVED)

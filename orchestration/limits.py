"""One Prefect global concurrency limit of 1 per payroll database, shared by its deployments.

With collision strategy CANCEL_NEW, Prefect's server cancels a second run of the database
as it asks to go Pending, before any worker starts a process for it, and the UI's
Concurrency page shows the database held. ESS's job lease stays the guard that counts.

Prefect deletes a deployment's concurrency limit with the deployment: deleting one of the
two deletes the shared one, so `ess-sync prefect deploy` (re)creates it and points both
deployments at it every time.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.client.schemas.objects import ConcurrencyLimitStrategy
from prefect.client.schemas.responses import DeploymentResponse, GlobalConcurrencyLimitResponse
from prefect.exceptions import ObjectNotFound

# Database names are [a-z][a-z0-9_]*: nothing Prefect's names forbid (/ % & > <).
LIMIT_PREFIX = "ess-sync-database-"
CANCEL_NEW = ConcurrencyLimitStrategy.CANCEL_NEW
PAGE = 200  # the most Prefect's server returns at once
CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


def limit_name(database: str) -> str:
    """The name of the database's concurrency limit, e.g. ess-sync-database-acme_payroll."""
    return f"{LIMIT_PREFIX}{database}"


def database_of_limit(name: str) -> str | None:
    """The database a concurrency limit is for, or None when it is not one of ours."""
    return name[len(LIMIT_PREFIX) :] if name.startswith(LIMIT_PREFIX) else None


def read_limit(client: SyncPrefectClient, database: str) -> GlobalConcurrencyLimitResponse | None:
    """The database's limit as the server has it now, or None."""
    try:
        return client.read_global_concurrency_limit_by_name(limit_name(database))
    except ObjectNotFound:
        return None


def our_limits(client: SyncPrefectClient) -> dict[str, GlobalConcurrencyLimitResponse]:
    """Every database's concurrency limit on the server, by database."""
    found: dict[str, GlobalConcurrencyLimitResponse] = {}
    offset = 0
    while True:
        page = client.read_global_concurrency_limits(limit=PAGE, offset=offset)
        for limit in page:
            database = database_of_limit(limit.name)
            if database is not None:
                found[database] = limit
        if len(page) < PAGE:
            return found
        offset += PAGE


def release_slots(client: SyncPrefectClient, database: str, slots: int) -> None:
    """Give back slots of the database's limit (never below 0: Prefect's server clamps)."""
    response = client.request(
        "POST",
        "/v2/concurrency_limits/decrement",
        json={"names": [limit_name(database)], "slots": slots},
    )
    response.raise_for_status()


def ensure_limit(client: SyncPrefectClient, database: str) -> tuple[UUID, str]:
    """Create the database's limit, or make it a limit of 1 again; its id and what changed."""
    found = read_limit(client, database)
    if found is None:
        created = client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=limit_name(database), limit=1)
        )
        return created, CREATED
    if found.limit == 1 and found.active:
        return found.id, UNCHANGED
    client.update_global_concurrency_limit(
        limit_name(database), GlobalConcurrencyLimitUpdate(limit=1, active=True)
    )
    return found.id, UPDATED


def uses_limit(deployment: DeploymentResponse, limit_id: UUID) -> bool:
    """Whether the deployment counts against that limit and cancels a run that finds it full."""
    options = deployment.concurrency_options
    return (
        deployment.global_concurrency_limit is not None
        and deployment.global_concurrency_limit.id == limit_id
        and options is not None
        and options.collision_strategy == CANCEL_NEW
    )


def point_at_limit(client: SyncPrefectClient, deployment_id: UUID, limit_id: UUID) -> None:
    """Make the deployment count its runs against the limit, cancelling one that finds it full."""
    # Prefect 3.9's client DeploymentUpdate has no global_concurrency_limit_id; its server's
    # does (models/deployments.py stores it as the deployment's concurrency_limit_id).
    payload: dict[str, Any] = {
        "global_concurrency_limit_id": str(limit_id),
        "concurrency_options": {"collision_strategy": CANCEL_NEW.value},
    }
    response = client.request(
        "PATCH", "/deployments/{id}", path_params={"id": deployment_id}, json=payload
    )
    response.raise_for_status()


def remove_limit(client: SyncPrefectClient, database: str) -> bool:
    """Delete the database's limit; whether there was one."""
    try:
        client.delete_global_concurrency_limit_by_name(limit_name(database))
    except ObjectNotFound:
        return False
    return True

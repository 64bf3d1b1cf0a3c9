"""One run per payroll database at a time, shown and enforced by Prefect, and never blocked
by a slot Prefect leaked for longer than ESS's own lease. Real server, worker, PostgreSQL.

A run is held mid-step by an ACCESS EXCLUSIVE lock on the payroll tables it reads (as
tests/faults does), so "while one runs" never depends on how fast the machine is.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from uuid import UUID

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

from ess.database import ess_engine
from ess.schema import sync_job
from ess.settings import settings
from ess.store.holders import jobs_of_runs
from generator import build_payroll
from tests.conftest import _create_postgres_database, _drop_postgres_database, postgres_url
from tests.integration.conftest import (
    RUN_TIMEOUT,
    PrefectWorld,
    ess_sync,
    ok,
    run,
    start_service,
    wait_for,
    words,
)

pytestmark = pytest.mark.postgres

DATABASE = "busy_payroll"
SYNC = f"sync-from-payroll/{DATABASE}"
LEAVE = f"sync-leave-balances/{DATABASE}"
LIMIT = f"ess-sync-database-{DATABASE}"
# The promise: a leaked slot blocks a database no longer than ESS's lease + 30 s.
AFTER_LEASE_SECONDS = 30


@pytest.fixture(scope="module")
def busy(prefect_world: PrefectWorld) -> Iterator[str]:
    """A small payroll on PostgreSQL registered as busy_payroll; its URL."""
    name = _create_postgres_database("ess_busy")
    url = postgres_url(name)
    engine = sa.create_engine(url)
    build_payroll(engine, employees=20)
    engine.dispose()
    added = words(ok(run(ess_sync("databases", "add", DATABASE, "--url", url), prefect_world.env)))
    assert f"Concurrency limit {LIMIT}: created." in added, added
    yield url
    removed = ok(run(ess_sync("databases", "remove", DATABASE, "--yes"), prefect_world.env))
    assert f"Concurrency limit {LIMIT}: removed." in words(removed), removed
    _drop_postgres_database(name)


@contextmanager
def payroll_locked(url: str) -> Iterator[None]:
    """Every run of the database waits on its payroll tables until the block ends.

    Every table: a re-sync of a synced payroll reads the change feed and the lookups and,
    finding no change, never reads `employee`; with only that locked it ended at once.
    """
    u = sa.make_url(url)
    with psycopg.connect(
        f"host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}"
    ) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        names = sql.SQL(", ").join(sql.Identifier(name) for (name,) in tables)
        conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(names))
        yield
        conn.rollback()


def start(world: PrefectWorld, name: str) -> UUID:
    """A run of the deployment, as Run > Quick run makes it; its id."""
    from prefect.client.orchestration import get_client

    with world.api(), get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name(name)
        return client.create_flow_run_from_deployment(deployment.id).id


def flow_run(world: PrefectWorld, run_id: UUID) -> Any:
    from prefect.client.orchestration import get_client

    with world.api(), get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)


def state_types(world: PrefectWorld, run_id: UUID) -> list[str]:
    """Every state the run has been in, oldest first."""
    from prefect.client.orchestration import get_client

    with world.api(), get_client(sync_client=True) as client:
        return [s.type.value for s in client.read_flow_run_states(run_id)]


def the_limit(world: PrefectWorld) -> Any:
    from prefect.client.orchestration import get_client

    with world.api(), get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(LIMIT)


def in_state(world: PrefectWorld, run_id: UUID, *types: str) -> Any:
    found = flow_run(world, run_id)
    return found if found.state is not None and found.state.type.value in types else None


def test_prefect_deploy_remakes_a_deleted_limit_and_removes_the_old_process_worker_syncs(
    prefect_world, busy
):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy
    from prefect.exceptions import ObjectNotFound

    with prefect_world.api(), get_client(sync_client=True) as client:
        for flow, entrypoint in (
            ("sync-from-payroll", "flows/sync_from_payroll.py:sync_from_payroll"),
            ("sync-leave-balances", "flows/sync_leave_balances.py:sync_leave_balances"),
        ):
            client.create_deployment(
                flow_id=client.create_flow_from_name(flow),
                name="process-worker",
                entrypoint=entrypoint,
                work_pool_name="ess-sync",
            )
        # Deleting one deployment in the UI deletes the limit both share (Prefect's doing).
        client.delete_deployment(client.read_deployment_by_name(LEAVE).id)
        with pytest.raises(ObjectNotFound):
            client.read_global_concurrency_limit_by_name(LIMIT)

    deployed = words(ok(run(ess_sync("prefect", "deploy"), prefect_world.env)))
    assert f"Concurrency limit {LIMIT}: created." in deployed, deployed
    assert f"Deployment {LEAVE}: created." in deployed, deployed
    assert f"Deployment {SYNC}: updated." in deployed, deployed
    assert "Deployment sync-from-payroll/process-worker: removed." in deployed, deployed
    assert "Deployment sync-leave-balances/process-worker: removed." in deployed, deployed
    with prefect_world.api(), get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(LIMIT)
        for name in (SYNC, LEAVE):
            deployment = client.read_deployment_by_name(name)
            assert deployment.global_concurrency_limit.id == limit.id
            strategy = deployment.concurrency_options.collision_strategy
            assert strategy == ConcurrencyLimitStrategy.CANCEL_NEW
        # Not ours to touch: the retention deployment of deployments/prefect.yaml.
        client.read_deployment_by_name("web-api-log-retention/process-worker")
        with pytest.raises(ObjectNotFound):
            client.read_deployment_by_name("sync-from-payroll/process-worker")

    again = words(ok(run(ess_sync("prefect", "deploy"), prefect_world.env)))
    assert f"Concurrency limit {LIMIT}: unchanged." in again, again
    assert f"Deployment {SYNC}: unchanged." in again and f"Deployment {LEAVE}: unchanged." in again
    # Nothing runs and nothing leaked: the one-shot reconciler says so and changes nothing.
    released = words(ok(run(ess_sync("prefect", "release-slots"), prefect_world.env)))
    assert released == "No leaked slot: every database's concurrency slots match ESS.", released


@pytest.mark.parametrize("second", [SYNC, LEAVE], ids=["same deployment", "the other kind"])
def test_a_second_run_of_a_busy_database_is_cancelled_by_prefect_before_it_starts(
    prefect_world, busy, second
):
    with payroll_locked(busy):
        first_id, second_id = start(prefect_world, SYNC), start(prefect_world, second)
        ended = wait_for(
            lambda: [r for r in (first_id, second_id) if in_state(prefect_world, r, "CANCELLED")],
            RUN_TIMEOUT,
            "one of two runs of one database to be cancelled",
            prefect_world.logs,
        )
        [cancelled_id] = ended
        running_id = second_id if cancelled_id == first_id else first_id
        wait_for(
            lambda: in_state(prefect_world, running_id, "RUNNING"),
            RUN_TIMEOUT,
            "the other run to be running",
            prefect_world.logs,
        )
        cancelled = flow_run(prefect_world, cancelled_id)
        assert "concurrency limit" in cancelled.state.message.lower(), cancelled.state
        # Cancelled by the server as it asked to go Pending: never Pending, never Running,
        # no worker started a process. (Prefect 3.9 stamps start_time on any final state.)
        assert state_types(prefect_world, cancelled_id) == ["SCHEDULED", "CANCELLED"]
        assert cancelled.run_count == 0
        assert jobs_of_runs([str(cancelled_id)]) == {}
        # The UI's Concurrency page: the database's limit, held.
        limit = the_limit(prefect_world)
        # Should the running run have ended already (its payroll not held), say what it went
        # through and what the server and worker said.
        running = flow_run(prefect_world, running_id)
        assert (limit.name, limit.limit, limit.active_slots) == (LIMIT, 1, 1), (
            f"running {running.name} ({running.deployment_id}): "
            f"{state_types(prefect_world, running_id)} {running.state.message!r}\n"
            + prefect_world.logs()
        )
    done = wait_for(
        lambda: in_state(prefect_world, running_id, "COMPLETED", "FAILED", "CRASHED"),
        RUN_TIMEOUT,
        "the running run to end",
        prefect_world.logs,
    )
    assert done.state.is_completed(), done.state.message
    assert the_limit(prefect_world).active_slots == 0


def _started_by_pid(run_id: UUID) -> int | None:
    """The pid of the process that took the ESS job for this run, once it has."""
    with ess_engine().connect() as conn:
        started_by = conn.execute(
            sa.select(sync_job.c.started_by).where(sync_job.c.flow_run_id == str(run_id))
        ).scalar_one_or_none()
    return int(started_by.rsplit(" pid ", 1)[1]) if started_by else None


def test_a_slot_leaked_by_a_killed_worker_and_a_restarted_server_is_released_within_the_lease(
    prefect_world, busy
):
    reconciler = start_service(
        "slots",
        ess_sync("prefect", "release-slots", "--every", "15"),
        prefect_world.env,
        prefect_world.home,
    )
    try:
        with payroll_locked(busy):
            killed_id = start(prefect_world, SYNC)
            pid = wait_for(
                lambda: _started_by_pid(killed_id),
                RUN_TIMEOUT,
                "the run to take its ESS job",
                prefect_world.logs,
            )
            # The machine's worker dies, and the run it started with it.
            assert prefect_world.worker is not None
            os.killpg(prefect_world.worker.process.pid, signal.SIGKILL)
            with suppress(ProcessLookupError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            killed_at = time.monotonic()
            prefect_world.worker.process.wait(timeout=10)
            prefect_world.worker.log_file.close()
        prefect_world.restart_server("server-restarted")
        prefect_world.start_worker("worker-restarted")
        # The server lost its leases: the slot stays taken, the run stays Running.
        assert the_limit(prefect_world).active_slots == 1
        assert in_state(prefect_world, killed_id, "RUNNING")

        deadline = settings().job_lease_seconds + AFTER_LEASE_SECONDS
        wait_for(
            lambda: the_limit(prefect_world).active_slots == 0,
            deadline - (time.monotonic() - killed_at),
            "the reconciler to release the leaked slot",
            lambda: prefect_world.logs() + reconciler.tail(),
        )
        released = time.monotonic()
        next_id = start(prefect_world, SYNC)
        # Prefect grants the deployment's slot as the worker moves the run to Pending: from
        # then on nothing blocks it. Within the bound it must get there; how long the worker
        # then takes to start a Python process is the machine's pace, not the slot's.
        wait_for(
            lambda: in_state(prefect_world, next_id, "PENDING", "RUNNING", "COMPLETED"),
            max(1, deadline - (time.monotonic() - killed_at)),
            "the next run to be given the slot",
            lambda: prefect_world.logs() + reconciler.tail(),
        )
        granted = time.monotonic() - killed_at
        wait_for(
            lambda: in_state(prefect_world, next_id, "RUNNING", "COMPLETED"),
            RUN_TIMEOUT,
            "the next run to start",
            lambda: prefect_world.logs() + reconciler.tail(),
        )
        started = time.monotonic() - killed_at
        print(f"\nFrom the kill to the slot released: {released - killed_at:.1f} s")
        print(f"From the kill to the next run given the slot: {granted:.1f} s (bound {deadline} s)")
        print(f"From the kill to the next run Running: {started:.1f} s")

        crashed = flow_run(prefect_world, killed_id)
        assert crashed.state.type.value == "CRASHED", crashed.state
        assert "stopped renewing its lease" in crashed.state.message
        assert "Marked flow run" in reconciler.tail() and DATABASE in reconciler.tail()
        done = wait_for(
            lambda: in_state(prefect_world, next_id, "COMPLETED", "FAILED", "CRASHED"),
            RUN_TIMEOUT,
            "the next run to end",
            prefect_world.logs,
        )
        assert done.state.is_completed(), done.state.message
    finally:
        reconciler.stop()

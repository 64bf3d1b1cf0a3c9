"""Fault injection against a real PostgreSQL: concurrent requests, killed connections,
blocked queries, a killed process and two databases at once. The Web API Log tells each story."""

import os
import re
import signal
import threading
import time

import pytest
import sqlalchemy as sa

from ess.database import ess_engine
from ess.schema import employee, sync_job
from ess.store.log import read_log
from flows.sync_from_payroll import sync_from_payroll
from tests.conftest import _create_postgres_database, _drop_postgres_database, postgres_url
from tests.faults.conftest import build_and_register, finish
from tests.support import wait_for

pytestmark = pytest.mark.postgres


def _lock(world, url, table):
    """Hold an ACCESS EXCLUSIVE lock on a table until the returned connection is closed."""
    conn = world.connect(url)
    conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    return conn


def _waiting_on_lock(world, url, query="%"):
    with world.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND query LIKE %s",
            (query,),
        ).fetchall()


def _jobs(database):
    with ess_engine().connect() as conn:
        return (
            conn.execute(
                sa.select(sync_job.c.status).where(sync_job.c.payroll_database == database)
            )
            .scalars()
            .all()
        )


def _messages(database):
    return [r.message for r in read_log(database, limit=1000)]


def _employee_count(database):
    with ess_engine().connect() as conn:
        return conn.execute(
            sa.select(sa.func.count())
            .select_from(employee)
            .where(employee.c.payroll_database == database)
        ).scalar_one()


def test_twenty_processes_at_once_one_runs_nineteen_are_told_it_is_running(world):
    build_and_register(world, "acme_payroll", 200)
    lock = _lock(world, world.payroll_url, "employee")
    processes = [world.cli("run", "acme_payroll") for _ in range(20)]
    wait_for(lambda: sum(p.poll() is not None for p in processes) >= 19, 120, "19 refusals")
    lock.close()
    outputs = [finish(p) for p in processes]
    codes = sorted(p.returncode for p in processes)
    assert codes == [0] + [3] * 19, outputs
    assert (
        sum("Job Not Started: a sync of acme_payroll is already running" in o for o in outputs)
        == 19
    )
    assert _jobs("acme_payroll") == ["completed"]
    assert sum(m.startswith("Job Not Started") for m in _messages("acme_payroll")) == 19
    assert _employee_count("acme_payroll") == 200


def test_twenty_threads_at_once_one_runs_nineteen_are_cancelled(world, monkeypatch):
    # A lease no starved beat can outlast: twenty flow runs starting in one process on two
    # loaded cores once kept the first job's heartbeat from landing for 4.8 s, past the
    # world's 4 s lease, and the next request rightly took the database over (CI on a slow
    # machine, 2026-12-05). What this test asks is that one job runs, not how leases expire.
    monkeypatch.setenv("ESS_JOB_LEASE_SECONDS", "60")
    build_and_register(world, "acme_payroll", 100)
    lock = _lock(world, world.payroll_url, "employee")
    barrier = threading.Barrier(20)
    states = []

    def request():
        barrier.wait()
        states.append(sync_from_payroll(database="acme_payroll", return_state=True))

    threads = [threading.Thread(target=request) for _ in range(20)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(states) >= 19, 120, "19 cancelled runs")
    finally:
        # Even when the wait fails: a run left waiting would write into the next test's world.
        lock.close()
        for t in threads:
            t.join(timeout=120)
    assert sorted(s.type.value for s in states) == ["CANCELLED"] * 19 + ["COMPLETED"]
    assert _jobs("acme_payroll") == ["completed"]


@pytest.mark.parametrize(
    "killed",
    [
        pytest.param("%", id="every read"),
        # Read beside the employees, on a connection of its own (tasks.employees._Duplicates).
        pytest.param("%HAVING COUNT%", id="the duplicate codes' read"),
    ],
)
def test_a_payroll_connection_killed_mid_read_is_retried_and_completes(world, killed):
    build_and_register(world, "acme_payroll", 300)
    lock = _lock(world, world.payroll_url, "employee")
    result = {}
    runner = threading.Thread(
        target=lambda: result.setdefault(
            "state", sync_from_payroll(database="acme_payroll", return_state=True)
        )
    )
    runner.start()
    waiting = wait_for(lambda: _waiting_on_lock(world, world.payroll_url, killed), 60, "the read")
    with world.connect(world.payroll_url, autocommit=True) as admin:
        for (pid,) in waiting:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    lock.close()
    runner.join(timeout=120)
    assert result["state"].is_completed()
    messages = _messages("acme_payroll")
    assert any(
        m.startswith("Retrying importing employees (attempt 2 of 4) after ") for m in messages
    ), messages
    assert "Imported employees: 300 added, 0 updated, 0 terminated, 0 unchanged, 0 rejected." in (
        messages
    )
    assert _employee_count("acme_payroll") == 300


def test_a_payroll_query_blocked_on_a_lock_times_out_and_frees_the_database(world):
    build_and_register(world, "acme_payroll", 50, query_timeout_seconds=1)
    lock = _lock(world, world.payroll_url, "employee")
    state = sync_from_payroll(database="acme_payroll", return_state=True)
    lock.close()
    assert state.is_failed() and state.name == "TimedOut"
    messages = _messages("acme_payroll")
    assert messages[-1].startswith("Job Timed Out after ") and messages[-1].endswith(" s.")
    assert "Retrying importing employees (attempt 4 of 4) after QueryCanceled." in messages
    assert _jobs("acme_payroll") == ["timed_out"]
    assert sync_from_payroll(database="acme_payroll", return_state=True).is_completed()
    assert _employee_count("acme_payroll") == 50


def test_a_job_past_its_time_limit_ends_timed_out_even_inside_a_driver_call(world):
    build_and_register(world, "acme_payroll", 50, job_timeout_seconds=2)
    lock = _lock(world, world.payroll_url, "employee")
    state = sync_from_payroll(database="acme_payroll", return_state=True)
    lock.close()
    assert state.name == "TimedOut"
    assert _messages("acme_payroll")[-1] in ("Job Timed Out after 2 s.", "Job Timed Out after 3 s.")
    assert _jobs("acme_payroll") == ["timed_out"]


def _inserting_employees(world):
    with world.connect(world.ess_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT 1 FROM pg_locks WHERE relation = 'employee'::regclass "
            "AND mode = 'RowExclusiveLock' AND granted"
        ).fetchall()


# Long enough for the early request below to start and ask while the killed job's lease is
# live: with the world's 4 s, a slow machine's CI started it after the lease had run out.
KILLED_LEASE_SECONDS = 20


def test_a_process_killed_mid_step_leaves_no_half_step_and_its_lease_expires(world, monkeypatch):
    monkeypatch.setenv("ESS_JOB_LEASE_SECONDS", str(KILLED_LEASE_SECONDS))
    world.env["ESS_JOB_LEASE_SECONDS"] = str(KILLED_LEASE_SECONDS)
    build_and_register(world, "acme_payroll", 30_000)
    victim = world.cli("run", "acme_payroll")
    wait_for(lambda: "Importing employees." in _messages("acme_payroll"), 120, "the step")
    wait_for(lambda: _inserting_employees(world), 60, "employee inserts under way")
    os.kill(victim.pid, signal.SIGKILL)
    finish(victim)
    wait_for(lambda: not _inserting_employees(world), 60, "PostgreSQL to roll the step back")
    assert _employee_count("acme_payroll") == 0
    early = world.cli("run", "acme_payroll")
    assert "already running" in finish(early)
    assert early.returncode == 3
    wait_for(
        lambda: _lease_expired("acme_payroll", KILLED_LEASE_SECONDS),
        KILLED_LEASE_SECONDS + 30,
        "the lease to expire",
    )
    late = world.cli("run", "acme_payroll")
    output = finish(late, 300)
    assert late.returncode == 0, output
    messages = _messages("acme_payroll")
    assert any(m.startswith("Job Abandoned: no heartbeat since ") for m in messages)
    assert messages[-1] == "Job Completed."
    assert _employee_count("acme_payroll") == 30_000
    assert sorted(_jobs("acme_payroll")) == ["abandoned", "completed"]


def _copying(admin):
    """The ESS sessions of a job busy in a COPY, by their names."""
    return admin.execute(
        "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() "
        "AND application_name LIKE 'ess-sync job %%' AND state = 'active' "
        "AND query LIKE 'COPY%%'"
    ).fetchall()


def test_a_process_frozen_mid_copy_is_ended_by_the_job_that_takes_its_database(world):
    # Frozen inside its COPY, the job's session is busy, not idle in a transaction, so
    # PostgreSQL never times it out, and its uncommitted rows hold the same keys the next
    # job's first import copies: before the taker ended its sessions, that job waited on it.
    build_and_register(world, "acme_payroll", 10_000)
    frozen = world.cli("run", "acme_payroll")
    with world.connect(world.ess_url, autocommit=True) as admin:

        def stopped_in_its_copy():
            # Stopped first and looked at after: the COPY may last a fraction of a second.
            os.kill(frozen.pid, signal.SIGSTOP)
            if _copying(admin):
                return True
            os.kill(frozen.pid, signal.SIGCONT)
            if frozen.poll() is not None:
                pytest.fail(f"the sync ended before it was caught copying:\n{finish(frozen)}")
            time.sleep(0.005)
            return False

        taker = None
        try:
            wait_for(stopped_in_its_copy, 120, "the first import's COPY")
            (name,) = _copying(admin)[0]
            wait_for(lambda: _lease_expired("acme_payroll", 4), 30, "the lease to expire")
            taker = world.cli("run", "acme_payroll")
            output = finish(taker, 120)
            assert taker.returncode == 0, output
            assert not _copying(admin), "the frozen job's session outlived its job"
        finally:
            os.kill(frozen.pid, signal.SIGCONT)
            if taker is not None and taker.poll() is None:
                taker.kill()  # still waiting on the frozen job: the test has failed
                finish(taker)
    frozen_output = finish(frozen)
    assert frozen.returncode == 1, frozen_output
    assert "Job Lost Its Lease: another job took acme_payroll at " in frozen_output
    rows = read_log(job_id=int(name.removeprefix("ess-sync job ")), limit=100)
    # Its COPY failed as it woke; it asked ESS before retrying and found its database taken.
    assert not any(r.message.startswith("Retrying") for r in rows), rows
    last = [r.message for r in rows][-3:]
    assert last[0].startswith("Job Abandoned: no heartbeat since "), last
    # Its COPY's session, and any other it had open (a pooled one, idle, for the log).
    assert re.fullmatch(
        r"Ended [1-9]\d* ESS sessions? the abandoned job left open: "
        r"what it had not committed is rolled back\.",
        last[1],
    ), last
    assert last[2].startswith("Job Lost Its Lease: another job took acme_payroll at "), last
    assert _employee_count("acme_payroll") == 10_000
    assert sorted(_jobs("acme_payroll")) == ["abandoned", "completed"]


def _lease_expired(database, lease_seconds):
    with ess_engine().connect() as conn:
        beat = conn.execute(
            sa.select(sa.func.max(sync_job.c.heartbeat_at)).where(
                sync_job.c.payroll_database == database, sync_job.c.status == "running"
            )
        ).scalar_one()
    from datetime import UTC, datetime, timedelta

    return beat is not None and datetime.now(UTC) - beat > timedelta(seconds=lease_seconds + 0.5)


def test_two_databases_synced_at_the_same_time_both_complete_apart(world):
    build_and_register(world, "acme_payroll", 400)
    other_db = _create_postgres_database("payroll_fault_b")
    try:
        build_and_register(world, "beta_payroll", 250, url=postgres_url(other_db))
        processes = [world.cli("run", "acme_payroll"), world.cli("run", "beta_payroll")]
        outputs = [finish(p, 300) for p in processes]
        assert [p.returncode for p in processes] == [0, 0], outputs
        assert _employee_count("acme_payroll") == 400
        assert _employee_count("beta_payroll") == 250
        assert _jobs("acme_payroll") == ["completed"] and _jobs("beta_payroll") == ["completed"]
        assert not any("beta" in m for m in _messages("acme_payroll"))
    finally:
        _drop_postgres_database(other_db)

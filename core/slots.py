"""Which of a payroll database's Prefect concurrency slots are held, and which leaked.

Each database's deployments share one Prefect concurrency limit of 1. A slot is taken when
a run goes Pending and given back when it ends; a worker killed with SIGKILL or a Prefect
server restarted mid-run (its leases live in memory) leaves a slot taken with no run behind
it. ESS's job lease stays the guard that counts: a slot is released once ESS says nothing
holds the database and no run is about to take it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

PENDING, RUNNING, CANCELLING = "PENDING", "RUNNING", "CANCELLING"
# What ESS says of the job a flow run took (if it took one).
JOB_LIVE, JOB_DEAD, JOB_ENDED, NO_JOB = "live", "dead", "ended", "none"
# A run takes its slot (Pending) seconds before it takes its ESS job: a worker starts a
# process, the process imports the flow. Until then ESS says the database is free.
STARTING_GRACE = timedelta(seconds=60)


@dataclass(frozen=True)
class SeenRun:
    """A flow run of the database's deployments that Prefect shows Pending, Running or
    Cancelling, and what ESS says of its job."""

    id: str
    name: str
    state: str
    changed_at: datetime
    job: str = NO_JOB
    job_id: int | None = None


@dataclass(frozen=True)
class SlotDecision:
    """What to do with one database's slots: the runs to mark Crashed (each gives its slot
    back as it ends), then how many slots to release."""

    crash: tuple[SeenRun, ...] = ()
    release: int = 0

    @property
    def nothing(self) -> bool:
        """True when the database's slots are as they should be."""
        return not self.crash and self.release == 0


def decide_slots(
    active_slots: int,
    ess_busy: bool,
    runs: tuple[SeenRun, ...] | list[SeenRun],
    now: datetime,
    grace: timedelta = STARTING_GRACE,
) -> SlotDecision:
    """Which runs to mark Crashed and how many slots to release.

    A run left Running whose ESS job is dead (its lease ran out) is Crashed. Slots are
    released only when ESS holds no live job on the database, and never the slot of a run
    that is starting: Pending or Running, no ESS job yet, its state changed within `grace`.
    """
    crash = tuple(r for r in runs if r.state == RUNNING and r.job == JOB_DEAD)
    if ess_busy:
        return SlotDecision(crash)
    starting = sum(1 for r in runs if r.job == NO_JOB and now - r.changed_at < grace)
    # Each crashed run gives its own slot back as Prefect ends it.
    left = max(0, active_slots - len(crash))
    return SlotDecision(crash, max(0, left - starting))


def crash_message(run: SeenRun) -> str:
    """The message of a run marked Crashed because its ESS job died."""
    job = f"job {run.job_id}" if run.job_id is not None else "its job"
    return (
        f"Its process died: {job} in ESS stopped renewing its lease, so ess-sync ended "
        "the run and gave back its concurrency slot."
    )

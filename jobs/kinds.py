"""The kinds of job, in one table: adding a kind is one entry here and its flow."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from core import steps
from core.steps import Step


@dataclass(frozen=True)
class JobKind:
    """One kind of job: what it is called everywhere, its flow and its steps."""

    name: str
    """The flow's name and `sync_job.kind`, e.g. sync-from-payroll."""
    label: str
    """How the page and messages say it, e.g. Sync from Payroll."""
    command: str
    """The `ess-sync` command that runs it."""
    flow: str
    """"module:function" of its Prefect flow (imported only when a job runs)."""
    steps: tuple[Step, ...]
    """Its steps in order: the progress artifact counts them."""
    last_done_column: str | None = None
    """The payroll_database column that a completed job moves to its end time."""

    def flow_function(self) -> Any:
        """The Prefect flow that runs this kind of job (imports Prefect)."""
        module, _, function = self.flow.partition(":")
        return getattr(importlib.import_module(module), function)


SYNC_FROM_PAYROLL = JobKind(
    "sync-from-payroll",
    "Sync from Payroll",
    "run",
    "flows.sync_from_payroll:sync_from_payroll",
    steps.SYNC_FROM_PAYROLL,
    "last_sync_from_payroll",
)
SYNC_LEAVE_BALANCES = JobKind(
    "sync-leave-balances",
    "leave-balance sync",
    "leave-balances",
    "flows.sync_leave_balances:sync_leave_balances",
    steps.SYNC_LEAVE_BALANCES,
    "last_leave_balance_sync",
)

RECONCILE = JobKind(
    "reconcile",
    "reconciliation",
    "reconcile",
    "flows.reconcile:reconcile",
    steps.RECONCILE,
)

KINDS: dict[str, JobKind] = {k.name: k for k in (SYNC_FROM_PAYROLL, SYNC_LEAVE_BALANCES, RECONCILE)}


def database_tag(database: str) -> str:
    """The tag every flow run of this database carries, e.g. database:demo_payroll."""
    return f"database:{database}"


def kind_named(name: str) -> JobKind:
    """The kind of job by its name; ValueError naming the kinds there are."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(
            f"Unknown kind of job {name!r}: the kinds are {', '.join(KINDS)}."
        ) from None


def register(kind: JobKind) -> JobKind:
    """Add a kind of job (a test's throwaway kind, or a plug-in's)."""
    KINDS[kind.name] = kind
    return kind

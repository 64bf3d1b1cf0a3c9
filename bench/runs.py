"""The measured runs: per engine and size, the raw copy and each sync two ways, each in a child.

Each operation runs twice on the same data: as a flow call in a warm process (the data
phase, ESS database "warm") and as `ess-sync` in a whole process (ESS database "cli").
The two ESS databases go through the same operations in step, so both see the same change.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import payroll
from bench.databases import ScratchDatabases
from bench.report import (
    ALL_CHANGED_SYNC,
    CHANGED_SYNC,
    COMMANDS,
    EMPLOYEES,
    LEAVE,
    LEAVE_CHANGED,
    NO_CHANGE_SYNC,
    OPS,
    RECONCILING,
    TIMED_IN_EACH,
    ess_copies,
)
from bench.server import prefect_env

REPO = Path(__file__).resolve().parent.parent
# The warm-up payroll's ESS name sorts before every measured one's: a database's first
# import then adds its rows at the end of ESS's indexes, as in an ESS of one database and as
# the whole process (its ESS holds no warm-up) does. Named "bench_warmup", it sorted after
# "bench_postgresql_200000", and each leave balance went into the middle of the index: the
# leave first sync's warm call took 5.26-5.27 s against 4.25-4.26 s (200,000 employees).
WARMUP = "bench_0_warmup"
WARMUP_EMPLOYEES = 100
CHANGED_FRACTION = 0.01
# Later than anything the generator dates (its last pay day is 2025-06-26).
CHANGED_AT = datetime(2025, 7, 1)
ALL_CHANGED_AT = datetime(2025, 7, 2)
WORKER_TIMEOUT_SECONDS = 3 * 3600
NO_CHANGE_REPEATS = 3

FLOWS = {
    EMPLOYEES: ("sync-from-payroll", ["run"]),
    LEAVE: ("sync-leave-balances", ["leave-balances"]),
    RECONCILING: ("reconcile", ["reconcile"]),
}
"""Per kind of operation: the flow its data phase calls, the `ess-sync` command of its process."""
# `ess-sync reconcile` exits 1 when something differs: a measurement all the same.
PROCESS_EXIT_CODES = {RECONCILING: [0, 1]}

Say = Callable[[str], None]


@dataclass(frozen=True)
class Bench:
    """What every run shares: where to work, the Prefect server, PostgreSQL, what to print."""

    workdir: Path
    prefect_home: Path
    api_url: str
    postgres_url: str
    say: Say
    profile_dir: Path | None = None
    ess_copies: int | None = None
    """--ess-copies; None: report.ess_copies decides per engine and size."""


class WorkerFailed(RuntimeError):
    """A measured operation did not complete; the message ends with its output."""


def run_engine(bench: Bench, engine: str, sizes: list[int]) -> list[dict[str, Any]]:
    """Every size on one engine (payroll and ESS both on it); a run's figures per size."""
    runs = []
    with ScratchDatabases(engine, bench.workdir / engine, bench.postgres_url) as scratch:
        warmup_url = scratch.create("warmup")
        payroll.build(warmup_url, WARMUP_EMPLOYEES)
        for size in sizes:
            runs.append(_run_size(bench, scratch, warmup_url, size))
    return runs


def _run_size(
    bench: Bench, scratch: ScratchDatabases, warmup_url: str, size: int
) -> dict[str, Any]:
    engine = scratch.engine
    label = f"{engine} {size:,}"
    payroll_url = scratch.create(f"payroll_{size}")
    try:
        started = time.perf_counter()
        built = payroll.build(payroll_url, size)
        build_s = time.perf_counter() - started
        bench.say(f"{label}: payroll built ({built.leave_balances:,} balances) in {build_s:.1f} s")
        raw_url = scratch.create(f"raw_{size}")
        try:
            raw = _worker(
                bench,
                "raw",
                {"payroll_url": payroll_url, "ess_url": raw_url},
                {},
                f"{engine}_{size}_raw",
            )
        finally:
            scratch.drop(raw_url)
        bench.say(
            f"{label}: raw employees {raw['employees_s']:.2f} s, "
            f"raw balances {raw['balances_s']:.2f} s"
        )
        ess = {"warm": scratch.create(f"ess_warm_{size}"), "cli": scratch.create(f"ess_cli_{size}")}
        # The other ESS copies each of TIMED_IN_EACH is timed into (report.ESS_COPIES).
        again = [
            scratch.create(f"ess_again{n}_{size}")
            for n in range(2, ess_copies(engine, size, bench.ess_copies) + 1)
        ]
        name = f"bench_{engine}_{size}"
        for url in (ess["warm"], *again):
            _register(bench, url, {name: payroll_url, WARMUP: warmup_url})
        _register(bench, ess["cli"], {name: payroll_url})
        ops = []
        for op, kind in OPS:
            ops.append(_measure(bench, label, name, ess, again, payroll_url, op, kind))
            if op == TIMED_IN_EACH[-1]:
                # No later operation uses them: dropped, they take no room in the
                # server's cache while the rest are measured.
                for url in again:
                    scratch.drop(url)
        commands = _time_commands(bench, label, name, ess["cli"], 3 if size >= 10_000 else 1)
    finally:
        scratch.drop_all_but(warmup_url)
    return {
        "engine": engine,
        "employees": size,
        "leave_balances": built.leave_balances,
        "build_s": build_s,
        "raw": raw,
        "ops": ops,
        "commands": commands,
    }


def _time_commands(
    bench: Bench, label: str, name: str, ess_url: str, repeats: int
) -> dict[str, float]:
    """`ess-sync status` and `ess-sync log NAME` as whole processes, each the median of
    `repeats` runs (one in CI's small smoke run, three at the sizes the targets are for)."""
    argv = {"status": ["status"], "log": ["log", name]}
    seconds = {}
    for command in COMMANDS:
        runs = [
            _worker(
                bench,
                "cli",
                {"argv": argv[command], "exit_codes": [0]},
                {"ESS_DATABASE_URL": ess_url},
                f"{name}_{command}_{n}",
            )["seconds"]
            for n in range(repeats)
        ]
        seconds[command] = statistics.median(runs)
    bench.say(f"{label}: " + ", ".join(f"ess-sync {c} {s:.2f} s" for c, s in seconds.items()))
    return seconds


def _measure(
    bench: Bench,
    label: str,
    name: str,
    ess: dict[str, str],
    again: list[str],
    payroll_url: str,
    op: str,
    kind: str,
) -> dict[str, Any]:
    """One operation, as a flow call in a warm process, then as `ess-sync` in a whole one.

    An operation of TIMED_IN_EACH is also timed into each ESS of `again`, each in a warm
    process of its own: its data phase is then the median, its peak RSS the largest.
    """
    changed = None
    if op == CHANGED_SYNC:
        changed = payroll.change_employees(payroll_url, CHANGED_FRACTION, at=CHANGED_AT, seed=2)
    elif op == ALL_CHANGED_SYNC:
        changed = payroll.change_employees(payroll_url, 1.0, at=ALL_CHANGED_AT, seed=5)
    elif op == LEAVE_CHANGED:
        changed = payroll.change_leave_balances(payroll_url, CHANGED_FRACTION, seed=7)
    slug = f"{name}_{op.replace(' ', '_').replace('%', 'pct')}"
    flow, command = FLOWS[kind]
    args: dict[str, Any] = {"flow": flow, "database": name, "warmup": WARMUP}
    # The no-change re-sync's targets are absolute or near it (0.10x raw, its whole process
    # minus its data phase 2.5 s), and one run of it varies by a tenth of a second, one whole
    # process by a second (2.70 s at 200,000 and 1.45 s at 1,000,000 in one run): each is the
    # median of three, the calls in one warm process, the processes one after another.
    repeats = NO_CHANGE_REPEATS if op == NO_CHANGE_SYNC else 1
    args["repeat"] = repeats
    if bench.profile_dir is not None:
        bench.profile_dir.mkdir(parents=True, exist_ok=True)
        args["profile"] = str(bench.profile_dir / f"{slug}.prof")
    urls = [ess["warm"], *(again if op in TIMED_IN_EACH else [])]
    data = _data_phase(bench, args, urls, payroll_url, slug)
    payroll.checkpoint_at(payroll_url)
    processes = [
        _worker(
            bench,
            "cli",
            {"argv": [*command, name], "exit_codes": PROCESS_EXIT_CODES.get(kind, [0])},
            {"ESS_DATABASE_URL": ess["cli"]},
            f"{slug}_process{'' if n == 0 else n + 1}",
        )
        for n in range(repeats)
    ]
    process = {
        "seconds": statistics.median(p["seconds"] for p in processes),
        "runs_s": [p["seconds"] for p in processes],
        "peak_rss_mb": max(p["peak_rss_mb"] for p in processes),
        "exit_code": next((p["exit_code"] for p in processes if p["exit_code"]), 0),
    }
    bench.say(
        f"{label}: {op}: data phase {data['seconds']:.2f} s, "
        f"whole process {process['seconds']:.2f} s, peak RSS {data['peak_rss_mb']:.0f} MB"
    )
    return {
        "op": op,
        "kind": kind,
        "changed_in_payroll": changed,
        "data_s": data["seconds"],
        "data_runs_s": data["runs_s"],
        "process_s": process["seconds"],
        "process_runs_s": process["runs_s"],
        "data_peak_rss_mb": data["peak_rss_mb"],
        "process_peak_rss_mb": process["peak_rss_mb"],
        "warm_rss_mb": data["warm_rss_mb"],
        "counts": data["counts"],
        "process_exit_code": process["exit_code"],
    }


def _data_phase(
    bench: Bench, args: dict[str, Any], ess_urls: list[str], payroll_url: str, slug: str
) -> dict[str, Any]:
    """The flow call in a warm process on each ESS in turn; one call's figures, or their
    median (the peak RSS the largest) when there are several. Each must have done the same."""
    calls = []
    for n, url in enumerate(ess_urls, start=1):
        payroll.checkpoint_at(payroll_url)
        suffix = "" if n == 1 else f"_again{n}"
        env = {"ESS_DATABASE_URL": url}
        own = dict(args)
        if "profile" in args:
            own["profile"] = args["profile"].removesuffix(".prof") + f"{suffix}.prof"
        calls.append(_worker(bench, "flow", own, env, f"{slug}_data{suffix}"))
    if any(call["counts"] != calls[0]["counts"] for call in calls):
        counts = [call["counts"] for call in calls]
        raise WorkerFailed(f"{slug}: the ESS copies did not do the same: {counts}")
    if len(calls) == 1:
        return calls[0]
    return {
        **calls[0],
        "seconds": statistics.median(call["seconds"] for call in calls),
        "runs_s": [s for call in calls for s in call["runs_s"]],
        "peak_rss_mb": max(call["peak_rss_mb"] for call in calls),
        "warm_rss_mb": max(call["warm_rss_mb"] for call in calls),
    }


def _child_env(bench: Bench, extra: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **prefect_env(bench.prefect_home, bench.api_url)}
    env["ESS_DATA_DIR"] = str(bench.workdir / "ess-data")
    env.pop("ESS_CACHE_URL", None)  # the cache is a table of the ESS database
    return {**env, **extra}


def _worker(
    bench: Bench, op: str, args: dict[str, Any], env: dict[str, str], slug: str
) -> dict[str, Any]:
    logs = bench.workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log, result = logs / f"{slug}.log", logs / f"{slug}.json"
    args = {**args, "result": str(result), "output": str(log)}
    with open(log, "ab") as output:
        done = subprocess.run(
            [sys.executable, "-m", "bench.worker", op, json.dumps(args)],
            cwd=REPO,
            env=_child_env(bench, env),
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=WORKER_TIMEOUT_SECONDS,
            check=False,
        )
    if done.returncode != 0 or not result.exists():
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise WorkerFailed(f"{slug} failed (exit {done.returncode}):\n{tail}")
    figures: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
    return figures


def _register(bench: Bench, ess_url: str, databases: dict[str, str]) -> None:
    """Register payroll databases in one ESS database (the blocks go to the Prefect server)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from ess.database import dispose_engines
    from ess.store.registry import register_database

    previous = os.environ.get("ESS_DATABASE_URL")
    os.environ["ESS_DATABASE_URL"] = ess_url
    try:
        with temporary_settings({PREFECT_API_URL: bench.api_url}):
            for name, url in databases.items():
                register_database(name, url=url)
    finally:
        dispose_engines()
        if previous is None:
            os.environ.pop("ESS_DATABASE_URL", None)
        else:
            os.environ["ESS_DATABASE_URL"] = previous

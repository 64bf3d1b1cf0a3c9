"""One measured operation in a fresh process: `python -m bench.worker OP JSON_ARGS`.

Ops: `raw` (the raw copy), `flow` (a flow call in a warm process: everything imported and
a warm-up flow run on a tiny database first), `cli` (`ess-sync ...` as a whole process).
Each writes its figures, with the process's peak RSS, as JSON to args["result"].
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from core.results import JobResult

_KB_PER_MB = 1024  # ru_maxrss is in kilobytes on Linux


def peak_rss_mb() -> float:
    """This process's peak resident set size so far (MB): VmHWM, its memory's high-water mark.

    Not getrusage(RUSAGE_SELF).ru_maxrss: Linux carries that across exec, so a child started
    (vfork + exec) by the large benchmark process starts at the benchmark's own peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / _KB_PER_MB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / _KB_PER_MB


def children_peak_rss_mb() -> float:
    """The largest peak RSS (MB) of this process's waited-for children.

    Exact for a child of this small process: what ru_maxrss carries over exec is this
    process's own high-water mark, a few tens of MB.
    """
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / _KB_PER_MB


def current_rss_mb() -> float:
    """This process's resident set size now (MB)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_raw(args: dict[str, Any]) -> dict[str, Any]:
    """The raw copy; its figures and peak RSS."""
    from bench.raw import raw_copy

    figures = raw_copy(args["payroll_url"], args["ess_url"])
    return {**figures, "peak_rss_mb": peak_rss_mb()}


def _flows() -> dict[str, Any]:
    from flows.reconcile import reconcile
    from flows.sync_from_payroll import sync_from_payroll
    from flows.sync_leave_balances import sync_leave_balances

    return {
        "sync-from-payroll": sync_from_payroll,
        "sync-leave-balances": sync_leave_balances,
        "reconcile": reconcile,
    }


def _completed(state: Any, what: str) -> JobResult:
    if not state.is_completed():
        raise RuntimeError(f"{what} ended {state.name}: {state.message}")
    result: JobResult = state.result()
    return result


def _call(flow: Any, database: str) -> Any:
    """A flow call as `ess-sync` and the per-database deployments make it: its flow run
    created with the database's tag (else the flow adds it, one more call to Prefect)."""
    from jobs.start import tagged

    with tagged(database):
        return flow(database=database, return_state=True)


def run_flow(args: dict[str, Any]) -> dict[str, Any]:
    """Warm up on the tiny database, then time one flow call on the measured one."""
    flows = _flows()
    flow = flows[args["flow"]]
    # Warm: the sync and the measured flow have both run once in this process.
    _completed(_call(flows["sync-from-payroll"], args["warmup"]), "warm-up sync")
    if args["flow"] != "sync-from-payroll":
        _completed(_call(flow, args["warmup"]), "warm-up")
    warm_rss = current_rss_mb()
    profiler = _profiler(args.get("profile"))
    runs: list[float] = []
    # An operation that leaves nothing to do the next time (a re-sync with no change) can
    # run again on the same data: its median then says more than one sub-second run.
    for _ in range(args.get("repeat", 1)):
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        state = _call(flow, args["database"])
        if profiler is not None:
            profiler.disable()
        runs.append(time.perf_counter() - started)
        result = _completed(state, args["flow"])
    seconds = statistics.median(runs)
    if profiler is not None:
        profiler.dump_stats(args["profile"])
    counts = _counts(result)
    return {
        "seconds": seconds,
        "runs_s": runs,
        "peak_rss_mb": peak_rss_mb(),
        "warm_rss_mb": warm_rss,
        "counts": counts,
    }


def _counts(result: JobResult) -> dict[str, int]:
    """What the operation did: a sync's step counts; a reconcile's rows found different."""
    if result.kind == "reconcile":
        return {
            name: sum(step.count(name) for step in result.steps)
            for name in ("only in payroll", "only in ESS", "differing")
        }
    step = result.step("employees") or result.step("leave balances")
    return dict(step.counts) if step else {}


def _profiler(path: str | None) -> Any:
    if not path:
        return None
    import cProfile

    return cProfile.Profile()


def run_cli(args: dict[str, Any]) -> dict[str, Any]:
    """`python -m cli.main ARGS` as a whole process: wall time, exit code, peak RSS."""
    with open(args["output"], "ab") as output:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", *args["argv"]],
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
        seconds = time.perf_counter() - started
    if done.returncode not in args.get("exit_codes", [0]):
        raise RuntimeError(f"ess-sync {' '.join(args['argv'])} exited {done.returncode}")
    return {
        "seconds": seconds,
        "peak_rss_mb": children_peak_rss_mb(),
        "exit_code": done.returncode,
    }


OPS = {"raw": run_raw, "flow": run_flow, "cli": run_cli}


def main(argv: list[str]) -> int:
    """Run the op named by argv[0] with the JSON arguments argv[1]."""
    op, args = argv[0], json.loads(argv[1])
    figures = OPS[op](args)
    Path(args["result"]).write_text(json.dumps(figures), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

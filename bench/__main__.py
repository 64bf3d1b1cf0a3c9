"""`python -m bench`: the sync against the raw limit, on SQLite and PostgreSQL, in one run."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.databases import DEFAULT_POSTGRES_URL, ENGINES, postgres_problem
from bench.report import (
    COLUMNS,
    ESS_COPIES,
    TARGET_SIZE,
    check_targets,
    results_document,
    table_rows,
    target_rows,
)
from bench.server import free_port, prefect_env, prefect_server

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SIZES = "10000,200000"
# A run without --sizes also measures these on PostgreSQL only: the 1,000,000 targets are for
# ESS on PostgreSQL, and SQLite at that size would take the run past 15 minutes.
DEFAULT_POSTGRES_SIZES = "1000000"
QUICK_SIZE = 2000
# Wide enough for the table when the output is a file or a CI log, not a terminal.
console = Console(width=None if sys.stdout.isatty() else 160)


def _sizes(text: str) -> list[int]:
    sizes = [int(s.replace("_", "")) for s in text.split(",") if s.strip()]
    if not sizes or any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError("sizes are positive numbers of employees, e.g. 10000")
    return sizes


def _engines(text: str) -> list[str]:
    engines = [e.strip() for e in text.split(",") if e.strip()]
    unknown = set(engines) - set(ENGINES)
    if not engines or unknown:
        raise argparse.ArgumentTypeError(f"engines are {', '.join(ENGINES)}")
    return engines


def _positive_count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("a count of at least 1, e.g. 3")
    return int(text)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=None,
        help=f"employees per payroll, comma-separated, on every engine (default {DEFAULT_SIZES},"
        f" and {DEFAULT_POSTGRES_SIZES} on PostgreSQL only)",
    )
    parser.add_argument(
        "--engines", type=_engines, default=list(ENGINES), help="sqlite,postgresql (default both)"
    )
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_SIZE:,} employees on both engines (CI)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("bench/results/latest.json"),
        help="where the JSON goes (default bench/results/latest.json)",
    )
    parser.add_argument(
        "--postgres-url",
        default=DEFAULT_POSTGRES_URL,
        help="an admin URL of the PostgreSQL server to create databases on",
    )
    parser.add_argument(
        "--ess-copies",
        type=_positive_count,
        default=None,
        metavar="N",
        help="ESS databases per size the bulk operations (first syncs, 1%% and 100%% changed"
        " re-syncs, the reconcile) are each timed into, the median reported"
        f" (default {ESS_COPIES} on PostgreSQL at {TARGET_SIZE:,} employees and more, else 1)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="write a cProfile of each data-phase flow call to DIR",
    )
    args = parser.parse_args(argv)
    args.postgres_sizes = []
    if args.quick:
        args.sizes = [QUICK_SIZE]
    elif args.sizes is None:
        args.sizes = _sizes(DEFAULT_SIZES)
        args.postgres_sizes = _sizes(DEFAULT_POSTGRES_SIZES)
    return args


def engine_sizes(args: argparse.Namespace, engine: str) -> list[int]:
    """The sizes measured on one engine, smallest first."""
    extra = args.postgres_sizes if engine == "postgresql" else []
    return sorted({*args.sizes, *extra})


def main(argv: list[str]) -> int:
    """Run the benchmark; exit 0 when every measurement completed (targets met or not)."""
    args = parse_args(argv)
    if "postgresql" in args.engines and (problem := postgres_problem(args.postgres_url)):
        console.print(f"[bold red]Error:[/] {problem} (or run with --engines sqlite)")
        return 2
    started, started_at = time.perf_counter(), datetime.now(UTC)
    code, load_before = _code_version(), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ess-bench-") as temp:
        workdir = Path(temp)
        home = workdir / "prefect"
        port = free_port()
        # Before anything imports Prefect: no process of the run touches ~/.prefect.
        os.environ.update(prefect_env(home, f"http://127.0.0.1:{port}/api"))
        from bench.runs import Bench, WorkerFailed, run_engine

        runs: list[dict[str, Any]] = []
        try:
            with prefect_server(home, port) as api_url:
                console.log(f"Prefect server up at {api_url}")
                bench = Bench(
                    workdir,
                    home,
                    api_url,
                    args.postgres_url,
                    console.log,
                    args.profile,
                    args.ess_copies,
                )
                for engine in args.engines:
                    runs += run_engine(bench, engine, engine_sizes(args, engine))
        except WorkerFailed as failed:
            console.print(f"[bold red]A measurement failed:[/] {failed}", highlight=False)
            return 1
        finally:
            from ess.database import dispose_engines

            dispose_engines()
    about = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "total_s": time.perf_counter() - started,
        "sizes": args.sizes,
        "postgres_only_sizes": args.postgres_sizes,
        "engines": args.engines,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            # Other work on the machine slows every figure: the 1-minute load average.
            "load_before": load_before[0],
            "load_after": os.getloadavg()[0],
        },
        "code": {**code, "changed_during_run": _code_version() != code},
    }
    document = results_document(runs, about)
    _print(document["runs"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    console.print(f"Results: {args.out}  (whole run {about['total_s']:.0f} s)")
    return 0


def _code_version() -> dict[str, Any]:
    """The commit measured, and the files that differed from it (the tree moves under work)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout if done.returncode == 0 else ""

    # Porcelain lines are "XY path": two status letters (either may be a space), a space.
    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line]
    return {"commit": git("rev-parse", "HEAD").strip() or None, "uncommitted": changed}


def _print(runs: list[dict[str, Any]]) -> None:
    table = Table(title="ESS Payroll Sync benchmark: our sync against the raw limit")
    numeric = set(COLUMNS[3:])
    for column in COLUMNS:
        table.add_column(column, justify="right" if column in numeric else "left", no_wrap=True)
    previous = None
    for row in table_rows(runs):
        if previous is not None and row[:2] != previous:
            table.add_section()
        previous = row[:2]
        table.add_row(*row)
    console.print(table)
    targets = Table(title="Targets (ESS on PostgreSQL, data phase)")
    for column in ("target", "measured", "limit", "result"):
        targets.add_column(column)
    for row in target_rows(check_targets(runs)):
        style = {"met": "green", "NOT met": "red"}.get(row[3], "dim")
        targets.add_row(*row, style=style)
    console.print(targets)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`python -m bench` at its smallest size: it runs, reports every figure, and cleans up."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from bench import payroll
from bench.databases import ScratchDatabases
from bench.raw import raw_copy
from bench.report import (
    ALL_CHANGED_SYNC,
    CHANGED_SYNC,
    COMMANDS,
    FULL_SYNC,
    LEAVE_CHANGED,
    LEAVE_FIRST,
    NO_CHANGE_SYNC,
    OPS,
    OVERLAP_SYNC,
    RECONCILE,
    TIMED_IN_EACH,
)
from tests.conftest import POSTGRES_ADMIN_URL, suite_problem

REPO = Path(__file__).resolve().parents[2]
EMPLOYEES = 500
BALANCES = EMPLOYEES * 8


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _bench_databases() -> list[str]:
    engine = sa.create_engine(POSTGRES_ADMIN_URL)
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT datname FROM pg_database WHERE starts_with(datname, 'bench_')")
            return sorted(conn.execute(query).scalars())
    finally:
        engine.dispose()


def test_the_benchmark_measures_every_figure_and_leaves_nothing_behind(tmp_path: Path) -> None:
    # Every target is for ESS on PostgreSQL; the sync itself runs on SQLite in every other
    # suite, and the benchmark's own SQLite parts are tested below without its processes.
    engines = ["sqlite"] if suite_problem("postgres") else ["postgresql"]
    before = [] if "postgresql" not in engines else _bench_databases()
    out = tmp_path / "latest.json"
    command = [
        sys.executable,
        "-m",
        "bench",
        "--sizes",
        str(EMPLOYEES),
        "--engines",
        ",".join(engines),
        "--out",
        str(out),
        # The bulk operations each timed twice, each into an ESS of its own (three by default
        # where the targets are, at 200,000 employees and more on PostgreSQL).
        "--ess-copies",
        "2",
    ]
    # About 2 minutes on a quick day; 500 s of CI on a slow machine (2026-12-05), where 600
    # would have been one hiccup from failing a run that works.
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=1200, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "raw employees" in done.stdout and "Targets" in done.stdout

    document = json.loads(out.read_text(encoding="utf-8"))
    runs = {run["engine"]: run for run in document["runs"]}
    assert sorted(runs) == sorted(engines)
    for engine, run in runs.items():
        raw = run["raw"]
        for key in ("employees_s", "balances_s", "peak_rss_mb"):
            assert _positive(raw[key]), (engine, key, raw)
        assert (raw["employee_rows"], raw["balance_rows"]) == (EMPLOYEES, BALANCES)
        # The yardstick is the median of three raw copies.
        for key in ("employees", "balances"):
            assert len(raw[f"{key}_runs_s"]) == 3
            assert raw[f"{key}_s"] == statistics.median(raw[f"{key}_runs_s"])
        ops = {op["op"]: op for op in run["ops"]}
        assert list(ops) == [name for name, _ in OPS]
        for name, op in ops.items():
            for key in ("data_s", "process_s", "data_peak_rss_mb", "process_peak_rss_mb"):
                assert _positive(op[key]), (engine, name, key, op)
            # The reconcile copies nothing: it is compared with the full sync, not a raw copy.
            for key in ("data_ratio", "process_ratio"):
                assert _positive(op[key]) == (name != RECONCILE), (engine, name, key, op)
        # Each op did what it says, so its time measures the right thing.
        full = ops[FULL_SYNC]["counts"]
        assert full["added"] + full["rejected"] == EMPLOYEES
        assert ops[NO_CHANGE_SYNC]["counts"]["added"] == 0
        no_change_runs = ops[NO_CHANGE_SYNC]["data_runs_s"]
        assert len(no_change_runs) == 3
        assert ops[NO_CHANGE_SYNC]["data_s"] == statistics.median(no_change_runs)
        # The bulk operations are the median of two, each of which did the same (the second
        # ESS skipped the no-change ones between them); the rest ran once.
        bulk = {FULL_SYNC, CHANGED_SYNC, ALL_CHANGED_SYNC, LEAVE_FIRST, LEAVE_CHANGED, RECONCILE}
        assert bulk == set(TIMED_IN_EACH)
        for name, op in ops.items():
            runs = op["data_runs_s"]
            if name in TIMED_IN_EACH:
                assert len(runs) == 2 and op["data_s"] == statistics.median(runs), (name, op)
            elif name != NO_CHANGE_SYNC:
                assert runs == [op["data_s"]], (name, op)
            # The no-change re-sync's whole process is the median of three; the rest ran once.
            processes = op["process_runs_s"]
            assert len(processes) == (3 if name == NO_CHANGE_SYNC else 1), (name, op)
            assert op["process_s"] == statistics.median(processes), (name, op)
        assert ops[NO_CHANGE_SYNC]["counts"]["updated"] == 0
        changed = ops[CHANGED_SYNC]["counts"]
        assert (
            changed["updated"] + changed["terminated"]
            == ops[CHANGED_SYNC]["changed_in_payroll"]
            == EMPLOYEES // 100
        )
        # Straight after the 100% changed sync the feed still names everyone within its
        # overlap, but the sync before read every one of those changes: nobody is read.
        assert ops[OVERLAP_SYNC]["changed_in_payroll"] is None
        overlap = ops[OVERLAP_SYNC]["counts"]
        assert sum(overlap[k] for k in ("added", "updated", "terminated", "unchanged")) == 0
        assert overlap["rejected"] == 0
        everyone = ops[ALL_CHANGED_SYNC]["counts"]
        assert ops[ALL_CHANGED_SYNC]["changed_in_payroll"] == EMPLOYEES
        assert everyone["updated"] + everyone["terminated"] + everyone["rejected"] >= (
            EMPLOYEES - full["rejected"]
        )
        assert sorted(run["commands"]) == sorted(COMMANDS)
        assert all(_positive(s) for s in run["commands"].values())
        assert ops[LEAVE_FIRST]["counts"]["updated"] == BALANCES
        assert ops[LEAVE_CHANGED]["counts"]["updated"] == BALANCES // 100
        # After the syncs ESS matches payroll: the reconcile compared a pair in step.
        assert ops[RECONCILE]["counts"] == {"only in payroll": 0, "only in ESS": 0, "differing": 0}
        assert ops[RECONCILE]["process_exit_code"] == 0
    assert {t["name"] for t in document["targets"]}  # listed, "not measured" at this size
    if "postgresql" in engines:
        assert _bench_databases() == before


def test_on_sqlite_the_raw_copy_copies_every_row_masked_and_the_scratch_files_go(
    tmp_path: Path,
) -> None:
    scratch_dir = tmp_path / "scratch"
    with ScratchDatabases("sqlite", scratch_dir) as scratch:
        payroll_url = scratch.create("payroll")
        payroll.build(payroll_url, 200)
        raw_url = scratch.create("raw")
        raw = raw_copy(payroll_url, raw_url, repeats=2)
        assert (raw["employee_rows"], raw["balance_rows"]) == (200, 200 * 8)
        assert len(raw["employees_runs_s"]) == len(raw["balances_runs_s"]) == 2
        assert all(_positive(s) for s in raw["employees_runs_s"] + raw["balances_runs_s"])
        engine = sa.create_engine(raw_url)
        try:
            with engine.connect() as conn:
                query = sa.text("SELECT tax_file_number_masked FROM employee")
                tfns = [t for t in conn.execute(query).scalars() if t]
        finally:
            engine.dispose()
        assert tfns and all(set(t[:-3]) == {"*"} for t in tfns), tfns[:3]
    assert list(scratch_dir.iterdir()) == []

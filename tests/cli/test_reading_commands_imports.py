"""What `ess-sync status`, `log`, `rejects` and `show` import, seen from a process of their own.

Issue 16: Prefect only where a flow runs; these read ESS and print, so they never import it.
They also never import pydantic (Typer's parameter adapters, the settings): both cost a
large share of the half second these commands may take.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ess.store.jobs import finish_job, take_job
from ess.store.log import write_log
from ess.store.registry import record_registration

REPO = Path(__file__).resolve().parents[2]
# As the `ess-sync` console script starts the app.
ENTRY = "import sys; from cli.main import app; sys.exit(app())"


def _run(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `ess-sync ARGS` in a fresh interpreter; the result and every module it imported."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", ENTRY, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    return done, imported


def _packages(imported: set[str]) -> set[str]:
    return {name.split(".")[0] for name in imported}


@pytest.fixture
def acme(ess):
    # Registered without a block: these commands never read the payroll or its secret.
    record_registration("acme_payroll", "url", "sqlite:///acme.db")
    job = take_job("acme_payroll", "sync-from-payroll")
    write_log("acme_payroll", "Importing gender.", job_id=job.id)
    finish_job(job, "completed", "Job Completed.", last_done_column="last_sync_from_payroll")
    return "acme_payroll"


@pytest.mark.parametrize(
    ("args", "exit_code", "printed"),
    [
        (("status",), 0, "acme_payroll"),
        (("status", "--json"), 0, '"last_job_status": "completed"'),
        (("log", "acme_payroll"), 0, "Job Completed."),
        (("log", "acme_payroll", "--json", "--limit", "2"), 0, "Job Completed."),
        (("rejects", "acme_payroll"), 0, "Nothing is held back for acme_payroll."),
        (("show", "employee", "acme_payroll", "E000001"), 2, ""),  # no such employee
    ],
)
def test_the_reading_commands_never_import_prefect(acme, args, exit_code, printed):
    done, imported = _run(*args)
    assert done.returncode == exit_code, done.stderr[-2000:]
    assert printed in done.stdout
    assert "prefect" not in _packages(imported)
    # ESS is at its newest revision: nobody needed alembic to find that out.
    assert "alembic" not in _packages(imported)


@pytest.mark.parametrize("args", [("status",), ("log", "acme_payroll")])
def test_status_and_log_never_import_pydantic(acme, args):
    done, imported = _run(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not _packages(imported) & {"pydantic", "pydantic_settings", "pydantic_core"}

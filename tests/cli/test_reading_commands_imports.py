"""What `ess-sync status`, `log`, `rejects` and `show` import, seen from a process of their own.

Issue 16: Prefect only where a flow runs; these read ESS and print, so they never import it.
They also never import pydantic (Typer's parameter adapters, the settings): both cost a
large share of the half second these commands may take.
"""

import json
import subprocess

import pytest

from ess.store.jobs import finish_job, take_job
from ess.store.log import write_log
from ess.store.registry import record_registration
from tests.support import run_python

# As the `ess-sync` console script starts the app.
ENTRY = "from cli.main import main; main()"


def _run(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `ess-sync ARGS` in a fresh interpreter; the result and every module it imported."""
    done = run_python("-X", "importtime", "-c", ENTRY, *args)
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


@pytest.fixture
def acme_in_full(acme):
    """acme_payroll with a second job, a schedule, two reconciliations and a second database:
    every column `status` shows holds a value (or, for beta_payroll, none)."""
    from ess.database import ess_engine
    from ess.store.reconciliations import record_reconciliation
    from ess.store.schedules import save_schedule

    job = take_job(acme, "sync-leave-balances")
    write_log(acme, "<b>[bold]{0}[/]</b> 100% ' \" ; --", job_id=job.id)
    finish_job(job, "failed", "Job Failed: [red]x[/red]", last_done_column=None)
    save_schedule(acme, "sync-from-payroll", "0 2 * * *", "Australia/Sydney")
    with ess_engine().begin() as conn:
        record_reconciliation(conn, acme, None, 3, {}, [1, 2, 3])
        record_reconciliation(conn, acme, None, 1, {}, [7])
    record_registration("beta_payroll", "odbc", "DSN=beta;PWD=***")
    return acme


@pytest.mark.parametrize("args", [("status", "--json"), ("log", "acme_payroll", "--json")])
def test_status_and_log_read_without_sqlalchemy_what_its_engine_reads(acme_in_full, args):
    # In this process SQLAlchemy is imported, so these read through the engine's pool; the
    # command's own process has not, so it reads through the driver (ess/plain.py).
    from cli.common import json_default
    from ess.store.log import read_log
    from ess.store.status import database_statuses

    done, imported = _run(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not _packages(imported) & {"sqlalchemy", "alembic"}
    engine_read = database_statuses() if args[0] == "status" else read_log(args[1], limit=50)
    assert json.loads(done.stdout) == json.loads(
        json.dumps([r.__dict__ for r in engine_read], default=json_default)
    )
    shown = json.loads(done.stdout)
    if args[0] == "status":
        acme = shown[0]
        assert acme["last_job_status"] == "failed"
        assert acme["last_reconciliation_differences"] == 1
        assert acme["next_scheduled_run"].endswith(("+10:00", "+11:00"))
        assert acme["last_sync_from_payroll"].endswith("+00:00")
        assert shown[1]["database"] == "beta_payroll" and shown[1]["last_job_id"] is None
    else:
        assert shown[-1]["message"] == "Job Failed: [red]x[/red]"
        assert shown[-2]["message"] == "<b>[bold]{0}[/]</b> 100% ' \" ; --"


def test_status_on_an_ess_not_yet_created_creates_it_as_any_command_does(tmp_path, monkeypatch):
    path = tmp_path / "new" / "ess.db"
    path.parent.mkdir()
    monkeypatch.setenv("ESS_DATABASE_URL", f"sqlite:///{path}")
    done, imported = _run("status")
    assert done.returncode == 0, done.stderr[-2000:]
    # No schema to read yet: the engine made it (with SQLAlchemy), and a second status reads it
    # without.
    assert "sqlalchemy" in _packages(imported)
    assert path.exists()
    done, imported = _run("status")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "sqlalchemy" not in _packages(imported)


@pytest.mark.postgres
def test_an_ess_that_cannot_be_reached_is_reported_as_the_engine_reports_it(monkeypatch):
    # Port 9 (discard) on this machine: nothing listens, the connection is refused at once.
    url = "postgresql+psycopg://ess:pa%40ss%2Fw%25rd%3B%7B0%7D@127.0.0.1:9/ess"
    monkeypatch.setenv("ESS_DATABASE_URL", url)
    done, _ = _run("status")
    assert done.returncode != 0
    assert "Connection refused" in done.stderr
    assert "pa@ss" not in done.stderr + done.stdout and "w%rd" not in done.stderr


def test_a_process_that_did_not_say_it_only_reads_looks_up_through_the_engine(acme):
    # `ess-sync run` looks its database up before anything imports SQLAlchemy: through the
    # driver it would open a connection of its own, then the engine's for the sync.
    probe = (
        "import sys; from ess.store.registry import get_database; "
        "print(get_database('acme_payroll').name, 'sqlalchemy' in sys.modules)"
    )
    done = run_python("-c", probe)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["acme_payroll", "True"]

"""How an `ess-sync` process ends: with its command's status, after everything Python runs
at exit, but without tearing down its modules (cli.main.exit_quickly)."""

import sqlite3
from subprocess import CompletedProcess

import pytest

from tests.support import run_python


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> CompletedProcess[str]:
    # ESS as `make demo` has it: the SQLite file in ESS_DATA_DIR, when that is given.
    without = ["ESS_DATABASE_URL"] if env and "ESS_DATA_DIR" in env else []
    return run_python("-c", code, *args, env=env, without=without)


@pytest.mark.parametrize(
    ("code", "status", "stderr"),
    [("None", 0, ""), ("0", 0, ""), ("3", 3, ""), ("'Cannot go on.'", 1, "Cannot go on.\n")],
)
def test_the_process_ends_with_the_status_python_would_give_its_exit(code, status, stderr):
    done = _python(f"from cli.main import exit_quickly; exit_quickly({code})")
    assert (done.returncode, done.stderr) == (status, stderr)


def test_what_python_runs_at_exit_still_runs_and_every_line_printed_arrives(tmp_path):
    # A thread that is no daemon is waited for, an exit handler runs (Prefect's log and
    # event workers drain this way), and what either prints reaches the reader in full.
    thread_done, handler_done = tmp_path / "thread", tmp_path / "handler"
    code = f"""
import atexit, sys, threading, time
from pathlib import Path
from cli.main import main

def late():
    time.sleep(0.5)
    Path({str(thread_done)!r}).write_text("joined")

def at_exit():
    print("x" * 200_000)
    Path({str(handler_done)!r}).write_text("ran")

atexit.register(at_exit)
threading.Thread(target=late).start()
sys.argv = ["ess-sync", "--help"]
main()
"""
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert "Usage" in done.stdout and done.stdout.endswith("x" * 200_000 + "\n")
    assert thread_done.read_text() == "joined" and handler_done.read_text() == "ran"


def test_a_usage_error_exits_two_with_click_s_message():
    done = _python("from cli.main import main; main()", "--no-such-option")
    assert done.returncode == 2
    assert "No such option" in done.stderr


def test_an_sqlite_ess_is_closed_before_the_process_ends(tmp_path):
    # ESS's pooled connections are closed on the way out: the last one to close a SQLite
    # database in write-ahead mode folds the log back into it and removes the log file.
    data = tmp_path / "data"
    code = """
import sys
from cli.main import main
from ess.store.log import write_log
write_log("acme_payroll", "Written before the command.")
sys.argv = ["ess-sync", "--help"]
main()
"""
    done = _python(code, env={"ESS_DATA_DIR": str(data)})
    assert done.returncode == 0, done.stderr
    assert (data / "ess.db").exists()
    assert not (data / "ess.db-wal").exists() and not (data / "ess.db-leases-wal").exists()
    with sqlite3.connect(data / "ess.db") as ess:
        [(message,)] = ess.execute("SELECT message FROM web_api_log").fetchall()
    assert message == "Written before the command."


def test_db_upgrade_closes_its_own_engine(tmp_path):
    data = tmp_path / "data"
    env = {"ESS_DATA_DIR": str(data)}
    done = _python("from cli.main import main; main()", "db", "upgrade", env=env)
    assert done.returncode == 0, done.stderr
    assert "upgraded" in done.stdout
    assert not (data / "ess.db-wal").exists()


def test_an_exit_handler_that_fails_is_reported_and_the_status_and_the_rest_stand(tmp_path):
    ran = tmp_path / "ran"
    code = f"""
import atexit
from pathlib import Path
from cli.main import exit_quickly

atexit.register(Path({str(ran)!r}).write_text, "ran")

def broken():
    raise RuntimeError("a handler that fails")

atexit.register(broken)  # runs first: handlers run last registered first
exit_quickly(3)
"""
    done = _python(code)
    assert done.returncode == 3
    assert "a handler that fails" in done.stderr
    assert ran.read_text() == "ran"


def test_an_output_closed_before_the_exit_is_left_alone():
    done = _python(
        "import sys; from cli.main import exit_quickly; sys.stdout.close(); exit_quickly(None)"
    )
    assert (done.returncode, done.stderr) == (0, "")

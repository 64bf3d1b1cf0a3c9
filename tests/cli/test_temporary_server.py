"""With no Prefect server configured, a command that needs Prefect starts a temporary one:
it must start on a busy machine and print no telemetry errors (payroll servers are offline)."""

import os
import subprocess
import sys
import time
from pathlib import Path

from jobs.prefect_defaults import PREFECT_DEFAULTS

REPO = Path(__file__).resolve().parents[2]
COMMAND = [sys.executable, "-m", "cli.main", "databases", "add"]
BURN = "import time\nend = time.monotonic() + 300\nwhile time.monotonic() < end: pass"


def test_databases_add_succeeds_on_a_loaded_machine_without_telemetry_errors(
    tmp_path, payroll_sqlite
):
    # As a person runs it: no Prefect server, none of the settings `make` or the tests set.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ESS_"))}
    env.update(
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        ESS_DATABASE_URL=f"sqlite:///{tmp_path / 'ess.db'}",
        ESS_DATA_DIR=str(tmp_path / "data"),
    )
    # A CPU burner for the length of the command: with `make test`'s other worker busy on
    # the other core, the machine's two cores are loaded, as when this failed.
    burners = [subprocess.Popen([sys.executable, "-c", BURN])]
    started = time.monotonic()
    try:
        result = subprocess.run(
            [*COMMAND, "busy_payroll", "--url", payroll_sqlite],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=360,
            check=False,
        )
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Registered payroll database busy_payroll" in output
    assert "Failed to send telemetry" not in output
    assert "Timed out while attempting to connect" not in output
    print(f"databases add with a temporary server under load: {seconds:.1f} s")


def test_the_defaults_never_override_what_the_environment_says(monkeypatch):
    from jobs.prefect_defaults import apply_prefect_defaults

    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "7")
    monkeypatch.delenv("PREFECT_SERVER_ANALYTICS_ENABLED", raising=False)
    apply_prefect_defaults()
    assert os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] == "7"
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert int(PREFECT_DEFAULTS["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"]) >= 180

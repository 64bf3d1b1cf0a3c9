"""Prefect settings every `ess-sync` command and `python -m jobs` starts with, unless the
environment already says otherwise. Applied before Prefect is imported: Prefect reads its
settings from the environment once, when it is first imported."""

from __future__ import annotations

import os

PREFECT_DEFAULTS = {
    # Payroll servers reach no internet: Prefect's analytics would only print
    # `Failed to send telemetry` errors on every command that starts a temporary server.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # Prefect gives a temporary server 20 s to answer, counted in 0.1 s sleeps; a busy
    # payroll server was seen to need more (`Timed out while attempting to connect to
    # ephemeral Prefect API server`), and on a slow two-core machine with both cores busy
    # `databases add` still timed out at 90 s (CI, 2026-12-05). A healthy start still takes
    # a few seconds; a server that cannot start at all is told after three minutes.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}


def apply_prefect_defaults() -> None:
    """Set each of PREFECT_DEFAULTS that the environment does not set already."""
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)

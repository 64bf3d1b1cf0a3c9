"""Which Prefect server this machine talks to: one answer for every command.

Importing Prefect costs seconds, so a command that only wants to know whether a server is
configured looks where Prefect reads its settings from before it imports Prefect.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

_MENTIONS_API = re.compile(r"(?i)api_url|\bapi\b")


class NoPrefectServer(RuntimeError):
    """PREFECT_API_URL names no Prefect server (ephemeral mode has no automations)."""


def configured_api_url() -> str | None:
    """The configured Prefect server's API URL; None in ephemeral mode (no server to ask)."""
    if "prefect" not in sys.modules and not _may_configure_prefect():
        return None
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def required_api_url() -> str:
    """The configured Prefect server's API URL; NoPrefectServer when there is none."""
    url = configured_api_url()
    if not url:
        raise NoPrefectServer(
            "No Prefect server is configured: PREFECT_API_URL is not set, and a temporary "
            "Prefect server keeps no work pools or automations. Start one with "
            "`prefect server start` and `export PREFECT_API_URL=http://127.0.0.1:4200/api`."
        )
    return url


def _may_configure_prefect() -> bool:
    # Prefect reads settings from the environment, .env, prefect.toml, pyproject.toml and
    # the profiles file: a server can be configured in any of them.
    if os.environ.get("PREFECT_API_URL"):
        return True
    home = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect")).expanduser()
    profiles = Path(os.environ.get("PREFECT_PROFILES_PATH", home / "profiles.toml"))
    for path in (Path(".env"), Path("prefect.toml"), Path("pyproject.toml"), profiles):
        try:
            if _MENTIONS_API.search(path.expanduser().read_text(errors="replace")):
                return True
        except OSError:
            continue
    return False

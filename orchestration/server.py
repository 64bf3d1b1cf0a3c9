"""Which Prefect server this machine talks to: one answer for every command.

Importing Prefect costs seconds, so a command that only wants to know whether a server is
configured looks where Prefect reads its settings from before it imports Prefect. Every
command imports this module (cli/main.py): what only a check of a server needs (ssl, socket)
is imported where it is used.

A Prefect server answers `POST /api/block_documents/filter {"include_secrets": true}` with
every Payroll Database connection string, and starts any deployment, for whoever can reach
it: one beyond this machine must demand Prefect's basic auth (docs/prefect-server.md).
"""

from __future__ import annotations

import enum
import ipaddress
import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import ssl

_MENTIONS_API = re.compile(r"(?i)api_url|\bapi\b")
# Tests only: judge a server on 127.0.0.1 as if it were remote, so the refusal can be
# shown end to end without a second network interface (docs/prefect-server.md).
TREAT_AS_REMOTE = "ESS_PREFECT_TREAT_AS_REMOTE"
PROBE_SECONDS = 10
# Written by `ess-sync serve` in ESS_DATA_DIR while it runs (orchestration/serve.py).
LOCAL_SERVER_FILE = "prefect-server.json"


class NoPrefectServer(RuntimeError):
    """PREFECT_API_URL names no Prefect server (ephemeral mode has no automations)."""


class OpenPrefectServer(RuntimeError):
    """The Prefect server is reachable beyond this machine and answers without authentication."""


class Exposure(enum.Enum):
    """Who can use the configured Prefect server, as far as this machine can tell."""

    LOOPBACK = "loopback: only this machine can reach it"
    AUTHENTICATED = "it requires authentication"
    AUTHENTICATED_PLAIN_HTTP = (
        "it requires authentication, but over plain HTTP: the auth string and payroll "
        "passwords cross the network readable; put it behind TLS"
    )


def configured_api_url() -> str | None:
    """The configured Prefect server's API URL; None in ephemeral mode (no server to ask)."""
    if "prefect" not in sys.modules and not _may_configure_prefect():
        return None
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def local_server_file() -> Path:
    """Where `ess-sync serve` records its Prefect server while it runs."""
    from ess.settings import settings

    return settings().data_dir / LOCAL_SERVER_FILE


def local_server_url() -> str | None:
    """The API URL of this machine's `ess-sync serve`, if one is running; else None."""
    try:
        record = json.loads(local_server_file().read_text(encoding="utf-8"))
        api_url, pid = str(record["api_url"]), int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return api_url if _alive(pid) else None


def use_local_server() -> None:
    """Point Prefect at this machine's `ess-sync serve`, unless PREFECT_API_URL says otherwise.

    Call before Prefect is imported: Prefect reads its settings from the environment once.
    With no serve running nothing changes (a command that needs Prefect starts a temporary
    server, as before).
    """
    if os.environ.get("PREFECT_API_URL"):
        return
    url = local_server_url()
    if url is not None:
        os.environ["PREFECT_API_URL"] = url


def required_api_url() -> str:
    """The configured Prefect server's API URL; NoPrefectServer when there is none."""
    url = configured_api_url()
    if not url:
        raise NoPrefectServer(
            "No Prefect server is configured: PREFECT_API_URL is not set, and a temporary "
            "Prefect server keeps no work pools or automations. Start one with "
            "`ess-sync serve` (or `prefect server start` and "
            "`export PREFECT_API_URL=http://127.0.0.1:4200/api`)."
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


def is_loopback(host: str, resolve: Callable[[str], Iterable[str]] | None = None) -> bool:
    """Whether HOST is this machine's loopback: 127.0.0.0/8, ::1, localhost, or a name for them.

    A name counts only when every address it resolves to is loopback; one that does not
    resolve is not.
    """
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    literal = _loopback_address(host)
    if literal is not None:
        return literal
    try:
        addresses = list((resolve or _resolve)(host))
    except OSError:
        return False
    return bool(addresses) and all(_loopback_address(address) for address in addresses)


def answers_without_auth(api_url: str, verify: ssl.SSLContext | bool = True) -> bool:
    """Whether the server lists block documents to a request that carries no credentials."""
    import httpx

    # /health stays open under basic auth (for load balancers); the block documents,
    # which hold the payroll secrets, do not.
    response = httpx.post(
        f"{api_url.rstrip('/')}/block_documents/filter",
        json={"limit": 1},
        timeout=PROBE_SECONDS,
        verify=verify,
    )
    return response.status_code == 200


def check_exposure(api_url: str, treat_as_remote: bool | None = None) -> Exposure:
    """Who can use the server at API_URL; OpenPrefectServer when it is remote and open.

    `treat_as_remote` (default: ESS_PREFECT_TREAT_AS_REMOTE=1) skips the loopback
    allowance, for tests that have only 127.0.0.1 to start a server on.
    """
    if treat_as_remote is None:
        treat_as_remote = os.environ.get(TREAT_AS_REMOTE) == "1"
    parts = urlsplit(api_url)
    if not treat_as_remote and is_loopback(parts.hostname or ""):
        return Exposure.LOOPBACK
    if answers_without_auth(api_url, _tls_verify()):
        raise OpenPrefectServer(
            f"Refusing to use the Prefect server at {api_url}: it can be reached from other "
            "machines and answers without authentication, so anyone who reaches it can read "
            "every payroll database's password and start syncs; start it with "
            "PREFECT_SERVER_API_AUTH_STRING behind TLS and give every client and worker "
            "PREFECT_API_AUTH_STRING, or keep it on 127.0.0.1 (docs/prefect-server.md)."
        )
    if parts.scheme == "http":
        return Exposure.AUTHENTICATED_PLAIN_HTTP
    return Exposure.AUTHENTICATED


def _alive(pid: int) -> bool:
    # A file left by a serve that was SIGKILLed names a dead pid: ignore it. Pid 0 or
    # below would signal a whole process group.
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, OverflowError):
        return False
    return True


def _loopback_address(text: str) -> bool | None:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    # Python 3.11 does not call ::ffff:127.0.0.1 loopback; it is.
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def _resolve(host: str) -> list[str]:
    import socket

    return [str(info[4][0]) for info in socket.getaddrinfo(host, None)]


def _tls_verify() -> ssl.SSLContext | bool:
    # The same trust as Prefect's own client, so a private CA works for both.
    import ssl

    from prefect.settings import get_current_settings

    api = get_current_settings().api
    if api.tls_insecure_skip_verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if api.ssl_cert_file:
        return ssl.create_default_context(cafile=api.ssl_cert_file)
    return True

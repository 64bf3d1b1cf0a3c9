"""Three adjustments to Prefect 3.9's flow engine and client, made when the flows are imported.

A synchronous flow run sends heartbeats from a thread that sleeps in one-second steps; when
the run ends, Prefect 3.9.1 waits for that thread to notice, which adds up to a second (half
a second on average) to every flow run. Prefect's async engine does not wait
(`join_on_exit=False`); we make the sync engine do the same. The thread still stops at its
next step: it checks the stop event before sending anything, so no heartbeat follows the
run's end. Heartbeats themselves are unchanged (the Crashed automation relies on them).

Creating a flow run serialises its parameters with FastAPI's `jsonable_encoder`, and the
first call imports FastAPI to do it: a sixth of a second of CPU (half a second of a busy
server's wall time) in every `ess-sync run`, for parameters that are strings, numbers and
booleans, which it returns unchanged. Those are now passed as they are; anything else still
goes through Prefect's own serialiser.

Every Prefect client (one per flow run, and one for each call made outside a run) builds a
new TLS context from certifi's CA bundle, 12-17 ms of CPU here, though the API is plain
HTTP on the same machine: about a tenth of a sync that changes nothing. Each new client is
now given a verifying context made once per thread and CA file (`shared_verify`), as one
httpx client shares its context between its connections. A client of a plain-HTTP API
(`http://127.0.0.1:4200/api`, the usual set-up) never uses one, and a thread of a job that
makes one (loading the payroll block) paid that on every sync: it is given a context that
trusts no certificate authority, made in a millisecond (`plain_http_verify`). A client that
skips verification, or brings its own context or a client certificate, still builds its own.

tests/flows/test_prefect_features.py checks that the engine still has the hooks these
replace, so an upgrade that moves them fails a test instead of silently undoing this.
"""

from __future__ import annotations

import functools
import os
import ssl
import threading
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

import certifi
from prefect import flow_engine
from prefect.client import orchestration as prefect_client
from prefect.flows import Flow
from prefect.settings import (
    PREFECT_API_ENABLE_HTTP2,
    PREFECT_API_SSL_CERT_FILE,
    PREFECT_API_TLS_INSECURE_SKIP_VERIFY,
)

_original_send_heartbeats = getattr(flow_engine, "_send_heartbeats", None)
_original_serialize_parameters = Flow.serialize_parameters
# jsonable_encoder returns these as they are (bool is an int; no subclass is taken for one).
_PLAIN = (str, int, float, bool, type(None))


@contextmanager
def _send_heartbeats_without_waiting(engine: Any, join_on_exit: bool = True) -> Generator[None]:
    assert _original_send_heartbeats is not None
    with _original_send_heartbeats(engine, join_on_exit=False):
        yield


def _serialize_plain_parameters(self: Flow[Any, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """Plain JSON values as they are; anything else (or a method's flow) as Prefect does it."""
    if (
        self.ismethod
        or self.isclassmethod
        or any(type(v) not in _PLAIN for v in parameters.values())
    ):
        return _original_serialize_parameters(self, parameters)
    return dict(parameters)


_contexts: dict[tuple[object, ...], ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def _builds_its_own(settings: dict[str, Any]) -> bool:
    """Whether a new client must build its own TLS context: told to skip verification
    (Prefect loosens the context it makes), given its own `verify`, or a client certificate."""
    return "verify" in settings or "cert" in settings or bool(PREFECT_API_TLS_INSECURE_SKIP_VERIFY)


def shared_verify(httpx_settings: dict[str, Any] | None) -> ssl.SSLContext | None:
    """The verifying TLS context a new Prefect client would build for itself, made once and
    shared by the clients the same thread makes for the same CA file (its path, inode, size
    and times: a bundle replaced is read again) and HTTP versions; None where the client must
    build its own: told to skip verification (Prefect loosens the context it makes), given
    its own `verify`, or given a client certificate (`cert`: httpx loads it into the
    context, which must then be that client's alone).

    httpx shares one context between a client's connections; the only other change it makes
    to one is the ALPN list it sets as each connection opens, which depends on the HTTP
    versions asked for. Contexts are not shared between threads: Prefect's log shipper and
    event worker make their clients on threads of their own, and one context in two threads
    opening connections at once is more than one httpx client asks of it.
    """
    settings = httpx_settings or {}
    if _builds_its_own(settings):
        return None
    cafile = os.path.abspath(PREFECT_API_SSL_CERT_FILE.value() or certifi.where())
    try:
        stat = os.stat(cafile)
    except OSError:
        return None  # Prefect's own attempt says what is wrong with it
    http2 = bool(settings.get("http2", PREFECT_API_ENABLE_HTTP2.value()))
    key = (
        threading.get_ident(),
        http2,
        cafile,
        stat.st_ino,
        stat.st_size,
        stat.st_mtime_ns,
        stat.st_ctime_ns,
    )
    with _contexts_lock:
        if key not in _contexts:
            _contexts[key] = ssl.create_default_context(cafile=cafile)
        return _contexts[key]


def plain_http_verify(httpx_settings: dict[str, Any] | None) -> ssl.SSLContext | None:
    """The context a client of a plain-HTTP API (`http://...`) is given, which no connection
    to it uses: one that verifies, and trusts no certificate authority at all. Made in a
    millisecond, where reading certifi's bundle takes 12-17 ms in every thread that makes a
    client (a job's payroll block is loaded from a thread of its own). Should anything ever
    open TLS with it, it fails to verify rather than trusting: it fails closed. None where
    the client must build its own, as for shared_verify."""
    if _builds_its_own(httpx_settings or {}):
        return None
    key = (threading.get_ident(), "plain http")
    with _contexts_lock:
        if key not in _contexts:
            _contexts[key] = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        return _contexts[key]


def _is_plain_http(api: Any) -> bool:
    return isinstance(api, str) and api[:7].lower() == "http://"


def _sharing_tls(init: Any) -> Any:
    """A Prefect client's __init__ that is given the shared verifying context (a context
    trusting nothing when its API is plain HTTP)."""

    @functools.wraps(init)
    def __init__(
        self: Any, api: Any, *args: Any, httpx_settings: dict[str, Any] | None = None, **kw: Any
    ) -> None:
        if _is_plain_http(api):
            shared = plain_http_verify(httpx_settings)
        else:
            shared = shared_verify(httpx_settings)
        if shared is not None:
            httpx_settings = {**(httpx_settings or {}), "verify": shared}
        init(self, api, *args, httpx_settings=httpx_settings, **kw)

    __init__.shares_tls = True  # type: ignore[attr-defined]
    return __init__


def install() -> bool:
    """Adjust the engine; False if the heartbeat hook is not where this expects it."""
    Flow.serialize_parameters = _serialize_plain_parameters  # type: ignore[method-assign]
    for client in (prefect_client.SyncPrefectClient, prefect_client.PrefectClient):
        if not getattr(client.__init__, "shares_tls", False):
            client.__init__ = _sharing_tls(client.__init__)  # type: ignore[method-assign]
    if _original_send_heartbeats is None:
        return False
    flow_engine._send_heartbeats = _send_heartbeats_without_waiting
    return True


INSTALLED = install()

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
HTTP on the same machine: a tenth of a sync that changes nothing. A verifying context made
from the same CA file is now made once per process and shared, as one httpx client shares
it between its connections (an `ssl.SSLContext` is safe to share; the file is read again
if it changes). A client that skips verification still gets a context of its own, which
Prefect then loosens.

tests/flows/test_prefect_features.py checks that the engine still has the hooks these
replace, so an upgrade that moves them fails a test instead of silently undoing this.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Generator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from prefect import flow_engine
from prefect.client import orchestration as prefect_client
from prefect.flows import Flow

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


class _SharedVerifyingContexts(ModuleType):
    """The `ssl` module as Prefect's client module sees it: create_default_context(cafile=F)
    gives one context per CA file (and its size and time), made on first use; any other
    call (the unverified client's, which Prefect then changes) gives a new one as before."""

    def __init__(self) -> None:
        super().__init__("ssl")
        self._made: dict[tuple[str, int, int], ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(ssl, name)

    def create_default_context(self, *args: Any, **kwargs: Any) -> ssl.SSLContext:
        cafile = kwargs.get("cafile")
        if args or set(kwargs) != {"cafile"} or not isinstance(cafile, str):
            return ssl.create_default_context(*args, **kwargs)
        try:
            stat = os.stat(cafile)
        except OSError:
            return ssl.create_default_context(cafile=cafile)  # ssl's own error
        key = (cafile, stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if key not in self._made:
                self._made[key] = ssl.create_default_context(cafile=cafile)
            return self._made[key]


SHARED_SSL = _SharedVerifyingContexts()


def install() -> bool:
    """Adjust the engine; False if the heartbeat hook is not where this expects it."""
    Flow.serialize_parameters = _serialize_plain_parameters  # type: ignore[method-assign]
    if getattr(prefect_client, "ssl", None) is ssl:
        prefect_client.ssl = SHARED_SSL
    if _original_send_heartbeats is None:
        return False
    flow_engine._send_heartbeats = _send_heartbeats_without_waiting
    return True


INSTALLED = install()

"""Two adjustments to Prefect 3.9's flow engine, made when the flows are imported.

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

tests/flows/test_prefect_features.py checks that the engine still has the hooks these
replace, so an upgrade that moves them fails a test instead of silently undoing this.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

from prefect import flow_engine
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


def install() -> bool:
    """Adjust the engine; False if the heartbeat hook is not where this expects it."""
    Flow.serialize_parameters = _serialize_plain_parameters  # type: ignore[method-assign]
    if _original_send_heartbeats is None:
        return False
    flow_engine._send_heartbeats = _send_heartbeats_without_waiting
    return True


INSTALLED = install()

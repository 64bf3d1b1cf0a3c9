"""One adjustment to Prefect 3.9's flow engine, made when the flows are imported.

A synchronous flow run sends heartbeats from a thread that sleeps in one-second steps; when
the run ends, Prefect 3.9.1 waits for that thread to notice, which adds up to a second (half
a second on average) to every flow run. Prefect's async engine does not wait
(`join_on_exit=False`); we make the sync engine do the same. The thread still stops at its
next step: it checks the stop event before sending anything, so no heartbeat follows the
run's end. Heartbeats themselves are unchanged (the Crashed automation relies on them).

tests/flows/test_prefect_features.py checks that the engine still has the hook this
replaces, so an upgrade that moves it fails a test instead of silently undoing this.
"""

from __future__ import annotations

from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

from prefect import flow_engine

_original_send_heartbeats = getattr(flow_engine, "_send_heartbeats", None)


@contextmanager
def _send_heartbeats_without_waiting(engine: Any, join_on_exit: bool = True) -> Generator[None]:
    assert _original_send_heartbeats is not None
    with _original_send_heartbeats(engine, join_on_exit=False):
        yield


def install() -> bool:
    """Make flow runs end without waiting for the heartbeat thread; False if not possible."""
    if _original_send_heartbeats is None:
        return False
    flow_engine._send_heartbeats = _send_heartbeats_without_waiting
    return True


INSTALLED = install()

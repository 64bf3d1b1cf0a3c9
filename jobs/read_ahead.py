"""Reading one side of a comparison in a thread of its own, a few chunks ahead of its consumer.

The drivers (psycopg, sqlite3, pyodbc) release the GIL while the server works and while rows
cross the wire, so a side read this way overlaps the other side's reads and the comparison.
The queue is bounded, so memory stays flat; the thread runs in a copy of the caller's context,
so its connection's cancel hook registers with the job (jobs.context) like any other read.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import copy_context
from typing import Any, TypeVar

T = TypeVar("T")

_ITEM, _END, _ERROR = "item", "end", "error"


@contextmanager
def read_ahead(items: Iterator[T], depth: int = 2) -> Iterator[Iterator[T]]:
    """Iterate `items` in a thread of its own, at most `depth` ahead; joined on leaving."""
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                handoff.put((_ITEM, item))
                if stop.is_set():
                    return
            if not stop.is_set():
                handoff.put((_END, None))
        # Any failure, cancellation included, is handed to the consumer and raised there.
        except BaseException as error:
            if not stop.is_set():
                handoff.put((_ERROR, error))
        finally:
            # Closed in the thread that ran it: the cursor and its cancel hook go with it.
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def consume() -> Iterator[T]:
        while True:
            kind, item = handoff.get()
            if kind == _END:
                return
            if kind == _ERROR:
                raise item
            yield item

    context = copy_context()
    thread = threading.Thread(target=context.run, args=(produce,), name="read-ahead", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        # A producer blocked on a full queue puts once more after this, then sees `stop`.
        _drain(handoff)
        thread.join()
        _drain(handoff)


def _drain(handoff: queue.Queue[tuple[str, Any]]) -> None:
    while True:
        try:
            handoff.get_nowait()
        except queue.Empty:
            return

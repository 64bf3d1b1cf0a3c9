"""Python's cyclic garbage collector, run less often while a job moves rows.

A job makes millions of short-lived tuples (payroll's rows, their prepared values, ESS's
rows) and, while it compares two sides, keeps tens of thousands of them alive at once.
At Python's default thresholds (700, 10, 10) that many survivors set off a full collection
every few chunks, and a full collection walks every object in the process, Prefect's
hundreds of thousands included. None of the rows are cycles: the collector finds nothing
in them. Measured at 200,000 employees (payroll and ESS on PostgreSQL, two rounds each):
a reconcile took 4.62-4.82 s against 6.82-6.88 s at the defaults, a leave first sync
4.17-4.21 s against 4.35-4.72 s, a full sync 2.61-2.63 s against 2.66-2.74 s.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

JOB_THRESHOLDS = (50_000, 20, 100)
"""A young collection every 50,000 new objects (not 700); the older generations in step."""

_lock = threading.Lock()
_inside = 0
_before: tuple[int, int, int] | None = None


@contextmanager
def fewer_collections() -> Iterator[None]:
    """JOB_THRESHOLDS until the block ends; the process's own thresholds after.

    Jobs can run in threads of one process (a test, a server): the first to enter sets the
    thresholds, the last to leave puts back what it found.
    """
    global _inside, _before
    with _lock:
        if _inside == 0:
            _before = gc.get_threshold()
            gc.set_threshold(*JOB_THRESHOLDS)
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0 and _before is not None:
                gc.set_threshold(*_before)
                _before = None

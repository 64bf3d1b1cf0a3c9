"""read_ahead: one side of the reconcile read in a thread of its own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextvars import ContextVar

import pytest

from jobs.read_ahead import read_ahead

_who: ContextVar[str] = ContextVar("who", default="nobody")


def _read_ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "read-ahead"]


def test_every_chunk_arrives_in_order_and_no_thread_is_left_behind() -> None:
    with read_ahead(iter([[1, 2], [3], [4, 5, 6]])) as chunks:
        got = list(chunks)
    assert got == [[1, 2], [3], [4, 5, 6]]
    assert _read_ahead_threads() == []


def test_a_failing_read_raises_its_own_error_in_the_reader() -> None:
    def rows() -> Iterator[list[int]]:
        yield [1]
        raise LookupError("payroll went away")

    with pytest.raises(LookupError, match="payroll went away"), read_ahead(rows()) as chunks:
        list(chunks)
    assert _read_ahead_threads() == []


def test_leaving_early_closes_the_read_and_joins_its_thread() -> None:
    closed = threading.Event()

    def rows() -> Iterator[int]:
        try:
            n = 0
            while True:
                n += 1
                yield n
        finally:
            closed.set()

    with pytest.raises(RuntimeError, match="cancelled"), read_ahead(rows(), depth=1) as chunks:
        for n in chunks:
            if n == 3:
                raise RuntimeError("cancelled")
    assert closed.is_set()
    assert _read_ahead_threads() == []


def test_the_read_runs_in_the_callers_context_so_its_cancel_hook_finds_the_job() -> None:
    def rows() -> Iterator[str]:
        yield _who.get()

    token = _who.set("job 7")
    try:
        with read_ahead(rows()) as chunks:
            assert list(chunks) == ["job 7"]
    finally:
        _who.reset(token)

"""The running job, as every step sees it: its deadline, and how to stop what it is waiting on.

A flow's or task's timeout cannot interrupt a call blocked inside a database driver, so the
job keeps the cancel hooks of its open connections; when the deadline passes the heartbeat
thread calls them, and the blocked call returns with an error the step lets through.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager, nullcontext, suppress
from contextvars import ContextVar, copy_context
from dataclasses import dataclass, field
from typing import TypeVar

from ess.database import job_session_name, sessions_named

_T = TypeVar("_T")


class JobTimedOut(Exception):
    """The job ran past its time limit."""


class JobLost(Exception):
    """The job's heartbeat found another job holds its database now."""


@dataclass
class JobContext:
    """What a running job's steps share."""

    database: str
    job_id: int | None
    limit_seconds: float
    started: float = field(default_factory=time.monotonic)
    timed_out: threading.Event = field(default_factory=threading.Event)
    lost: threading.Event = field(default_factory=threading.Event)
    _cancels: dict[int, Callable[[], object]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # What the steps load once and share (a payroll block): it ends with the job.
    _shared: dict[object, object] = field(default_factory=dict)
    _shared_lock: threading.Lock = field(default_factory=threading.Lock)
    # What the steps keep open for the whole job (a payroll connection), closed with it.
    _closers: list[Callable[[], object]] = field(default_factory=list)
    _closers_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def elapsed(self) -> float:
        """Seconds since the job started."""
        return time.monotonic() - self.started

    def overdue(self) -> bool:
        """True once the job is past its time limit."""
        return self.timed_out.is_set() or self.elapsed > self.limit_seconds

    def check(self) -> None:
        """Raise JobLost or JobTimedOut if the job must stop (call between units of work)."""
        if self.lost.is_set():
            raise JobLost(f"another job holds {self.database} now")
        if self.overdue():
            self.timed_out.set()
            raise JobTimedOut(f"the job passed its limit of {self.limit_seconds:g} s")

    def once(self, key: object, load: Callable[[], _T]) -> _T:
        """What `load` gives, loaded by the job's first step that asks and shared by the rest
        (or by `prefetch`, started earlier: then this waits for it)."""
        # Its own lock: a slow load must not hold up expire() cancelling the job's queries.
        with self._shared_lock:
            if key not in self._shared:
                self._shared[key] = load()
            value = self._shared[key]
        if not isinstance(value, Future):
            return value  # type: ignore[return-value]
        try:
            return value.result()
        except BaseException:
            # The failure is this step's, as if it had loaded it; a retry loads again.
            with self._shared_lock:
                if self._shared.get(key) is value:
                    del self._shared[key]
            raise

    def prefetch(self, key: object, load: Callable[[], object]) -> None:
        """Start `load` now, in a thread of its own, for the step that will ask `once(key)`:
        what runs before that step runs meanwhile. A failure is raised in that step."""
        with self._shared_lock:
            if key in self._shared:
                return
            loading: Future[object] = Future()
            self._shared[key] = loading

        def run() -> None:
            try:
                loading.set_result(load())
            except BaseException as exc:
                loading.set_exception(exc)

        # In a copy of this context: the job, Prefect's settings and run context go along.
        thread = threading.Thread(target=copy_context().run, args=(run,), daemon=True)
        thread.start()

    def on_close(self, close: Callable[[], object]) -> None:
        """Run `close` when the job's context ends (what a step opened for the whole job)."""
        with self._closers_lock:
            self._closers.append(close)

    def close(self) -> None:
        """Close what the job's steps kept open for it, the last opened first."""
        with self._closers_lock:
            closers, self._closers = self._closers[::-1], []
        for close in closers:
            try:
                close()
            except Exception:  # the connection may already be gone: nothing left to close
                continue

    def expire(self) -> None:
        """Mark the job timed out and cancel whatever it is waiting on."""
        self.timed_out.set()
        self.cancel_all()

    def lose(self) -> None:
        """Mark the job as having lost its database and stop whatever it is waiting on."""
        self.lost.set()
        self.cancel_all()

    def cancel_all(self) -> None:
        """Cancel every operation the job is waiting on."""
        with self._lock:
            cancels = list(self._cancels.values())
        for cancel in cancels:
            try:
                cancel()
            except Exception:  # the connection may already be gone: nothing left to stop
                continue

    @contextmanager
    def cancellable(self, cancel: Callable[[], object]) -> Iterator[None]:
        """Register how to stop an operation while it runs."""
        key = id(cancel)
        with self._lock:
            self._cancels[key] = cancel
        try:
            if self.timed_out.is_set() or self.lost.is_set():
                # As cancel_all: a connection already gone has nothing left to stop, and its
                # driver's complaint must not replace the job's own end.
                with suppress(Exception):
                    cancel()
            yield
        finally:
            with self._lock:
                self._cancels.pop(key, None)


_current: ContextVar[JobContext | None] = ContextVar("ess_current_job", default=None)


def current_job() -> JobContext | None:
    """The job this code runs for, if any."""
    return _current.get()


@contextmanager
def job_context(ctx: JobContext) -> Iterator[JobContext]:
    """Run a block as the given job; the ESS sessions it opens carry the job's name."""
    token = _current.set(ctx)
    named = nullcontext() if ctx.job_id is None else sessions_named(job_session_name(ctx.job_id))
    try:
        with named:
            yield ctx
    finally:
        _current.reset(token)
        ctx.close()


@contextmanager
def cancellable(cancel: Callable[[], object]) -> Iterator[None]:
    """Register a cancel hook with the current job (a no-op outside a job)."""
    ctx = current_job()
    if ctx is None:
        yield
        return
    with ctx.cancellable(cancel):
        yield


def cancel_hook(driver_connection: object) -> Callable[[], object]:
    """How to stop what a DB-API connection is running, from another thread."""
    interrupt = getattr(driver_connection, "interrupt", None)  # sqlite3
    if callable(interrupt):
        return interrupt
    cancel = getattr(driver_connection, "cancel", None)  # psycopg
    if callable(cancel):
        return cancel
    return lambda: None

"""What a job leaves in Prefect for support: a progress bar, a summary and its Web API Log."""

from __future__ import annotations

import contextvars
import logging
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from uuid import UUID

from core.results import JobResult, StepCounts
from ess.store.log import LogRow, read_log

_logger = logging.getLogger("ess_sync.reporting")


def artifact_key(kind: str, part: str, database: str) -> str:
    """A Prefect artifact key (lower-case letters, digits and dashes only)."""
    return f"{kind}-{part}-{database}".replace("_", "-").lower()


PROGRESS_EVERY = 1.0
"""Seconds between two moves of a job's progress bar, and from the job's start to its first.

Each write is a call to the Prefect API, which shares the machine with the job: a sync that
changes nothing ends in a third of a second, and one call per step (four, plus creating the
bar) made its writes a sixth of its time. A job's quick steps now make one move, or none.
"""


class JobReport:
    """Keeps a job's progress artifact current and publishes its summary when it ends.

    Artifacts are for people: a failure to write one is logged, never fails the sync. They
    are written in order by one background thread, so the steps never wait for the Prefect
    API; publish() (or close()) waits until all are written. The progress bar moves at most
    once every `every` seconds: steps that end meanwhile are shown by its next move, and a
    job that ends first shows where it got to when it is published (the bar is created by
    its first move, so a job shorter than `every` writes it once).
    """

    def __init__(self, kind: str, database: str, steps: int, every: float = PROGRESS_EVERY) -> None:
        self.kind = kind
        self.database = database
        self.steps = max(steps, 1)
        self.every = every
        self.done = 0
        self._progress: UUID | None = None
        self._shown: float | None = None
        self._shown_at = time.monotonic()
        self._ending = threading.Event()
        self._moving = threading.Lock()
        self._move_queued = False
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ess-artifacts")

    def close(self) -> None:
        """Wait until every artifact asked for so far is written; a move still waiting for
        its turn is dropped."""
        self._ending.set()
        self._writer.shutdown(wait=True)

    def step_done(self) -> None:
        """Move the progress artifact on by one step (now, or when its turn comes)."""
        with self._moving:
            self.done += 1
            if self._move_queued:
                return  # the queued move has not read `done` yet: it shows this step too
            self._move_queued = True
        self._safely(self._move)

    def _move(self) -> None:
        # Wait for the bar's turn; a job that ends meanwhile shows its end instead.
        wait = self._shown_at + self.every - time.monotonic()
        if wait > 0 and self._ending.wait(wait):
            return
        with self._moving:
            self._move_queued = False
            done = self.done
        self._show(100.0 * done / self.steps)

    def _show(self, value: float) -> None:
        from prefect.artifacts import create_progress_artifact, update_progress_artifact

        value = min(100.0, value)
        if value == self._shown:
            return
        if self._progress is None:
            self._progress = create_progress_artifact(  # type: ignore[assignment]
                value,
                key=artifact_key(self.kind, "progress", self.database),
                description=f"{self.kind} of {self.database}: steps done",
            )
        else:
            update_progress_artifact(self._progress, value)
        self._shown, self._shown_at = value, time.monotonic()

    def publish(self, job_id: int, result: JobResult) -> None:
        """Publish the job's markdown summary, its Web API Log rows as a table and where its
        progress bar got to; wait."""
        self._ending.set()
        self._safely(lambda: self._publish(job_id, result))
        self.close()

    def _publish(self, job_id: int, result: JobResult) -> None:
        from prefect.artifacts import create_markdown_artifact, create_table_artifact

        rows = read_log(self.database, job_id=job_id, limit=1000)
        create_markdown_artifact(
            summary_markdown(result, rows),
            key=artifact_key(self.kind, "summary", self.database),
            description=literal(f"{self.kind} of {self.database}: {result.message}"),
        )
        create_table_artifact(
            [
                {
                    "time (UTC)": r.logged_at.strftime("%Y-%m-%d %H:%M:%S"),
                    "level": r.level,
                    "message": r.message,
                }
                for r in rows
            ],
            key=artifact_key(self.kind, "log", self.database),
            description=f"Web API Log of job {job_id} ({self.database})",
        )
        # A completed job is all done, whichever steps it had to run.
        done = 100.0 if result.status == "completed" else 100.0 * self.done / self.steps
        self._show(done)

    def _safely(self, action: Any) -> None:
        # The writer runs in the caller's context: Prefect files the artifact under its run.
        context = contextvars.copy_context()
        try:
            self._writer.submit(context.run, _logged, action)
        except RuntimeError:  # closed: the job has ended
            _logger.warning("Could not write a Prefect artifact: the job's report is closed")


def _logged(action: Any) -> None:
    try:
        action()
    except Exception as exc:
        _logger.warning("Could not write a Prefect artifact: %s", type(exc).__name__)


_PUNCTUATION = re.compile(r"[!-/:-@\[-`{-~]")
"""Every ASCII punctuation character: CommonMark reads each one backslashed as itself."""


def literal(text: object) -> str:
    """`text` as markdown that shows it as written, on one line.

    A payroll value in a message (`<b>x</b>`, `[pay](http://x)`, `a | b`, `**`) reaches the
    Prefect UI's markdown artifacts: it must read as text, never as markup, a link, HTML or
    a table's next cell. Its line breaks would end a list item or a table row.
    """
    return _PUNCTUATION.sub(lambda m: "\\" + m.group(), " ".join(str(text).split()))


def summary_markdown(result: JobResult, rows: list[LogRow]) -> str:
    """The summary a support person reads first: result, duration, counts, what was held back."""
    lines = [
        f"# {literal(result.kind)}: {literal(result.database)}",
        "",
        f"**Result:** {literal(result.message)}",
        "",
        "| Job | Started (UTC) | Ended (UTC) | Duration |",
        "|---|---|---|---|",
    ]
    started = rows[0].logged_at.strftime("%Y-%m-%d %H:%M:%S") if rows else ""
    ended = rows[-1].logged_at.strftime("%Y-%m-%d %H:%M:%S") if rows else ""
    seconds = "" if result.seconds is None else result.seconds
    lines += [f"| {result.job_id} | {started} | {ended} | {seconds} s |", ""]
    lines += counts_markdown(result.steps)
    problems = [r for r in rows if r.level in ("warning", "error")]
    employees = result.step("employees")
    rejected = employees.count("rejected") if employees else 0
    lines += ["## Held back and warnings", ""]
    if problems or rejected:
        lines.append(
            f"{rejected} employee(s) rejected; {len(problems)} warning or error row(s). "
            f"`ess-sync rejects {result.database}` lists every one."
        )
        lines += [f"- {literal(r.message)}" for r in problems[:20]]
    else:
        lines.append("Nothing was held back.")
    return "\n".join(lines) + "\n"


def counts_markdown(steps: tuple[StepCounts, ...]) -> list[str]:
    """The counts per step as a markdown table (nothing when no step counted anything)."""
    if not steps:
        return []
    columns = sorted({kind for s in steps for kind, _ in s.counts}, key=_column_order)
    lines = [
        "## Counts per step",
        "",
        "| Step | " + " | ".join(map(literal, columns)) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for step in steps:
        counts = dict(step.counts)
        lines.append(
            f"| {literal(step.name)} | "
            + " | ".join(str(counts.get(c, "")) for c in columns)
            + " |"
        )
    return [*lines, ""]


_ORDER = ["added", "updated", "terminated", "deactivated", "unchanged", "rejected", "removed"]


def _column_order(name: str) -> tuple[int, str]:
    return (_ORDER.index(name) if name in _ORDER else len(_ORDER), name)

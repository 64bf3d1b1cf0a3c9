"""A job as its flow sees it: hold the database, run each step as the Web API Log shows it,
watch the time, report the end. Flows call run_as_job; previews run the same steps unlogged."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prefect.context import TagsContext
from prefect.runtime import flow_run
from prefect.states import Cancelled, Failed, State

from core import messages
from core.results import Counted, JobResult, StepCounts, StepFailed
from core.steps import Step
from ess.store.jobs import (
    COMPLETED,
    FAILED,
    TIMED_OUT,
    EssBusy,
    Job,
    JobAlreadyRunning,
    LostLease,
    adopt_job,
    finish_job,
    lost_at,
    refused,
    take_job,
)
from ess.store.log import ERROR, INFO
from ess.store.registry import job_limit_seconds
from jobs.collector import fewer_collections
from jobs.context import JobContext, JobLost, job_context
from jobs.kinds import JobKind, database_tag
from jobs.lease import heartbeat
from jobs.log import echo, echo_exception, log
from jobs.reporting import JobReport
from orchestration.runs import crash_abandoned_runs
from payroll.faults import describe
from payroll.source import is_query_timeout

PREVIEW = "preview"


class JobSteps:
    """What a flow's steps write to: the Web API Log rows and each step's counts.

    This base class is a preview's: it logs nothing and keeps the lines it would have logged.
    """

    def __init__(self, kind: JobKind, database: str) -> None:
        self.kind = kind
        self.database = database
        self.id: int | None = None
        self.current: Step | None = None
        self.counts: list[StepCounts] = []
        self.lines: list[str] = []

    @property
    def preview(self) -> bool:
        """True when the steps only compute what they would change."""
        return self.id is None

    def say(self, message: str, level: str = INFO) -> None:
        """One Web API Log row (a preview keeps it as a line)."""
        self.lines.append(message)

    def record(self, name: str, result: Counted) -> None:
        """Keep a step's counts for the summary, the CLI, the page and the preview."""
        self.counts.append(StepCounts.of(name, result))

    @contextmanager
    def step(self, step: Step) -> Iterator[None]:
        """Run one step: its row first, its closing row after; a failure is attributed to it."""
        if step not in self.kind.steps:
            raise ValueError(f"{step.name!r} is not a step of {self.kind.name}.")
        self.current = step
        self.say(step.message)
        yield
        if step.done:
            self.say(step.done)
        self._step_done()

    def _step_done(self) -> None:
        pass

    def result(self, status: str, message: str, **extra: Any) -> JobResult:
        """The job's typed result."""
        return JobResult(
            kind=self.kind.name,
            database=self.database,
            status=status,
            message=message,
            job_id=self.id,
            steps=tuple(self.counts),
            lines=tuple(self.lines) if self.preview else (),
            **extra,
        )


class RunningJob(JobSteps):
    """A job that holds its database: rows go to the Web API Log, progress to Prefect."""

    def __init__(self, kind: JobKind, job: Job, report: JobReport) -> None:
        super().__init__(kind, job.payroll_database)
        self.id = job.id
        self.job = job
        self.report = report

    def say(self, message: str, level: str = INFO) -> None:
        """Write a Web API Log row for this job, committed at once."""
        log(self.database, message, job_id=self.id, level=level)

    def _step_done(self) -> None:
        self.report.step_done()


Body = Callable[[JobSteps], None]


@contextmanager
def _steps_untagged(database: str) -> Iterator[None]:
    """Run the steps without the database's tag: it is the flow run's, not its task runs'.

    start_job() creates the flow run inside `tags("database:NAME")`, which every task run
    would inherit; Prefect then asks its concurrency service for a `tag:database:NAME`
    limit (none exists) before each task run, about 90 ms each on a busy 2-core machine.
    A deployment's run carries the tag on its flow run only: now every run does.
    """
    current = TagsContext.get().current_tags
    tag = database_tag(database)
    if tag not in current:
        yield
        return
    with TagsContext(current_tags=current - {tag}):
        yield


def run_preview(kind: JobKind, database: str, body: Body) -> JobResult:
    """Run the steps computing what they would change; only `Preview only` is logged."""
    steps = JobSteps(kind, database)
    # A context without a job: the steps share one payroll block load and the job's time
    # limit, and hold no database (a preview writes nothing).
    context = JobContext(database, None, job_limit_seconds(database))
    with job_context(context), _steps_untagged(database), fewer_collections():
        body(steps)
    log(database, messages.PREVIEW_ONLY)
    return steps.result(PREVIEW, messages.PREVIEW_ONLY)


def run_as_job(
    kind: JobKind, database: str, job_id: int | None, body: Body
) -> JobResult | State[Any]:
    """Take (or adopt) the database's job, run the steps, and end the job as they ended.

    A second request ends Cancelled; a job past its limit ends TimedOut; any other failure
    ends `Job Failed: <step> failed: <reason>` and fails the flow run.
    """
    if job_id is not None:
        job = adopt_job(job_id, database, kind.name, flow_run.get_id())
    else:
        try:
            job = take_job(database, kind.name, flow_run_id=flow_run.get_id())
        except JobAlreadyRunning as busy:
            message = refused(database, busy.running)
            echo(message, "warning")
            return Cancelled(message=message)
        except EssBusy as busy:
            # Failed, not Cancelled: this database was not synced, and whoever is told of
            # failed runs must hear of it. Only Prefect's log can say so: ESS is locked.
            echo(str(busy), "error")
            return Failed(message=str(busy))
    for level, note in job.notes:
        echo(note, level)
    crash_abandoned_runs(database)
    report = JobReport(kind.name, database, len(kind.steps))
    running = RunningJob(kind, job, report)
    started = time.monotonic()
    context = JobContext(database, job.id, job_limit_seconds(database))
    try:
        with (
            job_context(context),
            heartbeat(job, context),
            _steps_untagged(database),
            fewer_collections(),
        ):
            try:
                body(running)
            except Exception as exc:
                return _failed(running, context, exc, round(time.monotonic() - started, 3))
        seconds = round(time.monotonic() - started, 3)
        try:
            return _end(running, COMPLETED, messages.JOB_COMPLETED, seconds)
        except LostLease:
            return _lost(running)
    finally:
        report.close()  # every artifact written before the flow run ends


def _failed(running: RunningJob, context: JobContext, exc: Exception, seconds: float) -> State[Any]:
    """End a job whose steps raised: lost its database, timed out, or failed (re-raised)."""
    step, cause = _failed_step(running, exc)
    if context.lost.is_set() or isinstance(cause, (LostLease, JobLost)):
        return _lost(running)
    try:
        if context.overdue() or is_query_timeout(cause):
            message = messages.job_timed_out(context.elapsed)
            _end(running, TIMED_OUT, message, seconds)
            return Failed(name="TimedOut", message=message)
        message = messages.job_failed(f"{step} failed: {describe(cause)}")
        _end(running, FAILED, message, seconds, failed_step=step)
    except LostLease:
        # What failed was a job another had already taken over: that is its real end.
        return _lost(running)
    # The run's state says what the Web API Log says (a notification quotes it), not the
    # exception's text; the traceback stays in the run's logs for support.
    echo_exception(exc)
    return Failed(message=message)


def _lost(running: RunningJob) -> State[Any]:
    """End a job that lost its database: one last row, nothing else written, state Failed."""
    message = messages.job_lost_lease(running.database, lost_at(running.job.id))
    log(running.database, message, job_id=running.job.id, level=ERROR)
    running.report.close()
    return Failed(message=message)


def _failed_step(running: JobSteps, exc: BaseException) -> tuple[str, BaseException]:
    if isinstance(exc, StepFailed) and exc.__cause__ is not None:
        return exc.step, exc.__cause__
    return (running.current.name if running.current else "Starting"), exc


def _end(running: RunningJob, status: str, message: str, seconds: float, **extra: Any) -> JobResult:
    result = running.result(status, message, seconds=seconds, **extra)
    level = INFO if status == COMPLETED else ERROR
    finish_job(
        running.job,
        status,
        message,
        level=level,
        summary=result.to_json(),
        last_done_column=running.kind.last_done_column,
    )
    echo(message, level)
    running.report.publish(running.job.id, result)
    return result

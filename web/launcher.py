"""Starting jobs and previews from the page: through Prefect or as a local `ess-sync` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from core.redact import connection_secrets, scrub
from core.results import JobResult
from ess.settings import settings as ess_settings
from ess.store.history import latest_job_id
from ess.store.jobs import JobAlreadyRunning, live_job
from jobs.__main__ import OUTCOME_MARK
from jobs.kinds import KINDS, SYNC_FROM_PAYROLL, kind_named
from jobs.start import NOT_STARTED
from web.settings import UiSettings

PREFECT_YAML = Path(__file__).resolve().parent.parent / "deployments" / "prefect.yaml"
# A Prefect run waits for a worker; after this long without a job the page stops waiting.
_PENDING_SECONDS = 120
# Each preview is a Prefect process holding one of the web server's threads for up to
# ESS_UI_PREVIEW_TIMEOUT_SECONDS: two at once keep the page responsive.
MAX_PREVIEWS = 2


class Busy(Exception):
    """The database already has a job (or one is being started from this page)."""


class PreviewFailed(Exception):
    """The preview could not run; the message says why, without secrets."""


class TooManyPreviews(Exception):
    """This page is already running as many previews as it allows."""


def preview_command(database: str) -> list[str]:
    """The child process that previews Sync from Payroll of the database."""
    return [sys.executable, "-m", "jobs", "preview", SYNC_FROM_PAYROLL.name, database]


def ui_jobs_folder() -> Path:
    """$ESS_DATA_DIR/ui-jobs, readable by its owner only: job output can name payroll data."""
    folder = ess_settings().data_dir / "ui-jobs"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


@contextmanager
def private_file(path: Path) -> Iterator[IO[bytes]]:
    """The file opened for appending, created (or narrowed to) mode 0600."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(descriptor, 0o600)  # an older file made before this rule
    with os.fdopen(descriptor, "ab") as file:
        yield file


@dataclass
class _Pending:
    kind: str
    since: float
    jobs_before: int
    process: subprocess.Popen[bytes] | None = field(default=None)


def deployment_names(path: Path = PREFECT_YAML) -> dict[str, str]:
    """Flow name -> "flow/deployment" from deployments/prefect.yaml (defaults if absent)."""
    names = {kind: f"{kind}/ess-sync" for kind in KINDS}
    if not path.exists():
        return names
    import yaml

    document = yaml.safe_load(path.read_text()) or {}
    for deployment in document.get("deployments") or []:
        function = str(deployment.get("entrypoint", "")).rpartition(":")[2]
        flow_name = function.replace("_", "-")
        if flow_name in names and deployment.get("name"):
            names[flow_name] = f"{flow_name}/{deployment['name']}"
    return names


class Launcher:
    """Starts at most one job per database from this page; the job itself is the real guard."""

    def __init__(
        self, config: UiSettings, preview_command: Callable[[str], list[str]] = preview_command
    ) -> None:
        self._config = config
        self._preview_command = preview_command
        self._previews = threading.BoundedSemaphore(MAX_PREVIEWS)
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.RLock()

    def starting(self, database: str) -> str | None:
        """The kind of job this page is starting on the database, until the job takes over."""
        with self._lock:
            pending = self._pending.get(database)
            if pending is None:
                return None
            process_ended = pending.process is not None and pending.process.poll() is not None
            expired = time.monotonic() - pending.since > _PENDING_SECONDS
            if process_ended or expired or latest_job_id(database) > pending.jobs_before:
                del self._pending[database]
                return None
            return pending.kind

    def start(self, database: str, kind: str) -> str:
        """Start a job; Busy with the `Job Not Started` text if the database is held."""
        running = live_job(database)
        if running is not None:
            raise Busy(str(JobAlreadyRunning(running)))
        # Check and mark in one step: two quick clicks must not both pass.
        with self._lock:
            if self.starting(database) is not None:
                raise Busy(f"Job Not Started: a sync of {database} is already being started.")
            pending = _Pending(kind, time.monotonic(), latest_job_id(database))
            self._pending[database] = pending
        try:
            if self._config.uses_prefect():
                return self._start_deployment(database, kind)
            pending.process = self._start_process(database, kind)
        except Exception:
            with self._lock:
                self._pending.pop(database, None)
            raise
        return f"Started {kind_named(kind).label} of {database} on this machine."

    def _start_deployment(self, database: str, kind: str) -> str:
        from prefect.deployments import run_deployment

        name = f"{kind}/{database}"  # one deployment per database: orchestration/deployments.py
        run: Any = run_deployment(name=name, parameters={"database": database}, timeout=0)
        return f"Started {kind_named(kind).label} of {database}: Prefect flow run {run.name}."

    def _start_process(self, database: str, kind: str) -> subprocess.Popen[bytes]:
        # jobs.start takes the job before Prefect starts: a second process is refused.
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        with private_file(ui_jobs_folder() / f"{database}-{kind}-{stamp}.log") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "jobs", "start", kind, database],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives the page and its Ctrl-C
            )
        # Reap it when it ends, so no zombie is left behind while the page runs on.
        threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
        return process

    def preview(self, database: str) -> dict[str, Any]:
        """Run Sync from Payroll with preview=True in a child process; its result.

        TooManyPreviews when two are running already; Busy while the database has a job;
        PreviewFailed with a scrubbed sentence (naming the file that keeps the child's
        stderr) when the preview did not complete.
        """
        if not self._previews.acquire(blocking=False):
            raise TooManyPreviews("Two previews are already running; try again when one finishes.")
        try:
            running = live_job(database)
            if running is not None:
                raise Busy(str(JobAlreadyRunning(running)))
            return self._preview(database)
        finally:
            self._previews.release()

    def _preview(self, database: str) -> dict[str, Any]:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        errors = ui_jobs_folder() / f"{database}-preview-{stamp}.stderr.log"
        # A child process keeps Prefect's engine out of the web server's threads and loop.
        try:
            with private_file(errors) as stderr:
                done = subprocess.run(
                    self._preview_command(database),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=stderr,
                    timeout=self._config.preview_timeout_seconds,
                    check=False,
                )
        except subprocess.TimeoutExpired:
            raise PreviewFailed(
                f"The preview of {database} took longer than "
                f"{self._config.preview_timeout_seconds:.0f} s; nothing was changed "
                f"(its error output is in {errors})."
            ) from None
        answer = _outcome(done.stdout.decode(errors="replace"))
        if answer is None or (answer["result"] is None and answer["status"] != NOT_STARTED):
            raise PreviewFailed(_failure_sentence(database, answer, errors))
        errors.unlink(missing_ok=True)  # kept only when the preview failed
        if answer["status"] == NOT_STARTED:
            raise Busy(answer["message"])
        result = JobResult.from_json(answer["result"])
        steps = [{"step": s.name, "counts": s.shown()} for s in result.steps]
        return {"ok": True, "database": database, "steps": steps}


def _outcome(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(OUTCOME_MARK):
            answer: dict[str, Any] = json.loads(line[len(OUTCOME_MARK) :])
            return answer
    return None


def _failure_sentence(database: str, answer: dict[str, Any] | None, errors: Path) -> str:
    """Why the preview failed, in one scrubbed sentence that names the kept stderr."""
    if answer is not None and answer["message"]:
        reason = str(answer["message"])
    else:
        # A Python traceback ends with "SomeError: what happened": show that line only.
        lines = [ln.strip() for ln in errors.read_text(errors="replace").splitlines()]
        reason = next((ln for ln in reversed(lines) if ln), "") or "it ended without a word"
    reason = scrub(reason, _known_secrets(database))
    if len(reason) > 300:
        reason = reason[:297] + "..."
    return (
        f"The preview of {database} failed: {reason.rstrip('.')}. "
        f"Nothing was changed; the full error output is in {errors}."
    )


def _known_secrets(database: str) -> list[str]:
    """The database's connection secrets and ESS's own, as far as they are known."""
    from payroll.connect import load_payroll

    found = connection_secrets(None, _ess_url())
    try:
        block = load_payroll(database)
    except Exception:  # no Prefect server or no block: scrub with what else we know
        return found
    secret = block.connection_string.get_secret_value()
    return [*found, *connection_secrets(block.connection_kind, secret)]


def _ess_url() -> str:
    url = ess_settings().database_url
    return url.get_secret_value() if url is not None else ""

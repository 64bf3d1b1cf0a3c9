"""Starting jobs and previews from the page: through Prefect or as a local `ess-sync` process."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

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


class Busy(Exception):
    """The database already has a job (or one is being started from this page)."""


class PreviewFailed(Exception):
    """The preview could not run; the message says why, without secrets."""


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

    def __init__(self, config: UiSettings) -> None:
        self._config = config
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

        name = deployment_names()[kind]
        run: Any = run_deployment(name=name, parameters={"database": database}, timeout=0)
        return f"Started {kind_named(kind).label} of {database}: Prefect flow run {run.name}."

    def _start_process(self, database: str, kind: str) -> subprocess.Popen[bytes]:
        # jobs.start takes the job before Prefect starts: a second process is refused.
        folder = ess_settings().data_dir / "ui-jobs"
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        with open(folder / f"{database}-{kind}-{stamp}.log", "ab") as output:
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
        """Run Sync from Payroll with preview=True in a child process; its result."""
        running = live_job(database)
        if running is not None:
            raise Busy(str(JobAlreadyRunning(running)))
        # A child process keeps Prefect's engine out of the web server's threads and loop.
        try:
            done = subprocess.run(
                [sys.executable, "-m", "jobs", "preview", SYNC_FROM_PAYROLL.name, database],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self._config.preview_timeout_seconds,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PreviewFailed(
                f"The preview of {database} took longer than "
                f"{self._config.preview_timeout_seconds:.0f} s; nothing was changed."
            ) from None
        for line in reversed(done.stdout.decode(errors="replace").splitlines()):
            if line.startswith(OUTCOME_MARK):
                answer: dict[str, Any] = json.loads(line[len(OUTCOME_MARK) :])
                break
        else:
            raise PreviewFailed(f"The preview of {database} did not run; see the page's log.")
        if answer["status"] == NOT_STARTED:
            raise Busy(answer["message"])
        if answer["result"] is None:
            raise PreviewFailed(answer["message"] or "The preview failed.")
        result = JobResult.from_json(answer["result"])
        steps = [{"step": s.name, "counts": s.shown()} for s in result.steps]
        return {"ok": True, "database": database, "steps": steps}

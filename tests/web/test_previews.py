"""Previews from the page: at most two at once, and a failed one keeps its error output."""

from __future__ import annotations

import sqlite3
import stat
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.web.conftest import BROKEN, PASSWORD, SECRET, A, B, Page
from web.launcher import Launcher, PreviewFailed, TooManyPreviews, private_file
from web.settings import UiSettings

TOO_MANY = "Two previews are already running; try again when one finishes."
# What a crash before the outcome line looks like: a traceback naming the connection.
STDERR = (
    "Traceback (most recent call last):\n  File x.py\n"
    "RuntimeError: cannot reach postgresql+psycopg://payroll:S3cret@127.0.0.1:5432/x\n"
)
CRASH = f"import sys; sys.stderr.write({STDERR!r}); sys.exit(1)"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _preview_in_a_worker_thread(launcher: Launcher, database: str) -> None:
    """launcher.preview as the page calls it: in a thread with no event loop.

    After the browser tests Playwright's loop runs in this thread, and Prefect's sync
    Block.load would hand back an un-awaited coroutine here.
    """
    raised: list[BaseException] = []

    def run() -> None:
        try:
            launcher.preview(database)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if raised:
        raise raised[0]


def test_a_third_preview_is_refused_while_two_run(served: Page, tmp_path: Path) -> None:
    def command(database: str) -> list[str]:
        marker = tmp_path / f"{threading.get_ident()}"
        return [sys.executable, "-c", f"open({str(marker)!r}, 'w'); import time; time.sleep(4)"]

    launcher = Launcher(UiSettings(password=PASSWORD), preview_command=command)
    outcomes: list[str] = []

    def preview() -> None:
        try:
            launcher.preview(A)
        except PreviewFailed as failed:
            outcomes.append(str(failed))

    threads = [threading.Thread(target=preview) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(list(tmp_path.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(TooManyPreviews, match=TOO_MANY):
        launcher.preview(A)
    for thread in threads:
        thread.join()
    assert len(outcomes) == 2, "both ran to their end"
    with pytest.raises(PreviewFailed):
        _preview_in_a_worker_thread(launcher, A)  # a slot is free again


def test_the_page_answers_a_third_preview_429(served: Page, client: httpx.Client) -> None:
    token = served.login(client)
    answers: list[httpx.Response] = []

    def preview(database: str) -> None:
        url = f"{served.url}/api/databases/{database}/preview"
        with httpx.Client(timeout=300, cookies=client.cookies) as other:
            answers.append(other.post(url, json={}, headers={"X-CSRF-Token": token}))

    # A failed preview keeps its stderr file: only files new since here say one started.
    folder = served.data_dir / "ui-jobs"
    before = set(folder.glob("*-preview-*.stderr.log"))

    def started(database: str) -> bool:
        return any(f not in before for f in folder.glob(f"{database}-preview-*.stderr.log"))

    # Two previews, each kept waiting on its held payroll ("database is locked", retried);
    # the third asks once both have started (each keeps a stderr file while it runs).
    holds = [sqlite3.connect(served.payrolls[name], isolation_level=None) for name in (A, B)]
    threads = [threading.Thread(target=preview, args=(name,)) for name in (A, B)]
    try:
        for hold in holds:
            hold.execute("BEGIN EXCLUSIVE")
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while not (started(A) and started(B)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert started(A) and started(B), "both previews to start within 60 s"
        third = client.post(
            f"{served.url}/api/databases/{A}/preview", json={}, headers={"X-CSRF-Token": token}
        )
        assert third.status_code == 429, third.text
        assert third.json() == {"error": TOO_MANY}
        assert answers == [], "both previews were still waiting on their payrolls"
    finally:
        for hold in holds:
            hold.execute("ROLLBACK")
            hold.close()
        for thread in threads:
            if thread.ident is not None:  # started (a payroll that would not lock starts none)
                thread.join()
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert sorted(a.json()["database"] for a in answers) == [A, B]
    assert all(a.json()["ok"] and a.json()["steps"] for a in answers)


def test_a_failed_preview_shows_a_scrubbed_sentence_and_keeps_its_stderr(served: Page) -> None:
    launcher = Launcher(
        UiSettings(password=PASSWORD), preview_command=lambda db: [sys.executable, "-c", CRASH]
    )
    with pytest.raises(PreviewFailed) as failed:
        _preview_in_a_worker_thread(launcher, SECRET)
    message = str(failed.value)
    assert message.startswith(f"The preview of {SECRET} failed: RuntimeError: cannot reach")
    assert "S3cret" not in message and "Traceback" not in message
    kept = Path(message.rsplit(" is in ", 1)[1].rstrip("."))
    assert kept.parent == served.data_dir / "ui-jobs"
    assert _mode(kept) == 0o600 and _mode(kept.parent) == 0o700
    assert "Traceback (most recent call last)" in kept.read_text()


def test_a_preview_the_job_itself_fails_names_the_kept_output(
    served: Page, client: httpx.Client
) -> None:
    token = served.login(client)
    answer = client.post(
        f"{served.url}/api/databases/{SECRET}/preview", json={}, headers={"X-CSRF-Token": token}
    )
    assert answer.status_code == 502, answer.text
    error = answer.json()["error"]
    assert error.startswith(f"The preview of {SECRET} failed: ")
    assert "S3cret" not in error and "Traceback" not in error
    kept = Path(error.rsplit(" is in ", 1)[1].rstrip("."))
    assert kept.exists() and _mode(kept) == 0o600


def test_job_output_files_are_readable_by_their_owner_only(
    served: Page, client: httpx.Client, tmp_path: Path
) -> None:
    old = tmp_path / "old.log"
    old.write_text("made before the rule\n")
    old.chmod(0o644)
    with private_file(old) as output:
        output.write(b"more\n")
    assert _mode(old) == 0o600
    token = served.login(client)
    started = client.post(
        f"{served.url}/api/databases/{BROKEN}/jobs",
        json={"kind": "sync-leave-balances"},
        headers={"X-CSRF-Token": token},
    )
    assert started.status_code == 202, started.text
    logs = list((served.data_dir / "ui-jobs").glob(f"{BROKEN}-sync-leave-balances-*.log"))
    assert logs and all(_mode(log) == 0o600 for log in logs)

"""What a job leaves in Prefect as it runs: its progress bar moves without holding up a step,
and a job's quick steps cost the Prefect API one move, not one each."""

import threading
import time

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)

from jobs.reporting import JobReport

PROBE_KEY = "sync-from-payroll-progress-report-probe"


class _Watched(JobReport):
    """A JobReport that remembers each value its progress bar was given."""

    def __init__(self, *args, **kwargs):
        self.shown = []
        super().__init__(*args, **kwargs)

    def _show(self, value):
        super()._show(value)
        self.shown.append(value)


@flow(name="report-probe")
def _four_quick_steps(prefect_keeps_up: bool, every: float = 0.0) -> list[float]:
    report = _Watched("sync-from-payroll", "report_probe", steps=4, every=every)
    prefect_is_slow = threading.Event()
    if not prefect_keeps_up:
        report._safely(prefect_is_slow.wait)  # the writer is busy with an earlier call
    for _ in range(4):
        report.step_done()
        if prefect_keeps_up:
            report._writer.submit(lambda: None).result()  # each move is written before the next
    prefect_is_slow.set()
    report.close()
    return report.shown


@flow(name="report-probe")
def _one_step_then_wait(every: float) -> list[float]:
    """One of four steps done, then the job keeps running until its bar has moved."""
    report = _Watched("sync-from-payroll", "report_probe", steps=4, every=every)
    report.step_done()
    deadline = time.monotonic() + 30
    while not report.shown and time.monotonic() < deadline:
        time.sleep(0.05)
    report.close()
    return report.shown


@flow(name="report-probe")
def _quick_steps_closed(every: float) -> tuple[list[float], float]:
    report = _Watched("sync-from-payroll", "report_probe", steps=4, every=every)
    for _ in range(3):
        report.step_done()
    started = time.monotonic()
    report.close()
    return report.shown, time.monotonic() - started


def _progress_shown(state):
    wanted = ArtifactFilter(
        key=ArtifactFilterKey(any_=[PROBE_KEY]),
        flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
    )
    with get_client(sync_client=True) as client:
        shown = client.read_artifacts(artifact_filter=wanted, limit=1)
    return float(shown[0].data) if shown else None


def test_steps_that_end_while_the_progress_bar_moves_are_shown_by_its_next_move(prefect_api):
    state = _four_quick_steps(prefect_keeps_up=False, return_state=True)
    assert state.result() == [100.0]  # one call for the four steps, not four
    assert _progress_shown(state) == 100.0


def test_each_step_moves_the_progress_bar_when_prefect_keeps_up_and_its_turn_has_come(
    prefect_api,
):
    state = _four_quick_steps(prefect_keeps_up=True, return_state=True)
    assert state.result() == [25.0, 50.0, 75.0, 100.0]
    assert _progress_shown(state) == 100.0


def test_a_step_done_before_the_bars_turn_is_shown_when_its_turn_comes(prefect_api):
    state = _one_step_then_wait(every=0.5, return_state=True)
    assert state.result() == [25.0]
    assert _progress_shown(state) == 25.0


def test_a_job_that_ends_before_its_bars_turn_waits_for_nothing_and_writes_no_move(prefect_api):
    # A re-sync that changes nothing ends well within a second: its steps call Prefect
    # for no move (publishing the job shows where it got to: test_prefect_features).
    state = _quick_steps_closed(every=3600.0, return_state=True)
    shown, closing_took = state.result()
    assert shown == []
    assert closing_took < 60  # not the hour the move would have waited for its turn
    assert _progress_shown(state) is None

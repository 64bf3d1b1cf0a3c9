"""What a job leaves in Prefect as it runs: its progress bar moves without holding up a step."""

import threading

from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)

from jobs.reporting import JobReport


class _Watched(JobReport):
    """A JobReport that remembers the value each move of its progress bar showed."""

    def __init__(self, *args, **kwargs):
        self.moves = []
        super().__init__(*args, **kwargs)

    def _update(self):
        super()._update()
        self.moves.append(self.done)


@flow(name="report-probe")
def _four_quick_steps(prefect_keeps_up: bool) -> list[int]:
    report = _Watched("sync-from-payroll", "report_probe", steps=4)
    prefect_is_slow = threading.Event()
    if not prefect_keeps_up:
        report._safely(prefect_is_slow.wait)  # the writer is busy with an earlier call
    for _ in range(4):
        report.step_done()
        if prefect_keeps_up:
            report._writer.submit(lambda: None).result()  # each move is written before the next
    prefect_is_slow.set()
    report.close()
    return report.moves


def _progress_shown(state):
    wanted = ArtifactFilter(
        key=ArtifactFilterKey(any_=["sync-from-payroll-progress-report-probe"]),
        flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
    )
    with get_client(sync_client=True) as client:
        shown = client.read_artifacts(artifact_filter=wanted, limit=1)
    return float(shown[0].data)


def test_steps_that_end_while_the_progress_bar_moves_are_shown_by_its_next_move(prefect_api):
    state = _four_quick_steps(prefect_keeps_up=False, return_state=True)
    assert state.result() == [4]  # one call for the four steps, not four
    assert _progress_shown(state) == 100.0


def test_each_step_moves_the_progress_bar_when_prefect_keeps_up(prefect_api):
    state = _four_quick_steps(prefect_keeps_up=True, return_state=True)
    assert state.result() == [1, 2, 3, 4]
    assert _progress_shown(state) == 100.0

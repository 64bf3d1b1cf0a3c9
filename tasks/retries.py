"""How every step retries: transient faults only, exponential backoff with jitter."""

from __future__ import annotations

from typing import Any

from prefect.tasks import exponential_backoff

from tasks.faults import is_transient
from tasks.payroll_source import PayrollReadError

DEFAULT_RETRIES = 3


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's retry_condition_fn: retry a step only when its fault is transient."""
    try:
        state.result()
    except PayrollReadError as exc:
        return exc.transient
    except Exception as exc:
        return is_transient(exc)
    return False


STEP_OPTIONS: dict[str, Any] = {
    "retries": DEFAULT_RETRIES,
    "retry_delay_seconds": exponential_backoff(backoff_factor=2),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_transient,
}
"""Task options every sync step shares."""

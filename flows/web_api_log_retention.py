"""Web API Log retention: entries are kept for one calendar month (by default)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow

from core import messages
from core.retention import months_before
from flows.runs import LOCAL_RESULT_STORAGE, RESULTS_NOT_PERSISTED
from jobs.log import log
from tasks.retention import count_expired, purge_web_api_log


@flow(
    name="web-api-log-retention",
    persist_result=RESULTS_NOT_PERSISTED,
    result_storage=LOCAL_RESULT_STORAGE,
)
def web_api_log_retention(months: int = 1, dry_run: bool = False) -> dict[str, Any]:
    """Delete Web API Log rows older than `months` calendar months, never a running job's.

    Args:
        months: how many calendar months of the Web API Log to keep.
        dry_run: count what would be removed and remove nothing.
    """
    cutoff = months_before(datetime.now(UTC), months)
    removed = count_expired(cutoff) if dry_run else purge_web_api_log(cutoff)
    log(None, messages.log_purged(removed, cutoff, dry_run))
    return {"cutoff": cutoff.isoformat(), "removed": removed, "dry_run": dry_run}


if __name__ == "__main__":
    import sys

    web_api_log_retention(dry_run="--dry-run" in sys.argv[1:])

"""`python -m jobs start|preview KIND DATABASE`: run a job (or a preview) in this process.

The page starts jobs this way, so Prefect's engine runs outside the web server; the last
line of the output, after the mark, is the outcome as JSON.
"""

from __future__ import annotations

import json
import sys

from jobs.kinds import kind_named
from jobs.prefect_defaults import apply_prefect_defaults
from jobs.start import Outcome, preview_job, start_job
from orchestration.server import use_local_server

# Before the job's flow imports Prefect (the imports above do not).
apply_prefect_defaults()
use_local_server()

OUTCOME_MARK = "ESS-OUTCOME "


def outcome_json(outcome: Outcome) -> str:
    """The marked line that carries an outcome back to the page."""
    return OUTCOME_MARK + json.dumps(
        {
            "status": outcome.status,
            "message": outcome.message,
            "job_id": outcome.job_id,
            "result": outcome.result.to_json() if outcome.result else None,
        }
    )


def main(argv: list[str]) -> int:
    """Run what argv asks; exit code 0 when it completed."""
    action, kind, database = argv
    run = preview_job if action == "preview" else start_job
    outcome = run(kind_named(kind), database)
    print(outcome_json(outcome), flush=True)
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

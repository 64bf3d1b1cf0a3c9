"""`python -m web.preview NAME`: run Sync from Payroll as a preview and print its result as JSON.

The page runs this in a child process; the one line starting with the mark is the answer.
"""

from __future__ import annotations

import json
import sys
from typing import Any

PREVIEW_MARK = "ESS-PREVIEW "


def preview_steps(result: dict[str, Any]) -> list[dict[str, str]]:
    """Each step's counts as one line, in the order the sync runs them."""
    steps = []
    for step, counts in result.get("steps", {}).items():
        if isinstance(counts, dict):
            shown = ", ".join(f"{n} {k}" for k, n in counts.items() if isinstance(n, int))
            steps.append({"step": step, "counts": shown})
    return steps


def main(database: str) -> dict[str, Any]:
    """The preview's answer: ok and steps, or busy/failed and a message."""
    from flows.sync_from_payroll import sync_from_payroll

    state: Any = sync_from_payroll(database=database, preview=True, return_state=True)
    if state.is_completed():
        return {"ok": True, "database": database, "steps": preview_steps(state.result())}
    if state.is_cancelled():
        return {"ok": False, "busy": True, "message": state.message}
    return {"ok": False, "message": state.message or "The preview failed."}


if __name__ == "__main__":
    print(PREVIEW_MARK + json.dumps(main(sys.argv[1])), flush=True)

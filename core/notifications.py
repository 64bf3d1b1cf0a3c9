"""Which ends of a sync's run reach a person, and which state messages may be quoted to them."""

from __future__ import annotations

import re

# Prefect names a flow run's state event by the state's name; TimedOut is a named Failed.
FAILED_STATES = frozenset({"Failed", "TimedOut", "Crashed"})
# A Cancelled run counts only when the database was busy: ESS's own refusal
# (messages.job_not_started) or the server's deployment concurrency limit (CANCEL_NEW).
# A run a person cancelled, or a confirmation nobody answered, is not a failure.
BUSY_MESSAGES = ("Job Not Started: *", "Deployment concurrency limit reached*")
# State messages a notification may quote: ESS's Web API Log lines (written secret-free)
# and Prefect's own fixed sentences. Anything else may carry an exception's text.
SAFE_MESSAGES = (
    "Job ",
    "Unknown payroll database ",
    "Deployment concurrency limit reached",
    "No heartbeat for ",
    "Flow run infrastructure exited with",
    "Flow run exceeded timeout of",
)
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,48}")


def valid_name(name: str) -> str:
    """The notification's name, or ValueError saying what a name may hold."""
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a notification name: use 1 to 49 lower-case letters, digits and "
            "hyphens, starting with a letter or digit (Prefect block names allow no more)."
        )
    return name


def quotable(message: str | None) -> bool:
    """Whether a state message may be put in a notification as it is."""
    return bool(message) and str(message).startswith(SAFE_MESSAGES)

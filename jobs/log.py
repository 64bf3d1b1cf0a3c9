"""The Web API Log as a running job writes it: each row committed in ESS at once and shown
in the Prefect run's own log too, so the flow-run history tells the same story."""

from __future__ import annotations

import logging

from prefect.exceptions import MissingContextError
from prefect.logging import get_run_logger

from ess.store.log import INFO, write_log

_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def log(
    database: str | None, message: str, *, job_id: int | None = None, level: str = INFO
) -> None:
    """Write a Web API Log row and echo it to the Prefect run (when there is one)."""
    write_log(database, message, job_id=job_id, level=level)
    echo(message, level)


def echo(message: str, level: str = INFO) -> None:
    """Show a Web API Log row in the Prefect run's logs; nothing outside a run."""
    try:
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] = get_run_logger()
    except MissingContextError:
        return
    logger.log(_LEVELS.get(level, logging.INFO), message)


def echo_exception(exc: BaseException) -> None:
    """Put a failed job's traceback in the Prefect run's logs, where support looks for it."""
    try:
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] = get_run_logger()
    except MissingContextError:
        return
    logger.error("The job failed with this exception:", exc_info=exc)

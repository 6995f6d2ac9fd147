"""The one logger of tasks and lead commands: counts and ids only, never names, emails or answers."""

from __future__ import annotations

import contextlib
import logging
import sys


def log(message: str, **counts: object) -> None:
    """Log counts and ids only: to the Prefect run's logger inside a run, else to the ``mentorflow`` logger.

    Prefect is only asked when it is already loaded, so lead commands that call this never import it.
    """
    details = ", ".join(f"{k}={v}" for k, v in counts.items())
    logger: logging.Logger | logging.LoggerAdapter[logging.Logger] = logging.getLogger("mentorflow")
    if "prefect.logging" in sys.modules:
        from prefect.exceptions import MissingContextError
        from prefect.logging import get_run_logger

        with contextlib.suppress(MissingContextError):  # outside a run (the CLI, unit tests) the plain logger
            logger = get_run_logger()
    logger.info(f"{message}{': ' if details else ''}{details}")

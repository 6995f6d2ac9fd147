"""The form watch: one long run a day that looks for new answers every minute and starts intake only then.

A look that finds nothing is one list request inside this run (no run of its own), so the runs list shows
one watch a day and an intake run only when someone answered.
"""

from __future__ import annotations

import time
from datetime import datetime

from prefect import flow
from pydantic import BaseModel

from flows.naming import run_name
from mentorflow.bootstrap import current_services
from tasks.common import log, resolve_now
from tasks.events import FORM_ANSWERED, announce
from tasks.intake import count_new_answers


class WatchSummary(BaseModel):
    looks: int
    announced: int


@flow(name="intake-watch", flow_run_name=run_name("intake-watch"), log_prints=False)
def intake_watch(as_of: datetime | None = None, hours: float = 23.9, every_seconds: float = 60) -> WatchSummary:
    """Look for new form answers every ``every_seconds`` for ``hours``; announce each new set once."""
    resolve_now(as_of, current_services().settings.timezone)
    deadline = time.monotonic() + hours * 3600
    looks = announced = 0
    told: str | None = None  # the watermark already announced: not again until intake has moved past it
    while True:
        looks += 1
        try:
            count, watermark = count_new_answers()
        except Exception as exc:  # a failed look is retried at the next one; the safety-net schedule remains
            log("form look failed", error=type(exc).__name__)
            count, watermark = 0, None
        if count and watermark != told:
            announce(FORM_ANSWERED, "watch", count)
            told, announced = watermark, announced + 1
        if time.monotonic() + every_seconds > deadline:
            return WatchSummary(looks=looks, announced=announced)
        time.sleep(every_seconds)

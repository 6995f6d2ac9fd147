"""The form watch: one long run a day that looks for new answers every minute and takes them in at once.

A look that finds nothing is one list request inside this run (no run of its own), so the runs list shows
one watch a day and an intake run only when someone answered.

When a look finds answers, the watch runs intake itself, in this process: the same ``intake`` flow as the
deployment, as a run of its own (named, tagged, with its report; a failure alerts the lead as any run's does),
which emits ``mentorflow.applications.stored`` and so starts match. That saves the one process start (and
worker poll, and trigger) that an ``intake`` deployment run would cost, about a sixth of the answer-to-
invitation time. Only when that intake run did not complete does the watch announce
``mentorflow.form.answered``, once for those answers: the ``intake`` deployment then tries in a fresh process
(and its schedule stays the safety net). Two intakes over the same answers are harmless: the store takes an
answer in once (one open request per person, each response id taken once) and the ledger sends each
acknowledgment once.
"""

from __future__ import annotations

import time
from datetime import datetime

from prefect import flow, tags
from pydantic import BaseModel

from flows.intake import intake
from flows.naming import run_name
from mentorflow.bootstrap import current_services
from tasks.common import log, resolve_now
from tasks.events import FORM_ANSWERED, announce
from tasks.intake import count_new_answers

RUN_TAGS = ("mentorflow", "intake")  # what the intake deployment's runs carry (the lead's automations, filters)


class WatchSummary(BaseModel):
    looks: int
    taken_in: int = 0  # intake runs this watch ran itself that completed
    announced: int  # answers handed to the intake deployment (its run in this process did not complete)


def take_in(as_of: datetime | None) -> bool:
    """Run intake here, as a run of its own tagged like the deployment's; True if it completed."""
    with tags(*RUN_TAGS):
        state = intake(as_of, return_state=True)
    if not state.is_completed():
        log("intake in the watch did not complete", state=state.type.value)
    return state.is_completed()


@flow(name="intake-watch", flow_run_name=run_name("intake-watch"), log_prints=False)
def intake_watch(as_of: datetime | None = None, hours: float = 23.9, every_seconds: float = 60) -> WatchSummary:
    """Look for new form answers every ``every_seconds`` for ``hours``; take each new set in once."""
    resolve_now(as_of, current_services().settings.timezone)
    deadline = time.monotonic() + hours * 3600
    looks = taken_in = announced = 0
    tried: str | None = None  # the watermark already tried: not again until intake has moved past it
    while True:
        looks += 1
        try:
            count, watermark = count_new_answers()
        except Exception as exc:  # a failed look is retried at the next one; the safety-net schedule remains
            log("form look failed", error=type(exc).__name__)
            count, watermark = 0, None
        if count and watermark != tried:
            tried = watermark
            if take_in(as_of):
                taken_in += 1
            else:  # a fresh process may do better (another worker, a restarted connection): once per set
                announce(FORM_ANSWERED, "watch", count)
                announced += 1
        if time.monotonic() + every_seconds > deadline:
            return WatchSummary(looks=looks, taken_in=taken_in, announced=announced)
        time.sleep(every_seconds)

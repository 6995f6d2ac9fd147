"""Tasks of the intake stage: read the roster and new form answers, validate them, keep them in the store."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from connectors.base import IntakeBatch
from domain.intake import parse_mentee, parse_mentor
from domain.models import MenteeApplication, Mentor, SetAside
from mentorflow.bootstrap import current_services
from tasks.common import log, retry_if_transient


class RosterReport(BaseModel):
    read: int
    added: int
    updated: int
    set_aside: list[SetAside]


class IntakeReport(BaseModel):
    received: int
    created: int
    updated: int
    unchanged: int
    set_aside: list[SetAside]


@task(
    name="sync-roster", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, retry_condition_fn=retry_if_transient
)
def sync_roster(now: datetime) -> RosterReport:
    """Read the whole mentor roster; keep valid mentors, set the rest aside with reasons."""
    svc = current_services()
    raws = svc.connectors.roster.fetch()
    parsed = [parse_mentor(r, svc.rules) for r in raws]
    mentors = [m for m in parsed if isinstance(m, Mentor)]
    bad = [m for m in parsed if isinstance(m, SetAside)]
    with svc.store.unit_of_work() as uow:
        added, updated = uow.roster.sync(mentors, now)
        uow.requests.record_set_aside(bad, "mentor", now)
    log("roster synced", read=len(raws), added=added, updated=updated, set_aside=len(bad))
    return RosterReport(read=len(raws), added=added, updated=updated, set_aside=bad)


@task(
    name="fetch-responses",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=10,
    retry_condition_fn=retry_if_transient,
)
def fetch_responses() -> IntakeBatch:
    """New or edited form answers since the stored watermark (reading has no side effect: safe to retry)."""
    svc = current_services()
    source = svc.connectors.intake
    with svc.store.unit_of_work() as uow:
        watermark = uow.requests.watermark(source.name)
    return source.fetch(watermark)


@task(name="save-applications", cache_policy=NO_CACHE)
def save_applications(batch: IntakeBatch, now: datetime) -> IntakeReport:
    """Validate every answer; upsert the good ones by email, set the bad ones aside, move the watermark.

    All three in one unit of work: a run killed halfway keeps nothing and reads the same answers again.
    """
    svc = current_services()
    parsed = [parse_mentee(raw, svc.rules, svc.settings.timezone) for raw in batch.responses]
    good = [p for p in parsed if isinstance(p, MenteeApplication)]
    bad = [*batch.problems, *(p for p in parsed if isinstance(p, SetAside))]
    with svc.store.unit_of_work() as uow:
        counts = uow.requests.save_applications(good, now)
        uow.requests.record_set_aside(bad, "mentee", now)
        if batch.watermark is not None:
            uow.requests.set_watermark(svc.connectors.intake.name, batch.watermark, now)
    log("applications saved", received=len(batch.responses), set_aside=len(bad), **dict(counts))
    return IntakeReport(
        received=len(batch.responses),
        created=counts["created"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        set_aside=bad,
    )


def count_new_answers() -> tuple[int, str | None]:
    """How many answers (and unreadable ones) arrived after the stored watermark, and the watermark they reach.

    Only reads (one list request for Google Forms), and is no task: the watch looks every minute, and a look
    that finds nothing should leave no trace. The intake run that follows stores them and moves the watermark.
    """
    svc = current_services()
    source = svc.connectors.intake
    with svc.store.unit_of_work() as uow:
        since = uow.requests.watermark(source.name)
    batch = source.fetch(since)
    return len(batch.responses) + len(batch.problems), batch.watermark

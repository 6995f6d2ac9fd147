"""Prefect events that chain the stages: intake → match → invite react within minutes (prefect.yaml triggers).

Event resources name the program's stage only: never a person, an email or an answer.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from prefect.events.worker import EventsWorker

FORM_ANSWERED = "mentorflow.form.answered"  # the watch saw new answers: intake runs
APPLICATIONS_STORED = "mentorflow.applications.stored"  # intake stored new applications: match runs
MATCHES_APPROVED = "mentorflow.matches.approved"  # matches were approved: invite runs


def emit(event: str, stage: str, count: int, by: str | None = None) -> bool:
    """Emit ``event`` from the stage's resource (``mentorflow.<stage>``) with a count; False if no API to tell."""
    payload: dict[str, object] = {"count": count}
    if by is not None:
        payload["by"] = by
    sent = emit_event(
        event=event,
        resource={"prefect.resource.id": f"mentorflow.{stage}", "prefect.resource.name": stage},
        payload=payload,
    )
    return sent is not None


def emit_now(event: str, stage: str, count: int, by: str) -> bool:
    """:func:`emit` from outside a run (the lead's CLI), waiting until the event has left the process."""
    sent = emit(event, stage, count, by)
    EventsWorker.drain_all(timeout=10)
    return sent


@task(name="announce", cache_policy=NO_CACHE)
def announce(event: str, stage: str, count: int) -> bool:
    """:func:`emit` as a task of the run that stored or approved something."""
    return emit(event, stage, count)

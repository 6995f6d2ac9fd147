"""Prefect events that chain the stages: intake → match → invite react within minutes (prefect.yaml triggers).

Event resources name the program's stage only: never a person, an email or an answer.
"""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

FORM_ANSWERED = "mentorflow.form.answered"  # the watch saw new answers: intake runs
APPLICATIONS_STORED = "mentorflow.applications.stored"  # intake stored new applications: match runs
MATCHES_APPROVED = "mentorflow.matches.approved"  # matches were approved: invite runs


@task(name="announce", cache_policy=NO_CACHE)
def announce(event: str, stage: str, count: int) -> bool:
    """Emit ``event`` from the stage's resource (``mentorflow.<stage>``) with a count; False if no API to tell."""
    sent = emit_event(
        event=event,
        resource={"prefect.resource.id": f"mentorflow.{stage}", "prefect.resource.name": stage},
        payload={"count": count},
    )
    return sent is not None

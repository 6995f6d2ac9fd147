"""Tasks of the match stage: propose a batch from the store, record the lead's decision."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from prefect import task
from prefect.cache_policies import NO_CACHE

from domain.matching import propose_matches
from domain.models import MatchResult, ProposedMatch, RequestStatus
from mentorflow.bootstrap import current_services
from mentorflow.lead import Closing, save_decision
from tasks.common import log


@task(name="propose-matches", cache_policy=NO_CACHE)
def propose(now: datetime, objective: Literal["fit", "participation", "stable"] | None = None) -> MatchResult:
    """Match every pending request against the mentors' remaining capacity."""
    svc = current_services()
    with svc.store.unit_of_work() as uow:
        pending = uow.requests.all(RequestStatus.PENDING)
        mentors, load = uow.roster.mentors(), uow.matches.mentor_load()
    result = propose_matches(pending, mentors, load, svc.rules, now, objective)
    log("matches proposed", pending=len(pending), proposed=len(result.matches), waiting=len(result.waitlist))
    return result


@task(name="record-decision", cache_policy=NO_CACHE)
def record_decision(
    result: MatchResult,
    approved: list[ProposedMatch],
    rejected: dict[int, str],
    actor: str,
    now: datetime,
    closing: Closing | None = None,
) -> list[int] | None:
    """The task form of :func:`save_decision` (one unit of work), so the decision shows in the run."""
    with current_services().store.unit_of_work() as uow:
        ids = save_decision(uow, result, approved, rejected, actor, now, closing)
    if ids is not None:
        log("decision recorded", approved=len(ids), rejected=len(rejected), waiting=len(result.waitlist))
    return ids

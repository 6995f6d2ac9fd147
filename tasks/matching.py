"""Tasks of the match stage: propose a batch from the store, record the lead's decision."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from prefect import task
from prefect.cache_policies import NO_CACHE

from domain.matching import propose_matches
from domain.models import MatchResult, ProposedMatch, RequestStatus
from mentorflow.bootstrap import current_services
from store.uow import UnitOfWork
from tasks.common import log


@task(name="propose-matches", cache_policy=NO_CACHE)
def propose(now: datetime, objective: Literal["fit", "participation", "stable"] | None = None) -> MatchResult:
    """Match every pending request against the mentors' remaining capacity."""
    svc = current_services()
    with svc.store.unit_of_work() as uow:
        pending = uow.requests.all(RequestStatus.PENDING)
        since = now - timedelta(days=svc.rules.matching.relationship_days)
        mentors, load = uow.roster.mentors(), uow.matches.mentor_load(since)
    result = propose_matches(pending, mentors, load, svc.rules, now, objective)
    log("matches proposed", pending=len(pending), proposed=len(result.matches), waiting=len(result.waitlist))
    return result


Closing = tuple[int, dict[str, Any]]


def save_decision(
    uow: UnitOfWork,
    result: MatchResult,
    approved: list[ProposedMatch],
    rejected: dict[int, str],
    actor: str,
    now: datetime,
    closing: Closing | None = None,
) -> list[int] | None:
    """Approve the chosen proposals, keep the rejected and unmatched waiting with their reasons.

    With ``closing`` (proposal id, decision) the waiting batch is closed first, in the same unit of work:
    None if it was decided meanwhile (nothing is recorded then). The caller's unit of work commits it all.
    """
    if closing is not None and not uow.matches.close_proposal(closing[0], closing[1], now):
        return None
    mentor_of = {m.request_id: str(m.mentor_email) for m in result.matches}
    uow.matches.refuse([(rid, mentor_of[rid]) for rid in rejected if rid in mentor_of], "; ".join(
        sorted(set(rejected.values()))), now)
    ids = uow.matches.approve(approved, actor, now)
    uow.requests.note_waiting(
        {
            rid: f"proposal rejected by the lead: {note}" if note else "proposal rejected by the lead"
            for rid, note in rejected.items()
        },
        now,
    )
    uow.requests.note_waiting({w.request_id: w.reason for w in result.waitlist}, now)
    return ids


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

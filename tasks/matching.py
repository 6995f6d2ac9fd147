"""Tasks of the match stage: propose a batch from the store, record the lead's decision."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from prefect import task
from prefect.cache_policies import NO_CACHE

from domain.approval import LeadDecision, WaitingProposal, apply_decision
from domain.matching import propose_matches
from domain.models import MatchResult, ProposedMatch, RequestStatus
from mentorflow.bootstrap import current_services
from store.uow import Store, UnitOfWork
from tasks.common import log
from tasks.reporting import md_table


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


@task(name="load-waiting-proposals", cache_policy=NO_CACHE)
def load_waiting_proposals() -> list[WaitingProposal]:
    """The batches kept for the lead and not decided yet."""
    with current_services().store.unit_of_work() as uow:
        return uow.matches.waiting_proposals()


@task(name="keep-proposal", cache_policy=NO_CACHE)
def keep_proposal(ask: MatchResult, flow_run_id: str, now: datetime) -> int:
    """Keep a batch for the lead (an older one still waiting is superseded); returns its id."""
    with current_services().store.unit_of_work() as uow:
        return uow.matches.save_proposal(ask, flow_run_id, now)


@task(name="describe-proposals", cache_policy=NO_CACHE)
def describe_proposals(result: MatchResult) -> str:
    """The proposals and the waitlist as markdown tables for the lead (names from the store)."""
    with current_services().store.unit_of_work() as uow:
        mentors = {m.key: m.name for m in uow.roster.mentors()}
        requests = uow.requests.many([m.request_id for m in result.matches])
    rows = [
        (
            m.request_id,
            requests[m.request_id].application.name,
            mentors.get(str(m.mentor_email).lower(), "?"),
            f"{m.score:.2f}",
            "; ".join(m.reasons),
        )
        for m in result.matches
    ]
    table = md_table(["request", "mentee", "mentor", "score", "reasons"], rows) if rows else "No proposals."
    waitlist = (
        md_table(["request", "why waiting"], [(w.request_id, w.reason) for w in result.waitlist])
        if result.waitlist
        else "Nobody is waiting."
    )
    return f"### Proposed matches\n{table}\n\n### Waitlist\n{waitlist}"


def decide_waiting(store: Store, decision: LeadDecision, now: datetime) -> str:
    """Apply the lead's decision to every batch waiting for it, outside any flow run (``mentorflow approve``).

    Each batch is closed and recorded in one unit of work: all of it or nothing.
    """
    with store.unit_of_work() as uow:
        waiting = uow.matches.waiting_proposals()
    if not waiting:
        return "No batch is waiting for approval."
    lines = []
    for batch in waiting:
        approved, rejected = apply_decision(batch.result, decision)
        with store.unit_of_work() as uow:
            closing = (batch.id, decision.model_dump())
            if save_decision(uow, batch.result, approved, rejected, "lead", now, closing) is None:
                continue
        close_suspended_run(batch.flow_run_id, "completed", "decided with mentorflow approve")
        lines.append(f"batch {batch.id}: approved {len(approved)}, turned down {len(rejected)}")
    return "\n".join(lines) or "The batch was decided meanwhile."


@task(name="proposal-status-of-run", cache_policy=NO_CACHE)
def proposal_status_of_run(run_id: str) -> str | None:
    """The status of the batch this flow run proposed (waiting, decided, superseded), or None when it has none."""
    with current_services().store.unit_of_work() as uow:
        return uow.matches.proposal_status_of_run(run_id)


def close_suspended_run(flow_run_id: str, state: Literal["completed", "cancelled"], message: str) -> None:
    """End a run still suspended for the lead's answer to a batch that is no longer waiting, so its form can
    never decide later (best effort: a run that is not suspended, or no Prefect API, is left alone)."""
    if not flow_run_id:
        return
    from uuid import UUID

    from prefect import get_client
    from prefect.states import Cancelled, Completed, State

    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(UUID(flow_run_id))
            if run.state is not None and run.state.is_paused():
                new: State[None] = Completed(message=message) if state == "completed" else Cancelled(message=message)
                client.set_flow_run_state(run.id, new, force=True)
    except Exception as exc:  # the decision is already recorded; a run left suspended applies nothing
        log("could not close the suspended run", run=flow_run_id, error=type(exc).__name__)

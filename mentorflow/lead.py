"""What the lead does from the terminal, outside any flow run: never imports Prefect, so it answers at once."""

from __future__ import annotations

import logging
import os
from datetime import datetime
from typing import Any, Literal

from domain.approval import LeadDecision, apply_decision
from domain.models import MatchResult, ProposedMatch
from store.uow import Store, UnitOfWork

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
    # the lead's refusals are kept: the pair is never proposed or approved again (invariant 3)
    uow.matches.refuse(
        [(rid, mentor_of[rid]) for rid in rejected if rid in mentor_of], "; ".join(sorted(set(rejected.values()))), now
    )
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


def decide_waiting(store: Store, decision: LeadDecision, now: datetime) -> str:
    """Apply the lead's decision to every batch waiting for it, outside any flow run (``mentorflow approve``).

    Each batch is closed and recorded in one unit of work: all of it or nothing.
    """
    with store.unit_of_work() as uow:
        waiting = uow.matches.waiting_proposals()
    if not waiting:
        return "No batch is waiting for approval."
    lines, approved_total = [], 0
    for batch in waiting:
        approved, rejected = apply_decision(batch.result, decision)
        with store.unit_of_work() as uow:
            closing = (batch.id, decision.model_dump())
            if save_decision(uow, batch.result, approved, rejected, "lead", now, closing) is None:
                continue
        close_suspended_run(batch.flow_run_id, "completed", "decided with mentorflow approve")
        approved_total += len(approved)
        lines.append(f"batch {batch.id}: approved {len(approved)}, turned down {len(rejected)}")
    announce_approved(approved_total)
    return "\n".join(lines) or "The batch was decided meanwhile."


def announce_approved(count: int) -> None:
    """Tell the Prefect server that the lead approved matches, so that invite runs within minutes (the same event
    as a match run's after a form answer); best effort, and nothing at all without a configured server."""
    if count <= 0 or not os.environ.get("PREFECT_API_URL"):
        return  # the next scheduled invite run sends them; the lead's CLI must not start a server
    from tasks.events import MATCHES_APPROVED, emit_now

    try:
        emit_now(MATCHES_APPROVED, "match", count, by="lead")
    except Exception as exc:  # the decision is recorded; the daily invite run is the safety net
        logging.getLogger("mentorflow").warning("could not announce the approval: error=%s", type(exc).__name__)


def close_suspended_run(flow_run_id: str, state: Literal["completed", "cancelled"], message: str) -> None:
    """End a run still suspended for the lead's answer to a batch that is no longer waiting, so its form can
    never decide later (best effort: a run that is not suspended, or no Prefect API, is left alone)."""
    if not flow_run_id or not os.environ.get("PREFECT_API_URL"):
        return  # no server to ask (a local run is never suspended): and the lead's CLI must not start one
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
        logging.getLogger("mentorflow").warning(
            "could not close the suspended run: run=%s, error=%s", flow_run_id, type(exc).__name__
        )

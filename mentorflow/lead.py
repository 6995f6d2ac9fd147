"""What the lead does from the terminal, outside any flow run: never imports Prefect, so it answers at once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.approval import LeadDecision, apply_decision
from domain.clock import resolve_now
from domain.models import MatchResult, ProposedMatch
from mentorflow.bootstrap import current_services
from store.uow import UnitOfWork

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


def decide_waiting(decision: LeadDecision, as_of: datetime | None = None) -> str:
    """Apply the lead's decision to the batch waiting for it, outside any flow run (``mentorflow approve``)."""
    svc = current_services()
    now = resolve_now(as_of, svc.settings.timezone)
    with svc.store.unit_of_work() as uow:
        waiting = uow.matches.waiting_proposals()
    if not waiting:
        return "No batch is waiting for approval."
    lines = []
    for batch in waiting:
        approved, rejected = apply_decision(batch.result, decision)
        with svc.store.unit_of_work() as uow:  # closing the batch and recording it: all or nothing
            closing = (batch.id, decision.model_dump())
            if save_decision(uow, batch.result, approved, rejected, "lead", now, closing) is None:
                continue
        lines.append(f"batch {batch.id}: approved {len(approved)}, turned down {len(rejected)}")
    return "\n".join(lines) or "The batch was decided meanwhile."

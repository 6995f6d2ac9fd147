"""What the lead does from the terminal, outside any flow run: never imports Prefect, so it answers at once."""

from __future__ import annotations

from datetime import datetime

from domain.approval import LeadDecision, apply_decision
from domain.clock import resolve_now
from domain.models import MatchResult, ProposedMatch
from mentorflow.bootstrap import current_services
from store.repository import Store


def save_decision(
    store: Store,
    result: MatchResult,
    approved: list[ProposedMatch],
    rejected: dict[int, str],
    actor: str,
    now: datetime,
) -> list[int]:
    """Approve the chosen proposals, keep the rejected and unmatched waiting with their reasons."""
    ids = store.approve_matches(approved, actor, now)
    for request_id, note in rejected.items():
        store.reject_proposal(request_id, actor, note, now)
    store.record_waitlist(result.waitlist, now)
    return ids


def decide_waiting(decision: LeadDecision, as_of: datetime | None = None) -> str:
    """Apply the lead's decision to the batch waiting for it, outside any flow run (``mentorflow approve``)."""
    svc = current_services()
    now = resolve_now(as_of, svc.settings.timezone)
    waiting = svc.store.waiting_proposals()
    if not waiting:
        return "No batch is waiting for approval."
    lines = []
    for batch in waiting:
        if not svc.store.close_proposal(batch.id, decision.model_dump(), now):
            continue
        approved, rejected = apply_decision(batch.result, decision)
        save_decision(svc.store, batch.result, approved, rejected, "lead", now)
        lines.append(f"batch {batch.id}: approved {len(approved)}, turned down {len(rejected)}")
    return "\n".join(lines) or "The batch was decided meanwhile."

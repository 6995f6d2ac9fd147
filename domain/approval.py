"""The lead's say over proposed matches: what to approve at once, what a decision means, when to stop waiting.

Pure policy: the match flow asks these functions and only orchestrates (tasks read and write the store).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from domain.models import Frozen, MatchResult, ProposedMatch


class WaitingProposal(BaseModel):
    """A batch of proposed matches kept for the lead, as the store holds it."""

    id: int
    flow_run_id: str
    created_at: datetime
    result: MatchResult


class ApprovalPlan(Frozen):
    """What a new batch becomes: approved at once (``actor`` records why) and what is left for the lead."""

    actor: Literal["auto", "auto-threshold"]
    approve_now: MatchResult
    ask_lead: MatchResult


class LeadDecision(BaseModel):
    """What the lead answers in the Prefect UI form (or with ``mentorflow approve``)."""

    action: Literal["approve_all", "approve_except", "reject_all"] = Field(
        "approve_all", description="approve every proposal, all but the listed requests, or none"
    )
    except_requests: list[int] = Field(default_factory=list, description="request ids not to approve")
    note: str = Field("", max_length=500, description="why (kept on the rejected requests)")

    @model_validator(mode="after")
    def _exceptions_are_never_approved(self) -> LeadDecision:
        # The form's default action is "approve all": request ids typed under "except" still mean "not these".
        if self.action == "approve_all" and self.except_requests:
            self.action = "approve_except"
        return self


def split_for_approval(result: MatchResult, min_score: float | None) -> tuple[list[ProposedMatch], MatchResult]:
    """Proposals approved without asking (score ≥ ``min_score``) and the batch left for the lead."""
    if min_score is None:
        return [], result
    auto = [m for m in result.matches if m.score >= min_score]
    ask = [m for m in result.matches if m.score < min_score]
    return auto, MatchResult(matches=ask, waitlist=result.waitlist)


def apply_decision(result: MatchResult, decision: LeadDecision) -> tuple[list[ProposedMatch], dict[int, str]]:
    """Approved proposals, and request id → note for those the lead turned down."""
    note = decision.note or "turned down by the lead"
    if decision.action == "approve_all":
        return list(result.matches), {}
    if decision.action == "reject_all":
        return [], {m.request_id: note for m in result.matches}
    excluded = set(decision.except_requests)
    approved = [m for m in result.matches if m.request_id not in excluded]
    return approved, {m.request_id: note for m in result.matches if m.request_id in excluded}


def plan_approval(result: MatchResult, mode: Literal["auto", "lead"], min_score: float | None) -> ApprovalPlan:
    """Auto mode approves the whole batch; lead mode approves what scores ≥ ``min_score`` and asks about the rest.

    The waitlist always goes with what is approved at once, so that the reasons people wait are recorded now.
    """
    if mode == "auto":
        return ApprovalPlan(actor="auto", approve_now=result, ask_lead=MatchResult(matches=[], waitlist=[]))
    auto, ask = split_for_approval(result, min_score)
    return ApprovalPlan(
        actor="auto-threshold",
        approve_now=MatchResult(matches=auto, waitlist=result.waitlist),
        ask_lead=ask,
    )


def resumed_batch(waiting: list[WaitingProposal], flow_run_id: str) -> WaitingProposal | None:
    """The batch this very run kept and suspended for: a resumed run decides that one and proposes nothing new."""
    return next((p for p in waiting if p.flow_run_id == flow_run_id), None)


TIMED_OUT = LeadDecision(action="approve_all", note="approval timed out")


def timed_out(waiting: list[WaitingProposal], now: datetime, timeout_hours: int) -> list[WaitingProposal]:
    """Batches nobody answered within ``timeout_hours``: approved as proposed (with :data:`TIMED_OUT`), so the
    program keeps moving."""
    return [p for p in waiting if now - p.created_at >= timedelta(hours=timeout_hours)]

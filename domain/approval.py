"""The lead's say over proposed matches: what to approve at once, and what a decision means."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from domain.models import MatchResult, ProposedMatch


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

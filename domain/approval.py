"""The lead's say over proposed matches: what to approve at once, what a decision means, when to stop waiting.

Pure policy: the match flow asks these functions and only orchestrates (tasks read and write the store).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Literal

from pydantic import BaseModel, Field, create_model, model_validator

from domain.markdown import md_table
from domain.models import Frozen, MatchResult, ProposedMatch
from domain.report import Language


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


Action = Literal["approve_all", "approve_except", "reject_all"]


class LeadDecision(BaseModel):
    """What the lead answers in the Prefect UI form (or with ``mentorflow approve``)."""

    action: Action = Field("approve_all", description="approve every proposal, all but the listed requests, or none")
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


class ProposalLine(Frozen):
    """One proposal as the lead reads it in the approval form (names come from the store)."""

    request_id: int
    mentee: str
    mentor: str
    score: float
    reasons: list[str]

    def cells(self) -> tuple[int, str, str, str, str]:
        """The line as table cells: request, mentee, mentor, score, reasons."""
        return (self.request_id, self.mentee, self.mentor, f"{self.score:.2f}", "; ".join(self.reasons))


FORM_WORDS: dict[Language, dict[str, str]] = {
    "he": {
        "title": "אישור התאמות (אצווה {batch})",
        "help": (
            "בחרו **פעולה**: `approve_all` – לאשר את כל ההצעות; `approve_except` – לאשר את כולן חוץ מהבקשות "
            "שמספריהן ברשימה „חוץ מ”; `reject_all` – לדחות את כל האצווה. מספר בקשה ברשימה „חוץ מ” לא יאושר "
            "גם אם הפעולה נשארה `approve_all`. ההערה נשמרת על הבקשות שנדחו, וזוג שנדחה לא יוצע שוב. "
            "בלי תשובה תוך {hours} שעות, ההצעות מאושרות כפי שהן בהרצה הבאה. אפשר לענות גם בטרמינל: "
            "`mentorflow approve --except 12,15`."
        ),
        "columns": "בקשה|מנטי/ת|מנטור/ית|ציון|למה",
        "action": "פעולה",
        "action_help": "approve_all: לאשר הכול · approve_except: הכול חוץ מהרשימה · reject_all: לדחות הכול",
        "except": "חוץ מ (מספרי בקשות)",
        "except_help": "בקשות שלא יאושרו",
        "note": "הערה",
        "note_help": "למה (נשמר על הבקשות שנדחו)",
    },
    "en": {
        "title": "Approve matches (batch {batch})",
        "help": (
            "Choose an **action**: `approve_all` approves every proposal; `approve_except` approves all but the "
            'request ids listed under "except"; `reject_all` turns the whole batch down. A request id listed '
            'under "except" is never approved, even if the action was left at `approve_all`. The note is kept '
            "on the requests turned down, and a pair turned down is never proposed again. Unanswered for {hours} "
            "hours, the proposals are approved as they are by the next run. From a terminal: "
            "`mentorflow approve --except 12,15`."
        ),
        "columns": "request|mentee|mentor|score|why",
        "action": "Action",
        "action_help": "approve_all · approve_except (all but the listed ids) · reject_all",
        "except": "Except (request ids)",
        "except_help": "requests not to approve",
        "note": "Note",
        "note_help": "why (kept on the requests turned down)",
    },
}


@cache
def decision_form(language: Language) -> type[LeadDecision]:
    """:class:`LeadDecision` with its fields titled and described in the lead's language (the form's labels)."""
    w = FORM_WORDS[language]
    form: type[LeadDecision] = create_model(
        f"LeadDecision{language.capitalize()}",
        __base__=LeadDecision,
        action=(Action, Field("approve_all", title=w["action"], description=w["action_help"])),
        except_requests=(list[int], Field(default_factory=list, title=w["except"], description=w["except_help"])),
        note=(str, Field("", max_length=500, title=w["note"], description=w["note_help"])),
    )
    return form


def form_description(language: Language, batch_id: int, lines: list[ProposalLine], timeout_hours: int) -> str:
    """The text above the approval form: what each choice does, then the proposals it answers (markdown)."""
    w = FORM_WORDS[language]
    table = md_table(w["columns"].split("|"), [p.cells() for p in lines])
    text = f"### {w['title'].format(batch=batch_id)}\n\n{w['help'].format(hours=timeout_hours)}\n\n{table}"
    return f'<div dir="rtl">\n\n{text}\n\n</div>' if language == "he" else text

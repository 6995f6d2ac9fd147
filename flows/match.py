"""Match: propose mentors for waiting mentees, let the lead approve, record the decision."""

from datetime import datetime, timedelta
from typing import Literal

from prefect import flow, suspend_flow_run
from prefect.context import get_run_context
from pydantic import BaseModel

from domain.approval import LeadDecision, apply_decision, split_for_approval
from domain.models import MatchResult, ProposedMatch
from flows.naming import run_name
from mentorflow.bootstrap import current_services
from mentorflow.lead import decide_waiting as decide_waiting  # the CLI's `approve`, kept importable here
from tasks.common import log, resolve_now
from tasks.events import MATCHES_APPROVED, announce
from tasks.matching import propose, record_decision
from tasks.reporting import md_table, publish_report


class MatchSummary(BaseModel):
    proposed: int
    approved: int
    rejected: int
    waiting: int
    awaiting_lead: int


def _proposal_table(result: MatchResult) -> str:
    with current_services().store.unit_of_work() as uow:
        mentors = {str(m.email): m.name for m in uow.roster.mentors()}
        requests = uow.requests.many([m.request_id for m in result.matches])
    rows = []
    for m in result.matches:
        req = requests[m.request_id]
        rows.append(
            (
                m.request_id,
                req.application.name,
                mentors.get(str(m.mentor_email), "?"),
                f"{m.score:.2f}",
                "; ".join(m.reasons),
            )
        )
    table = md_table(["request", "mentee", "mentor", "score", "reasons"], rows) if rows else "No proposals."
    waitlist = (
        md_table(["request", "why waiting"], [(w.request_id, w.reason) for w in result.waitlist])
        if result.waitlist
        else "Nobody is waiting."
    )
    return f"### Proposed matches\n{table}\n\n### Waitlist\n{waitlist}"


def _ask_lead(timeout_hours: int) -> LeadDecision | None:
    """In a deployment run, suspend (freeing the worker) until the lead answers the form in the UI.

    Outside a deployment nothing can resume the run, so the batch stays in the store for
    ``mentorflow approve`` or the next scheduled run.
    """
    ctx = get_run_context()
    flow_run = getattr(ctx, "flow_run", None)
    if flow_run is None or flow_run.deployment_id is None:
        return None
    return suspend_flow_run(wait_for_input=LeadDecision, timeout=timeout_hours * 3600, key="match-approval")


@flow(name="match", flow_run_name=run_name("match"))
def match(
    as_of: datetime | None = None,
    objective: Literal["fit", "participation", "stable"] | None = None,
    approval: Literal["auto", "lead"] | None = None,
) -> MatchSummary:
    """Propose a batch; approve it at once (auto) or after the lead's answer (lead)."""
    svc = current_services()
    now = resolve_now(as_of, svc.settings.timezone)
    rules = svc.rules.matching
    approval = approval or rules.approval

    run_id = str(get_run_context().flow_run.id)  # type: ignore[union-attr]
    approved: list[ProposedMatch] = []
    rejected: dict[int, str] = {}
    awaiting = timed_out = 0

    with svc.store.unit_of_work() as uow:
        waiting = uow.matches.waiting_proposals()
    mine = next((p for p in waiting if p.flow_run_id == run_id), None)
    if mine is not None:
        # This run was suspended for the lead and has been resumed: decide the batch the lead saw.
        result = mine.result
        decision = _ask_lead(rules.approval_timeout_hours)
        if decision is not None:
            approved, rejected = apply_decision(result, decision)
            if record_decision(result, approved, rejected, "lead", now, (mine.id, decision.model_dump())) is None:
                approved, rejected = [], {}
    else:
        # A batch nobody answered in time is approved as proposed, so the program keeps moving.
        for stale in waiting:
            if now - stale.created_at < timedelta(hours=rules.approval_timeout_hours):
                continue
            closing = (stale.id, {"action": "approve_all", "note": "approval timed out"})
            if record_decision(stale.result, stale.result.matches, {}, "timeout", now, closing) is not None:
                timed_out += len(stale.result.matches)
                log("unanswered proposal approved after timeout", proposal=stale.id)

        result = propose(now, objective)
        if approval == "auto":
            approved = list(result.matches)
            record_decision(result, approved, {}, "auto", now)
        else:
            auto, ask = split_for_approval(result, rules.auto_approve_min_score)
            record_decision(MatchResult(matches=auto, waitlist=result.waitlist), auto, {}, "auto-threshold", now)
            approved = list(auto)
            if ask.matches:
                with svc.store.unit_of_work() as uow:
                    proposal_id = uow.matches.save_proposal(ask, run_id, now)
                publish_report(
                    "match-proposal",
                    f"Matches awaiting your approval (batch {proposal_id})",
                    [_proposal_table(ask), "Answer in this run's form (Resume), or run `mentorflow approve`."],
                )
                awaiting = len(ask.matches)
                decision = _ask_lead(rules.approval_timeout_hours)  # suspends here in a deployment run
                if decision is not None:
                    more, turned_down = apply_decision(ask, decision)
                    closing = (proposal_id, decision.model_dump())
                    if record_decision(ask, more, turned_down, "lead", now, closing) is not None:
                        approved, rejected, awaiting = approved + more, turned_down, 0

    if approved or timed_out:
        announce(MATCHES_APPROVED, "match", len(approved) + timed_out)
    publish_report(
        "match-report",
        f"Matching as of {now:%Y-%m-%d %H:%M}",
        [
            md_table(
                ["proposed", "approved", "turned down", "awaiting the lead", "waiting"],
                [(len(result.matches), len(approved), len(rejected), awaiting, len(result.waitlist))],
            ),
            _proposal_table(MatchResult(matches=approved, waitlist=result.waitlist)),
        ],
    )
    return MatchSummary(
        proposed=len(result.matches),
        approved=len(approved),
        rejected=len(rejected),
        waiting=len(result.waitlist),
        awaiting_lead=awaiting,
    )

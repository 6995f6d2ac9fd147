"""Match: propose mentors for waiting mentees, let the lead approve, record the decision."""

from datetime import datetime
from typing import Literal, cast

from prefect import flow, suspend_flow_run
from prefect.context import get_run_context
from prefect.input import RunInput
from pydantic import BaseModel

from domain.approval import (
    TIMED_OUT,
    LeadDecision,
    apply_decision,
    decision_form,
    form_description,
    plan_approval,
    resumed_batch,
    timed_out,
)
from domain.models import MatchResult, ProposedMatch
from flows.naming import run_name
from mentorflow.bootstrap import current_services
from mentorflow.lead import close_suspended_run
from tasks.common import as_is, log, resolve_now
from tasks.events import MATCHES_APPROVED, announce
from tasks.matching import (
    describe_proposals,
    keep_proposal,
    load_waiting_proposals,
    proposal_lines,
    proposal_status_of_run,
    propose,
    record_decision,
    retire_waiting_proposals,
)
from tasks.reporting import md_table, publish_report


class MatchSummary(BaseModel):
    proposed: int
    approved: int
    rejected: int
    waiting: int
    awaiting_lead: int
    approved_on_timeout: int = 0  # older batches approved because the lead did not answer in time


def _ask_lead(description: str | None = None) -> LeadDecision | None:
    """In a deployment run, suspend (freeing the worker) until the lead answers the form in the UI.

    The form is in the lead's language, with ``description`` above it (what each choice does and the proposals
    it answers; None when a resumed run only reads the answer). Outside a deployment nothing can resume the
    run, so the batch stays in the store for ``mentorflow approve`` or the next scheduled run.
    """
    ctx = get_run_context()
    flow_run = getattr(ctx, "flow_run", None)
    if flow_run is None or flow_run.deployment_id is None:
        return None
    form = RunInput.subclass_from_base_model_type(decision_form(current_services().rules.digest.language))
    if description is not None:
        form = form.with_initial_data(description=description)
    # No suspension timeout: an unanswered batch is approved by the next match run after the approval
    # time-out, which then ends this run as Completed (an expired suspension would end it Failed).
    answer = suspend_flow_run(wait_for_input=form, timeout=None, key="match-approval")
    return cast(LeadDecision, answer)  # an instance of the form: a subclass of LeadDecision


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
    run_id = str(get_run_context().flow_run.id)  # type: ignore[union-attr]
    approved: list[ProposedMatch] = []
    rejected: dict[int, str] = {}
    awaiting = approved_on_timeout = 0

    waiting = load_waiting_proposals()
    mine = resumed_batch(waiting, run_id)
    if mine is None and proposal_status_of_run(run_id) is not None:
        # Resumed after this run's batch was superseded or decided elsewhere (CLI, time-out): the answer in
        # this run's form was given for a batch that is closed, so nothing is applied (invariant 3).
        log("the batch of this run is closed; the answer is not applied")
        return MatchSummary(proposed=0, approved=0, rejected=0, waiting=0, awaiting_lead=0)
    if mine is not None:
        # This run was suspended for the lead and has been resumed: decide the batch the lead saw.
        result = mine.result
        decision = _ask_lead()
        if decision is not None:
            approved, rejected = apply_decision(result, decision)
            if record_decision(result, approved, rejected, "lead", now, (mine.id, decision.model_dump())) is None:
                approved, rejected = [], {}
    else:
        for stale in timed_out(waiting, now, rules.approval_timeout_hours):
            closing = (stale.id, TIMED_OUT.model_dump())
            if record_decision(stale.result, stale.result.matches, {}, "timeout", now, closing) is not None:
                log("unanswered proposal approved after timeout", proposal=stale.id)
                approved_on_timeout += len(stale.result.matches)
                close_suspended_run(stale.flow_run_id, "completed", "approval timed out: proposals approved")
        result = propose(now, objective)
        plan = plan_approval(result, approval or rules.approval, rules.auto_approve_min_score)
        record_decision(as_is(plan.approve_now), as_is(plan.approve_now.matches), {}, plan.actor, now)
        approved = list(plan.approve_now.matches)
        ask = plan.ask_lead
        if not ask.matches:  # every waiting request was re-planned just now: an older batch is out of date
            for older in retire_waiting_proposals():
                close_suspended_run(older, "cancelled", "superseded: a later run re-planned its requests")
        if ask.matches:
            superseded = [p.flow_run_id for p in load_waiting_proposals()]
            proposal_id = keep_proposal(as_is(ask), run_id, now)
            for older in superseded:  # their batches are in this one: their forms must not decide
                close_suspended_run(older, "cancelled", "superseded by a newer batch")
            lines = proposal_lines(ask)  # once: the artifact and the form show the same names
            publish_report(
                "match-proposal",
                f"Matches awaiting your approval (batch {proposal_id})",
                [describe_proposals(ask, lines), "Answer in this run's form (Resume), or run `mentorflow approve`."],
            )
            awaiting = len(ask.matches)
            language = svc.rules.digest.language
            text = form_description(language, proposal_id, lines, rules.approval_timeout_hours)
            decision = _ask_lead(text)  # suspends here in a deployment run
            if decision is not None:
                more, turned_down = apply_decision(ask, decision)
                closing = (proposal_id, decision.model_dump())
                if record_decision(ask, more, turned_down, "lead", now, closing) is not None:
                    approved, rejected, awaiting = approved + more, turned_down, 0

    if approved or approved_on_timeout:
        announce(MATCHES_APPROVED, "match", len(approved) + approved_on_timeout)
    publish_report(
        "match-report",
        f"Matching as of {now:%Y-%m-%d %H:%M}",
        [
            md_table(
                ["proposed", "approved", "turned down", "awaiting the lead", "waiting"],
                [(len(result.matches), len(approved), len(rejected), awaiting, len(result.waitlist))],
            ),
            describe_proposals(MatchResult(matches=approved, waitlist=result.waitlist)),
        ],
    )
    return MatchSummary(
        proposed=len(result.matches),
        approved=len(approved),
        rejected=len(rejected),
        waiting=len(result.waitlist),
        awaiting_lead=awaiting,
        approved_on_timeout=approved_on_timeout,
    )

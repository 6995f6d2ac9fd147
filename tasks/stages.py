"""The pipeline's one look at what is due (:mod:`domain.pipeline` decides from it)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from prefect import task
from prefect.cache_policies import NO_CACHE

from connectors.base import RespondingCalendar
from domain.approval import plan_approval
from domain.keys import DigestPreviewKey, ReportKey
from domain.pipeline import StageFacts, followup_due_in_store, match_would_change
from mentorflow.bootstrap import current_services
from tasks.common import log
from tasks.matching import plan_matches


@task(name="read-stage-facts", cache_policy=NO_CACHE)
def read_stage_facts(
    now: datetime,
    objective: Literal["fit", "participation", "stable"] | None = None,
    approval: Literal["auto", "lead"] | None = None,
) -> StageFacts:
    """Counts from one unit of work; matching's plan is made (as the match run would, with ``objective`` and
    ``approval``) only when a request or a batch waits, and the survey source is read only when the store does not
    already make follow-up due (an unreadable source counts as due: the follow-up run then meets the error)."""
    svc = current_services()
    digest = svc.rules.digest
    with svc.store.unit_of_work() as uow:
        counts = uow.stages
        waiting = uow.newsletter.waiting()
        preview_key = (
            None
            if waiting is None
            else str(DigestPreviewKey(start=waiting.period_start.date(), end=waiting.period_end.date()))
        )
        facts = StageFacts(
            pending_requests=counts.pending_requests(),
            waiting_batches=counts.waiting_batches(),
            matches_to_invite=counts.matches_to_invite(),
            calendar_reads_replies=isinstance(svc.connectors.calendar, RespondingCalendar),
            upcoming_meetings=counts.upcoming_meetings(now),
            started_meetings=counts.started_meetings(now),
            followup_surveys_sent=counts.followup_surveys_sent(),
            no_show_endings=counts.unfinished_no_show_endings(),
            survey_rows=None,
            released_copies=counts.ledger_count("newsletter:", "failed"),
            digest_last_end=uow.digests.last_end(),
            digest_waiting=None if waiting is None else (waiting.period_start, waiting.period_end),
            digest_waiting_release=(
                None if waiting is None else waiting.decide(now, digest.approval, digest.quiet_period_hours)
            ),
            digest_preview_mailed=preview_key is not None and counts.ledger_count(preview_key, "done") > 0,
            report_sent_today=counts.ledger_count(str(ReportKey(day=now.date())), "done") > 0,
        )
    if facts.pending_requests or facts.waiting_batches:
        rules = svc.rules.matching
        planned = plan_matches(now, objective)  # reads the batches waiting for the lead too
        plan = plan_approval(planned.result, approval or rules.approval, rules.auto_approve_min_score)
        with svc.store.unit_of_work() as uow:
            reasons = uow.requests.wait_reasons()
        idle = not match_would_change(plan, planned.waiting, reasons, now, rules.approval_timeout_hours)
        facts = facts.model_copy(update={"match_idle": idle})
    if not followup_due_in_store(facts):
        try:
            facts = facts.model_copy(update={"survey_rows": len(svc.connectors.surveys.fetch())})
        except Exception as exc:  # not this task's to fail: the follow-up run reads the source again
            log("survey source unreadable: follow-up runs", error=type(exc).__name__)
    return facts

"""The pipeline's one look at what is due (:mod:`domain.pipeline` decides from it)."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from connectors.base import RespondingCalendar
from domain.keys import ReportKey
from domain.pipeline import StageFacts, followup_due_in_store
from mentorflow.bootstrap import current_services
from tasks.common import log


@task(name="read-stage-facts", cache_policy=NO_CACHE)
def read_stage_facts(now: datetime) -> StageFacts:
    """Counts from one unit of work; the survey source is read only when the store does not already make
    follow-up due (an unreadable source counts as due: the follow-up run then meets the error as before)."""
    svc = current_services()
    with svc.store.unit_of_work() as uow:
        counts = uow.stages
        waiting = uow.newsletter.waiting()
        facts = StageFacts(
            pending_requests=counts.pending_requests(),
            waiting_batches=counts.waiting_batches(),
            matches_to_invite=counts.matches_to_invite(),
            calendar_reads_replies=isinstance(svc.connectors.calendar, RespondingCalendar),
            upcoming_meetings=counts.upcoming_meetings(now),
            started_meetings=counts.started_meetings(now),
            followup_surveys_sent=counts.followup_surveys_sent(),
            no_show_endings=counts.no_show_endings(),
            survey_rows=None,
            released_copies=counts.ledger_count("newsletter:", "failed"),
            digest_last_end=uow.digests.last_end(),
            digest_waiting=None if waiting is None else (waiting.period_start, waiting.period_end),
            report_sent_today=counts.ledger_count(str(ReportKey(day=now.date())), "done") > 0,
        )
    if not followup_due_in_store(facts):
        try:
            facts = facts.model_copy(update={"survey_rows": len(svc.connectors.surveys.fetch())})
        except Exception as exc:  # not this task's to fail: the follow-up run reads the source again
            log("survey source unreadable: follow-up runs", error=type(exc).__name__)
    return facts

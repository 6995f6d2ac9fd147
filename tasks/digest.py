"""Tasks of the lead's weekly report (the newsletter's are in :mod:`tasks.newsletter`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE

from connectors.base import Address
from domain.followup import closed_unanswered
from domain.keys import ReportKey
from domain.messages import Rendered, render_lead_report
from domain.models import RequestStatus
from domain.report import Changes, Health, ReportDoc, ReportFacts, WaitingApproval, set_aside_needs_lead
from mentorflow.bootstrap import current_services
from store.ledger import Outcome, send_once
from tasks.common import retry_if_transient
from tasks.compose import bulk_email


@task(name="gather-report-facts", cache_policy=NO_CACHE)
def gather_report_facts(now: datetime, broken_rules: list[str]) -> ReportFacts:
    """This week's and last week's facts from the store, for :func:`domain.report.build_report`."""
    from prefect.utilities.urls import url_for

    svc = current_services()
    week, last = (now - timedelta(days=7), now), (now - timedelta(days=14), now - timedelta(days=7))
    with svc.store.unit_of_work() as uow:
        status = uow.reporting.status_report()
        pending = uow.requests.all(RequestStatus.PENDING)

        every_answer, sent = uow.followup.survey_answers(), uow.followup.surveys_sent()

        def health(since: datetime, until: datetime) -> Health:
            answers = uow.followup.survey_answers(since, until)
            waiting = [r.waiting_since for r in pending] if until == now else uow.requests.waiting_at(until)
            return Health(
                matched=len(uow.matches.made(since, until)),
                waiting=len(waiting),
                longest_wait_days=max(((until - w).days for w in waiting), default=0),
                meetings_held=uow.matches.meetings_held(since, until),
                satisfaction=sum(scores) / len(scores)
                if (scores := [a.satisfaction for a in answers if a.satisfaction is not None])
                else None,
                no_shows=sum(not a.met for a in answers),
                surveys_unanswered=closed_unanswered(sent, every_answer, since, until, svc.rules.followup),
            )

        approvals = [
            WaitingApproval(
                batch_id=p.id,
                proposals=len(p.result.matches),
                since=p.created_at,
                link=url_for("flow-run", obj_id=p.flow_run_id),
            )
            for p in uow.matches.waiting_proposals()
        ]
        # set aside this week (seen again = still unresolved); older ones the lead has seen already
        fresh = [x for x in status.set_aside if x.last_seen_at >= week[0]]
        for_lead = sum(set_aside_needs_lead(x.kind, x.person_known) for x in fresh)
        changes = Changes(
            applications=len(uow.requests.applications_received(*week)),
            mentors_joined=len(uow.roster.joined(*week)),
            matches_made=len(uow.matches.made(*week)),
            # two invitations (mentee and mentor) per match
            invitations=sum(e.updated_at >= week[0] for e in uow.ledger.entries("invite:")) // 2,
            set_aside_handled=len(fresh) - for_lead,
        )
        this_week, last_week = health(*week), health(*last)
    return ReportFacts(
        as_of=now.date(),
        language=svc.rules.digest.language,
        approvals=approvals,
        broken_rules=broken_rules,
        uncertain_keys=status.uncertain_keys,
        failed_keys=[key for key, _ in status.failed_keys],
        new_set_aside=for_lead,
        changes=changes,
        this_week=this_week,
        last_week=last_week,
    )


@task(
    name="send-lead-report",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[10, 60, 300],
    retry_condition_fn=retry_if_transient,
)
def send_lead_report(doc: ReportDoc, day: date, now: datetime) -> tuple[Rendered, Outcome]:
    """The lead's weekly report by email (once per day it is made for)."""
    svc = current_services()
    rendered = render_lead_report(svc.templates, doc, svc.rules.name_in(doc.language))
    message = bulk_email(
        str(ReportKey(day=day)),
        [Address(email=svc.rules.lead_email, name="lead")],
        rendered,
        doc.language,
        "lead-report",
        svc.rules,
    )
    mailer = svc.connectors.mailer
    outcome = send_once(svc.store, mailer, message, "report", now)
    return rendered, outcome

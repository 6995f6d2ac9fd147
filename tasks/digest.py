"""Tasks of the digest stage and of the lead's weekly report."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from prefect import task
from prefect.cache_policies import NO_CACHE

from connectors.base import Address
from connectors.local.files import write_private
from domain.digest import build_digest
from domain.followup import closed_unanswered
from domain.keys import DigestKey, ReportKey
from domain.messages import Rendered, render_digest, render_lead_report
from domain.models import DigestIssue, RequestStatus
from domain.report import Changes, Health, ReportDoc, ReportFacts, WaitingApproval
from mentorflow.bootstrap import current_services
from store.ledger import Outcome, send_once
from tasks.common import log, retry_if_transient
from tasks.compose import bulk_email


def digest_period(
    now: datetime, last_end: datetime | None, period_days: int, tz: str
) -> tuple[datetime, datetime] | None:
    """The next complete period ending at today's local midnight, or None while it is not complete yet."""
    zone = ZoneInfo(tz)
    end = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    start = last_end.astimezone(zone) if last_end else end - timedelta(days=period_days)
    if end - start < timedelta(days=period_days):
        return None
    return start, end


@task(name="build-digest", cache_policy=NO_CACHE)
def compose_digest(start: datetime, end: datetime) -> DigestIssue:
    """Everything the newsletter says about the period, from the store."""
    svc = current_services()
    rules = svc.rules
    with svc.store.unit_of_work() as uow:
        return build_digest(
            period_start=start.date(),
            period_end=(end - timedelta(days=1)).date(),
            language=rules.digest.language,
            new_mentor_names=[m.name for m in uow.roster.joined(start, end) if m.active],
            matches_made=len(uow.matches.made(start, end)),
            meetings_held=uow.matches.meetings_held(start, end),
            answers=uow.followup.survey_answers(start, end),
            requested_topics=[a.topics for a in uow.requests.applications_received(start, end)],
            waiting_topics=[r.application.topics for r in uow.requests.all(RequestStatus.PENDING)],
            mentor_expertise=[m.expertise for m in uow.roster.mentors(active_only=True)],
            rules=rules,
        )


def _write_atomic(path: Path, text: str) -> None:
    write_private(path, text.encode("utf-8"))


@task(
    name="publish-digest",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[10, 60, 300],
    retry_condition_fn=retry_if_transient,
)
def publish_digest(issue: DigestIssue, start: datetime, end: datetime, now: datetime) -> Outcome:
    """Write the issue to the digests folder and mail it to everyone who may be contacted, once."""
    svc = current_services()
    store, rules = svc.store, svc.rules
    rendered = render_digest(svc.templates, issue, rules)
    stem = svc.settings.digests_dir() / f"digest-{issue.period_end:%Y-%m-%d}"
    _write_atomic(stem.with_suffix(".html"), rendered.html)
    _write_atomic(stem.with_suffix(".txt"), f"{rendered.subject}\n\n{rendered.text}")
    with store.unit_of_work() as uow:
        mentors, requests = uow.roster.mentors(active_only=True), uow.requests.all()
    recipients = {str(m.email): Address(email=str(m.email), name=m.name) for m in mentors if m.email}
    for request in requests:
        app = request.application
        if app.consent_contact:
            recipients.setdefault(str(app.email), Address(email=str(app.email), name=app.name))
    key = DigestKey(start=issue.period_start, end=issue.period_end)
    message = bulk_email(
        str(key), sorted(recipients.values(), key=lambda a: a.email), rendered, issue.language, "digest", rules
    )
    mailer = svc.connectors.mailer
    outcome = send_once(store, mailer, message, "digest", now)
    with store.unit_of_work() as uow:
        location = str(stem.with_suffix(".html"))
        uow.digests.record(start, end, issue.language, issue.model_dump(mode="json"), location, now)
    log("digest published", recipients=len(recipients), outcome=outcome.value)
    return outcome


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
        changes = Changes(
            applications=len(uow.requests.applications_received(*week)),
            mentors_joined=len(uow.roster.joined(*week)),
            matches_made=len(uow.matches.made(*week)),
            # two invitations (mentee and mentor) per match
            invitations=sum(e.updated_at >= week[0] for e in uow.ledger.entries("invite:")) // 2,
        )
        this_week, last_week = health(*week), health(*last)
    return ReportFacts(
        as_of=now.date(),
        language=svc.rules.digest.language,
        approvals=approvals,
        broken_rules=broken_rules,
        uncertain_keys=status.uncertain_keys,
        failed_keys=[key for key, _ in status.failed_keys],
        # set aside this week (seen again = still unresolved); older ones the lead has seen already
        new_set_aside=sum(s.last_seen_at >= week[0] for s in status.set_aside),
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

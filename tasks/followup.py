"""Tasks of the follow-up stage: answers in, surveys and one reminder out, flags for the lead."""

from __future__ import annotations

from datetime import datetime, timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from domain.booking import booking_actions
from domain.consent import may_contact
from domain.followup import (
    DID_NOT_MEET,
    NO_LONGER_IN_TOUCH,
    FollowupPlan,
    LinkedAnswer,
    SurveyDue,
    SurveySent,
    assess,
    followup_actions,
    low_scores_for_lead,
    read_survey_link,
    screen_survey_answers,
    settle_no_shows,
)
from domain.intake import parse_survey_answer
from domain.keys import NudgeKey, parse_key
from domain.models import FollowupFlag, RequestStatus, Role, SetAside
from mentorflow.bootstrap import current_services
from store.ledger import Outcome, send_once
from tasks.common import each, log, retry_if_transient
from tasks.compose import invitation_email, links_for, survey_email
from tasks.lifecycle import end_relationship


class AnswersReport(BaseModel):
    read: int
    new: int
    set_aside: list[SetAside]


class AssessReport(BaseModel):
    met: int
    completed: int
    new_flags: list[FollowupFlag]
    rematched: list[int] = []  # matches ended because the pair did not meet: the mentees are matched again


@task(
    name="collect-answers",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=retry_if_transient,
)
def collect_answers(now: datetime) -> AnswersReport:
    """Read every survey answer; keep the valid ones (one per link, before it expired, for a live match), set
    the rest aside."""
    svc = current_services()
    raws = svc.connectors.surveys.fetch()
    secret = svc.settings.survey_token_secret.get_secret_value()
    linked: list[LinkedAnswer] = []
    bad: list[SetAside] = []
    for raw in raws:
        parsed = parse_survey_answer(raw, secret, svc.settings.timezone)
        link = read_survey_link(str(raw.answers.get("token", "")), secret)
        if isinstance(parsed, SetAside):
            bad.append(parsed)
        elif link is not None:
            linked.append(LinkedAnswer(answer=parsed, link=link, source=raw.source, ref=raw.ref))
    with svc.store.unit_of_work() as uow:
        ids = sorted({i.answer.match_id for i in linked})
        matches = uow.matches.many(ids)
        live = {match_id for match_id, m in matches.items() if m.active}
        ended = set(ids) - live  # ended, or no such match
        created = {match_id: m.created_at for match_id, m in matches.items()}
        good, refused = screen_survey_answers(
            linked, uow.followup.survey_answers(), ended, created, svc.rules.followup.link_valid_days
        )
        bad += refused
        new = uow.followup.add_survey_answers(good)
        uow.requests.record_set_aside(bad, "survey", now)
    log("survey answers collected", read=len(raws), new=new, set_aside=len(bad))
    return AnswersReport(read=len(raws), new=new, set_aside=bad)


@task(name="plan-followup", cache_policy=NO_CACHE)
def plan_followup(now: datetime) -> FollowupPlan:
    """Which surveys and reminders are due, and which follow-ups are over."""
    svc = current_services()
    with svc.store.unit_of_work() as uow:
        meetings, answers = uow.matches.meetings_in_followup(), uow.followup.survey_answers()
        sent = uow.followup.surveys_sent()
    plan = followup_actions(meetings, answers, sent, now, svc.rules.followup)
    return plan.model_copy(update={"due": _reachable(plan.due)})


def _reachable(due: list[SurveyDue]) -> list[SurveyDue]:
    """Drop surveys and reminders to a side without standing consent (invariant 4: a paused or removed mentor, a
    mentee who withdrew) or without an email (booking-link mentors): skipped, never failed. A paused mentor's
    survey goes out once they are back."""
    if not due:
        return due
    with current_services().store.unit_of_work() as uow:
        matches = uow.matches.many([d.match_id for d in due])
        mentors = uow.roster.many([m.mentor_email for m in matches.values()])
        requests = uow.requests.many([m.request_id for m in matches.values()])
    return [
        d
        for d in due
        if (m := matches.get(d.match_id)) is not None
        and may_contact(d.role, requests.get(m.request_id), mentors.get(m.mentor_email.lower()))
    ]


def _secret() -> str:
    return current_services().settings.survey_token_secret.get_secret_value()


class BookingReport(BaseModel):
    nudged: list[int]
    new_flags: list[FollowupFlag]


@task(
    name="nudge-bookings",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[5, 30, 120],
    retry_condition_fn=retry_if_transient,
)
def nudge_bookings(now: datetime) -> BookingReport:
    """Booking-link matches with no meeting reported: one nudge to the mentee (``nudge:<match>``), then a flag."""
    svc = current_services()
    with svc.store.unit_of_work() as uow:
        meetings = uow.matches.meetings_in_followup()
        answers = uow.followup.survey_answers()
        nudged: dict[int, datetime] = {}
        for entry in uow.ledger.entries(NudgeKey.prefix()):
            key = parse_key(entry.key)
            assert isinstance(key, NudgeKey)
            nudged[key.match_id] = entry.updated_at
        plan = booking_actions(meetings, answers, nudged, now, svc.rules.followup)
        matches = uow.matches.many(plan.nudges)
        requests = uow.requests.many([m.request_id for m in matches.values()])
        mentors = uow.roster.many([m.mentor_email for m in matches.values()])
    by_id = {m.match_id: m for m in meetings}
    for match_id in plan.nudges:
        match = matches[match_id]
        request, mentor = requests[match.request_id], mentors[match.mentor_email.lower()]
        message = invitation_email(
            svc.templates,
            Role.MENTEE,
            by_id[match_id],
            match,
            request,
            mentor,
            svc.rules,
            svc.settings.timezone,
            None,
            nudge=True,
            links=links_for(Role.MENTEE, request, mentor, svc.rules, _secret(), now, match_id),
        )
        send_once(svc.store, svc.connectors.mailer, message, "nudge", now)
    with svc.store.unit_of_work() as uow:
        new = uow.followup.record_flags(plan.flags, now)
    log("booking nudges", nudged=len(plan.nudges), new_flags=len(new))
    return BookingReport(nudged=plan.nudges, new_flags=new)


class SendReport(BaseModel):
    outcomes: list[tuple[SurveyDue, Outcome]]
    failed: list[tuple[SurveyDue, str]]


@task(name="send-surveys", cache_policy=NO_CACHE)
def send_surveys(due: list[SurveyDue], now: datetime) -> SendReport:
    """Send each due survey or reminder at most once (ledger key ``survey|reminder:<match>:<role>``), a few at
    a time, and keep that it went out. One failed send never stops the others."""
    svc = current_services()
    with svc.store.unit_of_work() as uow:
        match_ids = [d.match_id for d in due]
        meetings, matches = uow.matches.meetings(match_ids), uow.matches.many(match_ids)
        requests = uow.requests.many([m.request_id for m in matches.values()])
        mentors = uow.roster.many([str(m.mentor_email) for m in matches.values()])
    secret = svc.settings.survey_token_secret.get_secret_value()

    def send(d: SurveyDue) -> Outcome:
        match = matches[d.match_id]
        message = survey_email(
            svc.templates,
            d.kind,
            d.role,
            meetings[d.match_id],
            requests[match.request_id],
            mentors[str(match.mentor_email).lower()],
            svc.rules,
            svc.settings.timezone,
            secret,
            now + timedelta(days=svc.rules.followup.link_valid_days),
        )
        outcome = send_once(svc.store, svc.connectors.mailer, message, d.kind, now)
        if outcome is not Outcome.UNCERTAIN:
            with svc.store.unit_of_work() as uow:
                entry = uow.ledger.get(message.key)
                at = entry.updated_at if entry is not None else now
                uow.followup.record_sent([SurveySent(match_id=d.match_id, role=d.role, kind=d.kind, at=at)])
        return outcome

    done, failed = each(due, send)
    log("surveys sent", performed=sum(o is Outcome.PERFORMED for o in done.values()), failed=len(failed))
    return SendReport(outcomes=list(done.items()), failed=failed)


@task(name="assess-meetings", cache_policy=NO_CACHE)
def assess_meetings(plan: FollowupPlan, now: datetime) -> AssessReport:
    """Mark meetings held, complete closed follow-ups, and flag no-shows, low scores and silence."""
    svc = current_services()
    flags: list[FollowupFlag] = []
    met_count = completed = 0
    closed = set(plan.closed)
    with svc.store.unit_of_work() as uow:
        answers = uow.followup.survey_answers()
        meetings = uow.matches.meetings_in_followup()
        matches = uow.matches.many([m.match_id for m in meetings])
        requests = uow.requests.many([m.request_id for m in matches.values()])
        for meeting in meetings:
            request = requests[matches[meeting.match_id].request_id]
            status = request.status
            met, found = assess(meeting.match_id, answers, svc.rules.followup, closed=meeting.match_id in closed)
            flags += found
            if met and status is RequestStatus.SCHEDULED:
                uow.requests.transition(request.id, RequestStatus.MET, "followup", "survey says they met", now)
                status, met_count = RequestStatus.MET, met_count + 1
            if meeting.match_id in closed and status is RequestStatus.MET:
                uow.requests.transition(request.id, RequestStatus.COMPLETED, "followup", "follow-up closed", now)
                completed += 1
                mine = [a for a in answers if a.match_id == meeting.match_id]
                if mine and not any(a.still_in_touch for a in mine):  # the relationship is over: free the place
                    uow.matches.end(meeting.match_id, NO_LONGER_IN_TOUCH, "followup", now)
        # the program settles what needs no human: a first no-show is matched again, one low rating is a figure
        rated = uow.matches.many(sorted({a.match_id for a in answers}))
        flags = low_scores_for_lead(
            flags, answers, {i: m.mentor_email.lower() for i, m in rated.items()}, svc.rules.followup.low_score
        )
        earlier = uow.matches.ended_for(DID_NOT_MEET)
        rematch, flags = settle_no_shows(
            flags, {i: m.request_id for i, m in matches.items()}, {m.request_id for m in earlier}
        )
        new = uow.followup.record_flags(flags, now)
        unfinished = uow.matches.unfinished_endings(DID_NOT_MEET)
    # each ending frees the place, re-queues the mentee (waiting time kept) and tells both sides; an ending whose
    # cancel or emails failed is finished by a later run (the same call, idempotent by ledger key)
    for match_id in [*rematch, *unfinished]:
        end_relationship(svc, match_id, DID_NOT_MEET, "followup", now)
    log("meetings assessed", met=met_count, completed=completed, new_flags=len(new), rematched=len(rematch))
    return AssessReport(met=met_count, completed=completed, new_flags=new, rematched=rematch)

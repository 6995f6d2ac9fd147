"""Tasks of the follow-up stage: answers in, surveys and one reminder out, flags for the lead."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from domain.followup import FollowupPlan, SurveyDue, SurveySent, assess, followup_actions
from domain.intake import parse_survey_answer
from domain.keys import SurveyKey, parse_key
from domain.models import FollowupFlag, RequestStatus, SetAside, SurveyAnswer
from mentorflow.bootstrap import current_services
from store.ledger import Outcome, send_once
from tasks.common import log, retry_if_transient
from tasks.compose import survey_email


class AnswersReport(BaseModel):
    read: int
    new: int
    set_aside: list[SetAside]


class AssessReport(BaseModel):
    met: int
    completed: int
    new_flags: list[FollowupFlag]


@task(
    name="collect-answers",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=10,
    retry_condition_fn=retry_if_transient,
)
def collect_answers(now: datetime) -> AnswersReport:
    """Read every survey answer; keep the valid ones (newest per match and side), set the rest aside."""
    svc = current_services()
    raws = svc.connectors.surveys.fetch()
    secret = svc.settings.survey_token_secret.get_secret_value()
    parsed = [parse_survey_answer(r, secret, svc.settings.timezone) for r in raws]
    good = [p for p in parsed if isinstance(p, SurveyAnswer)]
    bad = [p for p in parsed if isinstance(p, SetAside)]
    with svc.store.unit_of_work() as uow:
        new = uow.followup.add_survey_answers(good)
        uow.requests.record_set_aside(bad, "survey", now)
    log("survey answers collected", read=len(raws), new=new, set_aside=len(bad))
    return AnswersReport(read=len(raws), new=new, set_aside=bad)


@task(name="plan-followup", cache_policy=NO_CACHE)
def plan_followup(now: datetime) -> FollowupPlan:
    """Which surveys and reminders are due, and which follow-ups are over."""
    svc = current_services()
    with svc.store.unit_of_work() as uow:
        entries = [e for kind in ("survey", "reminder") for e in uow.ledger.entries(SurveyKey.prefix(kind))]
        meetings, answers = uow.matches.meetings_in_followup(), uow.followup.survey_answers()
    sent = []
    for entry in entries:
        key = parse_key(entry.key)
        assert isinstance(key, SurveyKey)
        sent.append(SurveySent(match_id=key.match_id, role=key.role, kind=key.kind, at=entry.updated_at))
    return followup_actions(meetings, answers, sent, now, svc.rules.followup)


@task(
    name="send-survey",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[5, 30, 120],
    retry_condition_fn=retry_if_transient,
)
def send_survey(due: SurveyDue, now: datetime) -> Outcome:
    """Send one survey or reminder, at most once (ledger key ``survey|reminder:<match>:<role>``)."""
    svc = current_services()
    with svc.store.unit_of_work() as uow:
        meeting = uow.matches.meeting(due.match_id)
        assert meeting is not None
        match = uow.matches.get(due.match_id)
        request, mentor = uow.requests.get(match.request_id), uow.roster.get(str(match.mentor_email))
    message = survey_email(
        svc.templates,
        due.kind,
        due.role,
        meeting,
        request,
        mentor,
        svc.rules,
        svc.settings.timezone,
        svc.settings.survey_token_secret.get_secret_value(),
    )
    mailer = svc.connectors.mailer
    return send_once(svc.store, mailer, message, due.kind, now)


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
        new = uow.followup.record_flags(flags, now)
    log("meetings assessed", met=met_count, completed=completed, new_flags=len(new))
    return AssessReport(met=met_count, completed=completed, new_flags=new)

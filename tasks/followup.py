"""Tasks of the follow-up stage: answers in, surveys and one reminder out, flags for the lead."""

from __future__ import annotations

from datetime import datetime, timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from domain.followup import (
    FollowupPlan,
    LinkedAnswer,
    SurveyDue,
    SurveySent,
    assess,
    followup_actions,
    read_survey_link,
    screen_survey_answers,
)
from domain.intake import parse_survey_answer
from domain.models import FollowupFlag, RequestStatus, Role, SetAside
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
    ended = {i.answer.match_id for i in linked if not _match_is_live(i.answer.match_id)}
    good, refused = screen_survey_answers(linked, svc.store.survey_answers(), ended)
    bad += refused
    new = svc.store.add_survey_answers(good)
    svc.store.record_set_aside(bad, "survey", now)
    log("survey answers collected", read=len(raws), new=new, set_aside=len(bad))
    return AnswersReport(read=len(raws), new=new, set_aside=bad)


def _match_is_live(match_id: int) -> bool:
    try:
        return current_services().store.match(match_id).active
    except KeyError:
        return False


@task(name="plan-followup", cache_policy=NO_CACHE)
def plan_followup(now: datetime) -> FollowupPlan:
    """Which surveys and reminders are due, and which follow-ups are over."""
    svc = current_services()
    sent = [
        SurveySent(match_id=int(match_id), role=Role(role), kind=kind, at=entry.updated_at)  # type: ignore[arg-type]
        for prefix in ("survey:", "reminder:")
        for entry in svc.store.ledger_entries(prefix)
        for kind, match_id, role in [entry.key.split(":")]
    ]
    return followup_actions(svc.store.meetings_in_followup(), svc.store.survey_answers(), sent, now, svc.rules.followup)


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
    meeting = svc.store.meeting(due.match_id)
    assert meeting is not None
    match = svc.store.match(due.match_id)
    message = survey_email(
        svc.templates,
        due.kind,
        due.role,
        meeting,
        svc.store.request(match.request_id),
        svc.store.mentor(str(match.mentor_email)),
        svc.rules,
        svc.settings.timezone,
        svc.settings.survey_token_secret.get_secret_value(),
        now + timedelta(days=svc.rules.followup.link_valid_days),
    )
    mailer = svc.connectors.mailer
    return send_once(svc.store, mailer, message, due.kind, now)


@task(name="assess-meetings", cache_policy=NO_CACHE)
def assess_meetings(plan: FollowupPlan, now: datetime) -> AssessReport:
    """Mark meetings held, complete closed follow-ups, and flag no-shows, low scores and silence."""
    svc = current_services()
    store = svc.store
    answers = store.survey_answers()
    flags: list[FollowupFlag] = []
    met_count = completed = 0
    closed = set(plan.closed)
    for meeting in store.meetings_in_followup():
        match = store.match(meeting.match_id)
        status = store.request(match.request_id).status
        met, found = assess(meeting.match_id, answers, svc.rules.followup, closed=meeting.match_id in closed)
        flags += found
        if met and status is RequestStatus.SCHEDULED:
            store.transition(match.request_id, RequestStatus.MET, "followup", "survey says they met", now)
            status, met_count = RequestStatus.MET, met_count + 1
        if meeting.match_id in closed and status is RequestStatus.MET:
            store.transition(match.request_id, RequestStatus.COMPLETED, "followup", "follow-up closed", now)
            completed += 1
    new = store.record_flags(flags, now)
    log("meetings assessed", met=met_count, completed=completed, new_flags=len(new))
    return AssessReport(met=met_count, completed=completed, new_flags=new)

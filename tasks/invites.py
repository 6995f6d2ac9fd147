"""Tasks of the invite stage: one per approved match (slot, calendar event, two invitation emails)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from connectors.base import Presence, RespondingCalendar
from domain.keys import EventKey, RescheduleKey
from domain.models import FollowupFlag, Meeting, Role
from domain.scheduling import first_meeting_slot
from mentorflow.bootstrap import Services, current_services
from store.ledger import Outcome, do_once, send_once
from tasks.common import log, retry_if_transient
from tasks.compose import calendar_event, event_id_for, invitation_email


class InviteOutcome(BaseModel):
    match_id: int
    status: Literal["scheduled", "no_slot", "uncertain"]
    event: Outcome | None = None
    emails: list[Outcome] = []
    detail: str = ""


@task(name="list-matches-to-invite", cache_policy=NO_CACHE)
def list_matches_to_invite() -> list[int]:
    """Approved matches that have no invitations out yet."""
    with current_services().store.unit_of_work() as uow:
        return uow.matches.to_invite()


@task(
    name="invite-match",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[5, 30, 120],
    retry_condition_fn=retry_if_transient,
)
def invite_match(match_id: int, now: datetime) -> InviteOutcome:
    """Plan the first meeting, create the event, send both invitations: each at most once, by ledger key."""
    svc = current_services()
    store, calendar, mailer = svc.store, svc.connectors.calendar, svc.connectors.mailer
    with store.unit_of_work() as uow:
        match = uow.matches.get(match_id)
        request = uow.requests.get(match.request_id)
        mentor = uow.roster.get(str(match.mentor_email))
        meeting = uow.matches.meeting(match_id)
    if meeting is None:
        rules = svc.rules.scheduling
        emails = [str(request.application.email), str(mentor.email)]
        busy = calendar.busy(now, now + timedelta(days=rules.horizon_days + 1), emails)
        slot = first_meeting_slot(match.shared_windows, busy, now, rules, svc.settings.timezone)
        if slot is None:
            log("no slot found", match=match_id)
            return InviteOutcome(
                match_id=match_id, status="no_slot", detail=f"no shared slot in the next {rules.horizon_days} days"
            )
        planned = Meeting(
            match_id=match_id,
            start=slot[0],
            end=slot[1],
            event_id=event_id_for(svc.install_id, match_id),
            video_link=rules.video_link_template.format(match_id=match_id) if rules.video_link_template else "",
            accessibility_needs=request.application.accessibility_needs,
        )
        with store.unit_of_work() as uow:
            meeting = uow.matches.plan_meeting(planned)

    event = calendar_event(meeting, match, request, mentor, svc.rules, svc.settings)
    has_video_link = bool(meeting.video_link)

    def create_event() -> str:
        ref = calendar.create(event)
        if ref.video_link and not has_video_link:
            with store.unit_of_work() as uow:  # the room the calendar made (Google Meet)
                uow.matches.set_video_link(match_id, ref.video_link)
        return ref.link

    event_outcome = do_once(
        store,
        EventKey(event_id=meeting.event_id),
        "event",
        perform=create_event,
        lookup=lambda: calendar.lookup(event.event_id),
        now=now,
    )
    if event_outcome is Outcome.UNCERTAIN:
        return InviteOutcome(
            match_id=match_id,
            status="uncertain",
            event=event_outcome,
            detail="calendar event state unknown: check it, then `mentorflow ledger release`",
        )
    if event_outcome is Outcome.FOUND_DONE and not has_video_link:
        create_event()  # after a crash: read the existing event back (idempotent) for its video room
    with store.unit_of_work() as uow:
        meeting = uow.matches.meeting(match_id) or meeting
    ics = calendar.invitation(event)
    outcomes = []
    for role in (Role.MENTEE, Role.MENTOR):
        message = invitation_email(
            svc.templates, role, meeting, match, request, mentor, svc.rules, svc.settings.timezone, ics
        )
        outcomes.append(send_once(store, mailer, message, "invite", now))
    with store.unit_of_work() as uow:
        uow.matches.mark_scheduled(match_id, "", now)
    log("match invited", match=match_id, event=event_outcome.value, emails=",".join(o.value for o in outcomes))
    status: Literal["scheduled", "uncertain"] = "uncertain" if Outcome.UNCERTAIN in outcomes else "scheduled"
    return InviteOutcome(match_id=match_id, status=status, event=event_outcome, emails=outcomes)


class Reschedule(BaseModel):
    match_id: int
    declined_by: list[str]
    outcome: Literal["moved", "no_slot", "lead_decides"]
    start: datetime | None = None


@task(name="reschedule-declined", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[10, 60],
      retry_condition_fn=retry_if_transient)
def reschedule_declined(now: datetime) -> list[Reschedule]:
    """When someone declines an upcoming first meeting, move it to the next slot and tell the lead.

    Only calendars that report answers (Google) take part; each move is asked once per key.
    """
    svc = current_services()
    calendar = svc.connectors.calendar
    if not isinstance(calendar, RespondingCalendar):
        return []
    with svc.store.unit_of_work() as uow:
        upcoming = uow.matches.upcoming_meetings(now)
    moves = [_reschedule(svc, calendar, meeting, now) for meeting in upcoming]
    return [m for m in moves if m is not None]


def _reschedule(svc: Services, calendar: RespondingCalendar, meeting: Meeting, now: datetime) -> Reschedule | None:
    store, rules, tz = svc.store, svc.rules.scheduling, svc.settings.timezone
    with store.unit_of_work() as uow:
        match = uow.matches.get(meeting.match_id)
        request = uow.requests.get(match.request_id)
        moves = len(uow.ledger.keys(RescheduleKey.prefix(meeting.match_id)))
    roles = {str(request.application.email).lower(): "mentee", str(match.mentor_email).lower(): "mentor"}
    answers = {email.lower(): status for email, status in calendar.attendee_responses(meeting.event_id).items()}
    declined = sorted(role for email, role in roles.items() if answers.get(email) == "declined")
    if not declined:
        return None
    who = " and ".join(declined)

    def tell_lead(detail: str, outcome: Literal["moved", "no_slot", "lead_decides"],
                  start: datetime | None = None) -> Reschedule:
        with store.unit_of_work() as uow:
            uow.followup.record_flags([FollowupFlag(match_id=meeting.match_id, kind="declined", detail=detail)], now)
        return Reschedule(match_id=meeting.match_id, declined_by=declined, outcome=outcome, start=start)

    if moves >= rules.max_reschedules:
        return tell_lead(f"{who} declined again after {moves} new slots: the lead decides", "lead_decides")
    busy = calendar.busy(now, now + timedelta(days=rules.horizon_days + 1), list(roles))
    slot = first_meeting_slot(match.shared_windows, [*busy, (meeting.start, meeting.end)], now, rules, tz)
    if slot is None:
        return tell_lead(f"{who} declined and no other shared slot is free", "no_slot")
    start, end = slot
    # Moving to the same time twice is harmless, so after a crash the move is simply made again.
    do_once(store, RescheduleKey(match_id=meeting.match_id, n=moves + 1), "reschedule",
            perform=lambda: calendar.move(meeting.event_id, start, end, tz).link,
            lookup=lambda: Presence.ABSENT, now=now)
    with store.unit_of_work() as uow:
        uow.matches.move_meeting(meeting.match_id, start, end)
    log("declined meeting moved", match=meeting.match_id)
    return tell_lead(f"{who} declined; moved to {start.isoformat()}", "moved", start)

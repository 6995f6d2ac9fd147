"""Tasks of the invite stage: approved matches in a few batches (slot, calendar event, two invitation emails)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Literal

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from connectors.base import Presence, RespondingCalendar, StagingCalendar
from domain.booking import booking_meeting, is_booking_meeting
from domain.consent import may_contact
from domain.keys import EventKey, InviteKey, RescheduleKey
from domain.models import FollowupFlag, Match, Meeting, Mentor, MentoringRequest, Role
from domain.rules import SchedulingRules
from domain.scheduling import first_meeting_slot
from mentorflow.bootstrap import Services, current_services
from store.ledger import LedgerBatch, Outcome, do_once, send_once
from tasks.common import each, log, retry_if_transient, workers_for
from tasks.compose import calendar_event, event_id_for, invitation_email, links_for

# Where the calendar's sync position (Google's sync token) is kept between runs, like the intake watermark.
CALENDAR_CHANGES = "calendar:changes"
_PLANNING = threading.Lock()


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


def busy_window(now: datetime, rules: SchedulingRules) -> tuple[datetime, datetime]:
    """The range whose busy times a first meeting's slot is chosen from."""
    return now, now + timedelta(days=rules.horizon_days + 1)


@task(name="read-busy-times", cache_policy=NO_CACHE)
def read_busy_times(match_ids: list[int], now: datetime) -> None:
    """Read everyone's busy times for these matches at once (50 calendars per free/busy query), where the
    calendar can; each match's ``busy`` is then answered from them."""
    svc = current_services()
    calendar = svc.connectors.calendar
    if not match_ids or not isinstance(calendar, RespondingCalendar):
        return
    with svc.store.unit_of_work() as uow:
        matches = uow.matches.many(match_ids)
        requests = uow.requests.many([m.request_id for m in matches.values()])
    emails = [str(requests[m.request_id].application.email) for m in matches.values()]
    emails += [str(m.mentor_email) for m in matches.values()]
    calendar.prefetch_busy(*busy_window(now, svc.rules.scheduling), emails)


class InviteBatch(BaseModel):
    outcomes: list[InviteOutcome]
    failed: list[tuple[int, str]]


# Matches per invite task run: a pipeline records a few coarse task runs, not one per match.
INVITE_BATCH = 250


@task(name="invite-matches", cache_policy=NO_CACHE)
def invite_matches(match_ids: list[int], now: datetime) -> InviteBatch:
    """Invite a batch of matches, a few at a time: for each, plan the first meeting, create the event and send
    both invitations, each at most once by ledger key. One match's failure never stops the others."""
    svc = current_services()
    with svc.store.unit_of_work() as uow:
        matches = uow.matches.many(match_ids)
        requests = uow.requests.many([m.request_id for m in matches.values()])
        mentors = uow.roster.many([str(m.mentor_email) for m in matches.values()])
        meetings = uow.matches.meetings(match_ids)

    def invite(match_id: int) -> InviteOutcome:
        match = matches[match_id]
        mentor = mentors[str(match.mentor_email).lower()]
        return _invite(svc, match, requests[match.request_id], mentor, meetings.get(match_id), now, ledger)

    with LedgerBatch(svc.store, now) as ledger:
        _plan_meetings(svc, matches, requests, mentors, meetings, now)
        planned = [meetings[i] for i in match_ids if i in meetings and not is_booking_meeting(meetings[i])]
        ledger.claim([EventKey(event_id=m.event_id) for m in planned], "event")
        ledger.claim([InviteKey(match_id=m.match_id, role=r) for m in planned for r in Role], "invite")
        done, failed = each(match_ids, invite, workers_for(svc.connectors.calendar, svc.connectors.mailer))
    outcomes = list(done.values())
    log(
        "matches invited",
        scheduled=sum(o.status == "scheduled" for o in outcomes),
        no_slot=sum(o.status == "no_slot" for o in outcomes),
        uncertain=sum(o.status == "uncertain" for o in outcomes),
        failed=len(failed),
    )
    return InviteBatch(outcomes=outcomes, failed=failed)


def _planned(svc: Services, match: Match, request: MentoringRequest, slot: tuple[datetime, datetime]) -> Meeting:
    template = svc.rules.scheduling.video_link_template
    return Meeting(
        match_id=match.id,
        start=slot[0],
        end=slot[1],
        event_id=event_id_for(svc.install_id, match.id),
        video_link=template.format(match_id=match.id) if template else "",
        accessibility_needs=request.application.accessibility_needs,
    )


def _plan_meetings(
    svc: Services,
    matches: dict[int, Match],
    requests: dict[int, MentoringRequest],
    mentors: dict[str, Mentor],
    meetings: dict[int, Meeting],
    now: datetime,
) -> None:
    """Choose and keep the first meeting of each match of the batch that has none, in one unit of work (one
    commit, not one per match), adding them to ``meetings``. Best effort: a match whose busy times cannot be
    read now, or that has no slot, is left to its own invitation, which plans it (or reports it) as before."""
    rules, calendar = svc.rules.scheduling, svc.connectors.calendar
    start, horizon = busy_window(now, rules)
    with _PLANNING, svc.store.unit_of_work() as uow:
        for match_id, match in matches.items():
            if match_id in meetings or mentors[str(match.mentor_email).lower()].scheduling == "booking_link":
                continue
            request = requests[match.request_id]
            emails = [str(request.application.email), str(match.mentor_email)]
            try:
                busy = calendar.busy(start, horizon, emails)
            except Exception:  # noqa: BLE001 - read again, with its retries, by the match's own invitation
                continue
            booked = uow.matches.booked(emails, now, horizon, excluding=match_id)
            slot = first_meeting_slot(match.shared_windows, [*busy, *booked], now, rules, svc.settings.timezone)
            if slot is not None:
                meetings[match_id] = uow.matches.plan_meeting(_planned(svc, match, request, slot))


def _invite(
    svc: Services,
    match: Match,
    request: MentoringRequest,
    mentor: Mentor,
    meeting: Meeting | None,
    now: datetime,
    ledger: LedgerBatch,
) -> InviteOutcome:
    store, calendar = svc.store, svc.connectors.calendar
    match_id = match.id
    if mentor.scheduling == "booking_link":
        return _invite_by_link(svc, match, request, mentor, now, ledger)
    if meeting is None:
        rules = svc.rules.scheduling
        emails = [str(request.application.email), str(mentor.email)]
        start, horizon = busy_window(now, rules)
        busy = calendar.busy(start, horizon, emails)
        # Choosing a slot and keeping it is one step per process, so two matches of the same person that are
        # invited in parallel see each other's meeting (the program's own meetings are busy time: invariant 1).
        with _PLANNING, store.unit_of_work() as uow:
            meeting = uow.matches.meeting(match_id)
            if meeting is None:
                booked = uow.matches.booked(emails, now, horizon, excluding=match_id)
                slot = first_meeting_slot(match.shared_windows, [*busy, *booked], now, rules, svc.settings.timezone)
                if slot is None:
                    log("no slot found", match=match_id)
                    return InviteOutcome(
                        match_id=match_id,
                        status="no_slot",
                        detail=f"no shared slot in the next {rules.horizon_days} days",
                    )
                meeting = uow.matches.plan_meeting(_planned(svc, match, request, slot))

    event = calendar_event(meeting, match, request, mentor, svc.rules, svc.settings)
    has_video_link = bool(meeting.video_link)

    def create_event() -> str:
        if isinstance(calendar, StagingCalendar):  # in place with the batch, before it records the event done
            ledger.before_commit(calendar.commit_staged)
            ref = calendar.stage(event)
        else:
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
        batch=ledger,
    )
    if event_outcome is Outcome.UNCERTAIN:
        return InviteOutcome(
            match_id=match_id,
            status="uncertain",
            event=event_outcome,
            detail="calendar event state unknown: check it, then `mentorflow ledger release`",
        )
    if not has_video_link:
        if event_outcome is Outcome.FOUND_DONE:
            create_event()  # after a crash: read the existing event back (idempotent) for its video room
        with store.unit_of_work() as uow:
            meeting = uow.matches.meeting(match_id) or meeting
    ics = calendar.invitation(event)
    outcomes = _send_invitations(svc, [Role.MENTEE, Role.MENTOR], meeting, match, request, mentor, ics, now, ledger)
    ledger.then(lambda uow: uow.matches.mark_scheduled(match_id, "", now))
    status: Literal["scheduled", "uncertain"] = "uncertain" if Outcome.UNCERTAIN in outcomes else "scheduled"
    return InviteOutcome(match_id=match_id, status=status, event=event_outcome, emails=outcomes)


def _secret(svc: Services) -> str:
    return svc.settings.survey_token_secret.get_secret_value()


def _send_invitations(
    svc: Services,
    roles: list[Role],
    meeting: Meeting,
    match: Match,
    request: MentoringRequest,
    mentor: Mentor,
    ics: bytes | None,
    now: datetime,
    ledger: LedgerBatch,
) -> list[Outcome]:
    """Each side's invitation (with the ``.ics`` when there is an event), each at most once by its ledger key."""
    return [
        send_once(
            svc.store,
            svc.connectors.mailer,
            invitation_email(
                svc.templates,
                role,
                meeting,
                match,
                request,
                mentor,
                svc.rules,
                svc.settings.timezone,
                ics,
                links=links_for(role, request, mentor, svc.rules, _secret(svc), now, match.id),
            ),
            "invite",
            now,
            batch=ledger,
        )
        for role in roles
    ]


def _invite_by_link(
    svc: Services, match: Match, request: MentoringRequest, mentor: Mentor, now: datetime, ledger: LedgerBatch
) -> InviteOutcome:
    """A mentor who takes bookings by link: no calendar event; the mentee's email carries the link and the
    reasons, the mentor (when they have an email) is told who will book. Each email at most once."""
    with svc.store.unit_of_work() as uow:  # a rerun keeps the first placeholder (and so the nudge's day)
        meeting = uow.matches.plan_meeting(
            booking_meeting(match.id, now, svc.rules.followup, request.application.accessibility_needs)
        )
    roles = [Role.MENTEE, Role.MENTOR] if mentor.email else [Role.MENTEE]
    outcomes = _send_invitations(svc, roles, meeting, match, request, mentor, None, now, ledger)
    ledger.then(lambda uow: uow.matches.mark_scheduled(match.id, "", now))
    log("booking link sent", match=match.id, emails=",".join(o.value for o in outcomes))
    status: Literal["scheduled", "uncertain"] = "uncertain" if Outcome.UNCERTAIN in outcomes else "scheduled"
    return InviteOutcome(match_id=match.id, status=status, emails=outcomes, detail="booking link")


class Reschedule(BaseModel):
    match_id: int
    declined_by: list[str]
    outcome: Literal["moved", "no_slot", "lead_decides"]
    start: datetime | None = None


@task(
    name="reschedule-declined",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=retry_if_transient,
)
def reschedule_declined(now: datetime) -> list[Reschedule]:
    """When someone declines an upcoming first meeting, move it to the next slot and tell the lead.

    Only calendars that report answers (Google) take part: one read of the events changed since the last
    run (cancelled ones are ignored); the position moves on once every change was handled. Each move is
    asked once per key.
    """
    svc = current_services()
    calendar, store = svc.connectors.calendar, svc.store
    if not isinstance(calendar, RespondingCalendar):
        return []
    with store.unit_of_work() as uow:
        position = uow.requests.watermark(CALENDAR_CHANGES)
        upcoming = [m for m in uow.matches.upcoming_meetings(now) if not is_booking_meeting(m)]
    changes = calendar.changes(position, now)
    changed = {c.event_id: c.responses for c in changes.changes if not c.cancelled}
    moves = [
        _reschedule(svc, calendar, meeting, changed[meeting.event_id], now)
        for meeting in upcoming
        if meeting.event_id in changed
    ]
    with store.unit_of_work() as uow:  # only once every change was handled: a failed move is read again
        uow.requests.set_watermark(CALENDAR_CHANGES, changes.position, now)
    return [m for m in moves if m is not None]


def _reschedule(
    svc: Services, calendar: RespondingCalendar, meeting: Meeting, responses: dict[str, str], now: datetime
) -> Reschedule | None:
    store, rules, tz = svc.store, svc.rules.scheduling, svc.settings.timezone
    with store.unit_of_work() as uow:
        match = uow.matches.get(meeting.match_id)
        request = uow.requests.get(match.request_id)
        mentor = uow.roster.many([match.mentor_email]).get(str(match.mentor_email).lower())
        moves = uow.matches.reschedules(meeting.match_id)
    roles = {str(request.application.email).lower(): "mentee", str(match.mentor_email).lower(): "mentor"}
    answers = {email.lower(): status for email, status in responses.items()}
    declined = sorted(role for email, role in roles.items() if answers.get(email) == "declined")
    if not declined:
        return None
    who = " and ".join(declined)

    def tell_lead(
        detail: str, outcome: Literal["moved", "no_slot", "lead_decides"], start: datetime | None = None
    ) -> Reschedule:
        with store.unit_of_work() as uow:
            uow.followup.record_flags([FollowupFlag(match_id=meeting.match_id, kind="declined", detail=detail)], now)
        return Reschedule(match_id=meeting.match_id, declined_by=declined, outcome=outcome, start=start)

    silent = [r.value for r in (Role.MENTEE, Role.MENTOR) if not may_contact(r, request, mentor)]
    if silent:  # a move would write to someone paused or withdrawn (invariant 4): not the program's to decide
        return tell_lead(f"{who} declined; the {' and the '.join(silent)} may not be written to now", "lead_decides")
    if moves >= rules.max_reschedules:
        return tell_lead(f"{who} declined again after {moves} new slots: the lead decides", "lead_decides")
    start, horizon = busy_window(now, rules)
    busy = calendar.busy(start, horizon, list(roles))
    with store.unit_of_work() as uow:
        busy += uow.matches.booked(list(roles), now, horizon, excluding=meeting.match_id)
    slot = first_meeting_slot(match.shared_windows, [*busy, (meeting.start, meeting.end)], now, rules, tz)
    if slot is None:
        return tell_lead(f"{who} declined and no other shared slot is free", "no_slot")
    start, end = slot
    # Moving to the same time twice is harmless, so after a crash the move is simply made again.
    do_once(
        store,
        RescheduleKey(match_id=meeting.match_id, n=moves + 1),
        "reschedule",
        perform=lambda: calendar.move(meeting.event_id, start, end, tz).link,
        lookup=lambda: Presence.ABSENT,
        now=now,
    )
    with store.unit_of_work() as uow:
        uow.matches.move_meeting(meeting.match_id, start, end)
    log("declined meeting moved", match=meeting.match_id)
    # handled by the program (everyone is asked again at the new time): in the run's report, not a flag
    return Reschedule(match_id=meeting.match_id, declined_by=declined, outcome="moved", start=start)

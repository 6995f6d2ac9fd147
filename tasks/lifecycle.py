"""Ending a relationship (lead, mentor or mentee): free the place, cancel the meeting, tell both sides."""

from __future__ import annotations

from datetime import datetime

from connectors.base import CancellingCalendar, Presence
from domain.keys import CancelKey, EndedKey
from domain.messages import render_ended
from domain.models import Role
from mentorflow.bootstrap import Services
from store.ledger import Outcome, do_once, send_once
from tasks.compose import _email, _side, links_for
from tasks.logs import log


def end_relationship(
    svc: Services,
    match_id: int,
    reason: str,
    actor: str,
    now: datetime,
    untold: Role | None = None,
    *,
    requeue: bool = True,
    tell: tuple[Role, ...] = (Role.MENTEE, Role.MENTOR),
) -> list[Outcome] | None:
    """End a match (invariant 8), or None when no match of that id is on.

    One unit of work frees the mentor's place and (``requeue``) sends the mentee back to the waitlist with their
    waiting time kept (so they come first); then, each once by ledger key, the future meeting is cancelled in the
    calendar and the sides in ``tell`` are told in their language — except the ``untold`` side (someone who asked
    to be erased gets no more email; a mentee who withdrew gets their own confirmation instead).
    """
    with svc.store.unit_of_work() as uow:
        match = uow.matches.many([match_id]).get(match_id)
        if match is None or not uow.matches.end(match_id, reason, actor, now, requeue=requeue):
            return None
        request, mentor = uow.requests.get(match.request_id), uow.roster.get(str(match.mentor_email))
        meeting = uow.matches.meeting(match_id)
    outcomes: list[Outcome] = []
    calendar = svc.connectors.calendar
    upcoming = meeting if meeting is not None and meeting.start > now else None
    if upcoming is not None and isinstance(calendar, CancellingCalendar):
        event_id = upcoming.event_id

        def gone() -> Presence:  # the cancel is done when the event is no longer there
            return Presence.ABSENT if calendar.lookup(event_id) is Presence.DONE else Presence.DONE

        def cancel() -> str:
            calendar.cancel(event_id)
            return event_id

        outcomes.append(
            do_once(svc.store, CancelKey(event_id=event_id), "cancel", perform=cancel, lookup=gone, now=now)
        )
    secret = svc.settings.survey_token_secret.get_secret_value()
    for role in (r for r in tell if r is not untold):
        to, language, other = _side(role, request, mentor, svc.rules)
        rendered = render_ended(
            svc.templates,
            role=role,
            name=to.name,
            other_name=other,
            meeting_start=upcoming.start if upcoming else None,
            rules=svc.rules,
            tz=svc.settings.timezone,
            language=language,
            links=links_for(role, request, mentor, svc.rules, secret, now),  # the match is over: no "could not reach"
        )
        message = _email(
            str(EndedKey(match_id=match_id, role=role)),
            to,
            rendered,
            language,
            ["ended"],
            {"match_id": str(match_id), "role": role.value},
            svc.rules,
        )
        outcomes.append(send_once(svc.store, svc.connectors.mailer, message, "ended", now))
    log("match ended", match=match_id, outcomes=",".join(o.value for o in outcomes))
    return outcomes

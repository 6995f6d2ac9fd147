"""Ending a relationship (lead, mentor or mentee): free the place, cancel the meeting, tell both sides."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from pydantic import BaseModel

from connectors.base import CancellingCalendar, ConnectorError, Presence, TransientError
from domain.consent import may_contact
from domain.keys import CancelKey, EndedKey, ending_keys
from domain.messages import render_ended
from domain.models import Role
from mentorflow.bootstrap import Services
from store.ledger import Outcome, do_once, send_once
from tasks.compose import _email, _side, links_for
from tasks.logs import log

# A side effect of an ending that failed transiently is tried again after these pauses (the CLI runs this, so it
# cannot use tasks.common, which imports Prefect). The ledger makes a retry safe.
RETRY_PAUSES: tuple[float, ...] = (2.0, 10.0)


class Ending(BaseModel):
    """What ending a match did: each side effect's outcome, and those that failed for good (run it again)."""

    outcomes: dict[str, Outcome]
    failed: list[tuple[str, str]]


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
) -> Ending | None:
    """End a match (invariant 8), or None when no match of that id is on (and no ending of it is unfinished).

    One unit of work frees the mentor's place and (``requeue``) sends the mentee back to the waitlist with their
    waiting time kept (so they come first); then, each once by ledger key and each on its own (a failure of one
    never stops the others; transient ones are tried again), the future meeting is cancelled in the calendar and
    the sides in ``tell`` are told in their language, except the ``untold`` side (someone who asked to be erased;
    a mentee who withdrew gets their own confirmation instead) and a side without standing consent (invariant 4:
    a paused mentor, a mentee who withdrew). Running it again for a match already ended this way finishes what
    failed.
    """
    calendar = svc.connectors.calendar
    with svc.store.unit_of_work() as uow:
        match = uow.matches.many([match_id]).get(match_id)
        if match is None:
            return None
        meeting = uow.matches.meeting(match_id)
        ended = uow.matches.end(match_id, reason, actor, now, requeue=requeue)
        request, mentor = uow.requests.get(match.request_id), uow.roster.get(str(match.mentor_email))
        upcoming = meeting if meeting is not None and meeting.start > now else None
        to_cancel = upcoming.event_id if upcoming is not None and isinstance(calendar, CancellingCalendar) else None
        told = [r for r in tell if r is not untold and may_contact(r, request, mentor)]
        planned = {str(EndedKey(match_id=match_id, role=r)): "ended" for r in told}
        planned |= {str(CancelKey(event_id=to_cancel)): "cancel"} if to_cancel else {}
        if ended:
            # recorded as intended with the ending itself: a process killed before doing them leaves them
            # unfinished in the ledger, and a later run finishes them (MatchRepository.unfinished_endings)
            uow.ledger.intend(planned, now)
        else:
            ours = ending_keys(match_id, meeting.event_id if meeting is not None else None)
            # intended, never tried, and no longer called for (the meeting's time passed, a side may not be
            # written to now): dropped, or they would stay unfinished for ever
            uow.ledger.drop_intents([k for k in ours if k not in planned])
            if not any((e := uow.ledger.get(k)) is not None and e.status != "done" for k in ours):
                return None  # not on, and no ending of ours left unfinished
    effects: dict[str, Callable[[], Outcome]] = {}
    if to_cancel is not None:
        assert isinstance(calendar, CancellingCalendar)
        event_id = to_cancel

        def gone() -> Presence:  # the cancel is done when the event is no longer there
            return Presence.ABSENT if calendar.lookup(event_id) is Presence.DONE else Presence.DONE

        def cancel() -> str:
            calendar.cancel(event_id)
            return event_id

        cancel_key = CancelKey(event_id=event_id)
        effects[str(cancel_key)] = lambda: do_once(
            svc.store, cancel_key, "cancel", perform=cancel, lookup=gone, now=now
        )
    secret = svc.settings.survey_token_secret.get_secret_value()
    for role in told:
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
        key = str(EndedKey(match_id=match_id, role=role))
        message = _email(
            key, to, rendered, language, ["ended"], {"match_id": str(match_id), "role": role.value}, svc.rules
        )
        effects[key] = lambda m=message: send_once(svc.store, svc.connectors.mailer, m, "ended", now)  # type: ignore[misc]
    done: dict[str, Outcome] = {}
    failed: list[tuple[str, str]] = []
    for key in sorted(effects):
        try:
            done[key] = _with_retries(effects[key])
        except ConnectorError as exc:  # crossed a connector boundary: no personal data in it
            failed.append((key, f"{type(exc).__name__}: {exc}"[:300]))
    log("match ended", match=match_id, outcomes=",".join(o.value for o in done.values()), failed=len(failed))
    return Ending(outcomes=done, failed=failed)


def _with_retries(effect: Callable[[], Outcome]) -> Outcome:
    for pause in RETRY_PAUSES:
        try:
            return effect()
        except TransientError as exc:
            if not exc.task_may_retry:
                raise
            time.sleep(pause)
    return effect()

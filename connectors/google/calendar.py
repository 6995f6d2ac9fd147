"""Google Calendar as the meetings calendar (Calendar API v3), idempotent by the event id we choose.

``create`` inserts with our deterministic id (base32hex), a Meet link (``conferenceDataVersion=1``),
both attendees and ``sendUpdates="all"`` — Google sends the invitations itself, so ``invitation`` is
None. A 409 ``duplicate`` means an earlier attempt got through: the event is read back and returned. A
timeout or 5xx is retried (safe: the id makes a repeat a 409); if it persists the outcome is unknown.

Beyond the :class:`~connectors.base.Calendar` protocol: ``attendee_responses`` (who accepted or declined)
and ``move`` (patch the time of an existing event, keeping its id, link and Meet room).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from googleapiclient.errors import HttpError

from connectors.base import (
    CalendarError,
    CalendarEvent,
    CalendarUnavailable,
    EventRef,
    OutcomeUnknown,
    Presence,
)
from connectors.google.auth import GoogleClient
from connectors.google.errors import NETWORK_ERRORS, describe

FREEBUSY_MAX_CALENDARS = 50
DEFAULT_REMINDERS = (("email", 24 * 60), ("popup", 30))


class CalendarOutcomeUnknown(CalendarUnavailable, OutcomeUnknown):
    """The insert may or may not have been stored; ``lookup`` will tell."""


class GoogleCalendar:
    """A :class:`~connectors.base.Calendar` on one Google calendar (``calendar_id``, default the organizer's)."""

    def __init__(self, client: GoogleClient, calendar_id: str = "primary", *, create_meet: bool = True,
                 reminders: tuple[tuple[str, int], ...] = DEFAULT_REMINDERS, attempts: int = 4,
                 backoff_seconds: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.calendar_id = calendar_id
        self.create_meet = create_meet
        self.reminders = reminders
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep

    # --- the Calendar protocol ---------------------------------------------------------------------------

    def create(self, event: CalendarEvent) -> EventRef:
        """Insert the event, or return the one already stored under its id."""
        events = self.client.service.events()
        try:
            stored = self._execute(lambda: events.insert(
                calendarId=self.calendar_id, body=self.body(event), sendUpdates="all",
                conferenceDataVersion=1 if self.create_meet else 0))
        except (HttpError, *NETWORK_ERRORS) as exc:
            failure = describe(exc)
            if failure.status == 409:
                return self._ref(self._existing(event.event_id))
            if failure.transient:
                raise CalendarOutcomeUnknown(
                    f"Google Calendar did not confirm event {event.event_id} ({failure}); lookup will tell") from exc
            raise CalendarError(f"Google Calendar refused event {event.event_id} ({failure})") from exc
        return self._ref(stored)

    def lookup(self, event_id: str) -> Presence:
        """DONE when the event exists (even if someone cancelled it since), ABSENT on 404/410."""
        try:
            self._get(event_id)
        except (HttpError, *NETWORK_ERRORS) as exc:
            failure = describe(exc)
            if failure.status in (404, 410):
                return Presence.ABSENT
            raise self._error(exc, f"could not look up event {event_id}") from exc
        return Presence.DONE

    def cancel(self, event_id: str) -> None:
        """Delete the event; Google tells the attendees. 404/410 mean it is already gone."""
        events = self.client.service.events()
        try:
            self._execute(lambda: events.delete(calendarId=self.calendar_id, eventId=event_id, sendUpdates="all"))
        except (HttpError, *NETWORK_ERRORS) as exc:
            if describe(exc).status in (404, 410):
                return
            raise self._error(exc, f"could not cancel event {event_id}") from exc

    def invitation(self, event: CalendarEvent) -> bytes | None:
        """None: Google sends its own invitations to the attendees (``sendUpdates="all"``)."""
        return None

    def busy(self, start: datetime, end: datetime, emails: list[str]) -> list[tuple[datetime, datetime]]:
        """Busy intervals of those calendars the organizer may see (others are skipped: cannot tell)."""
        intervals: list[tuple[datetime, datetime]] = []
        freebusy = self.client.service.freebusy()
        for i in range(0, len(emails), FREEBUSY_MAX_CALENDARS):
            chunk = emails[i:i + FREEBUSY_MAX_CALENDARS]
            body = {"timeMin": start.isoformat(), "timeMax": end.isoformat(), "items": [{"id": e} for e in chunk]}
            try:
                answer = self._execute(lambda body=body: freebusy.query(body=body))  # type: ignore[misc]
            except (HttpError, *NETWORK_ERRORS) as exc:
                raise self._error(exc, "could not read free/busy times") from exc
            for calendar in (answer.get("calendars") or {}).values():
                for block in calendar.get("busy") or []:
                    try:
                        intervals.append((_instant(block["start"]), _instant(block["end"])))
                    except (KeyError, TypeError, ValueError):
                        continue  # one odd block must not hide the others
        return sorted(intervals)

    # --- extras --------------------------------------------------------------------------------------------

    def attendee_responses(self, event_id: str) -> dict[str, str]:
        """Each attendee's ``responseStatus`` by email: needsAction, accepted, tentative or declined."""
        try:
            event = self._get(event_id)
        except (HttpError, *NETWORK_ERRORS) as exc:
            raise self._error(exc, f"could not read event {event_id}") from exc
        return {str(a["email"]): str(a.get("responseStatus", "needsAction"))
                for a in event.get("attendees", []) if a.get("email")}

    def move(self, event_id: str, start: datetime, end: datetime, timezone: str) -> EventRef:
        """Patch the event to a new time (same id, link and Meet room); attendees get Google's update.

        Every attendee's answer is reset to ``needsAction``: a new time is a new question.
        """
        if end <= start:
            raise CalendarError(f"cannot move event {event_id}: it must end after it starts")
        body: dict[str, Any] = {"start": {"dateTime": start.isoformat(), "timeZone": timezone},
                                "end": {"dateTime": end.isoformat(), "timeZone": timezone}}
        events = self.client.service.events()
        try:
            attendees = [{**a, "responseStatus": "needsAction"} for a in self._get(event_id).get("attendees", [])]
            if attendees:
                body["attendees"] = attendees
            moved = self._execute(lambda: events.patch(calendarId=self.calendar_id, eventId=event_id, body=body,
                                                       sendUpdates="all"))
        except (HttpError, *NETWORK_ERRORS) as exc:
            raise self._error(exc, f"could not move event {event_id}") from exc
        return self._ref(moved)

    # --- helpers -------------------------------------------------------------------------------------------

    def body(self, event: CalendarEvent) -> dict[str, Any]:
        """The events.insert resource for ``event``."""
        body: dict[str, Any] = {
            "id": event.event_id,
            "summary": event.summary,
            "description": event.description,
            "start": {"dateTime": event.start.isoformat(), "timeZone": event.timezone},
            "end": {"dateTime": event.end.isoformat(), "timeZone": event.timezone},
            "attendees": [{"email": a.email, **({"displayName": a.name} if a.name else {})} for a in event.attendees],
            "reminders": {"useDefault": False,
                          "overrides": [{"method": m, "minutes": n} for m, n in self.reminders]},
            "guestsCanModify": False,
        }
        if event.location:
            body["location"] = event.location
        if self.create_meet:
            body["conferenceData"] = {"createRequest": {
                "requestId": f"{event.event_id}-meet", "conferenceSolutionKey": {"type": "hangoutsMeet"}}}
        return body

    def _existing(self, event_id: str) -> dict[str, Any]:
        try:
            return self._get(event_id)
        except (HttpError, *NETWORK_ERRORS) as exc:
            if describe(exc).status in (404, 410):
                raise CalendarError(
                    f"event id {event_id} is taken by a deleted event; the meeting needs a new id") from exc
            raise self._error(exc, f"could not read back existing event {event_id}") from exc

    def _get(self, event_id: str) -> dict[str, Any]:
        events = self.client.service.events()
        result: dict[str, Any] = self._execute(lambda: events.get(calendarId=self.calendar_id, eventId=event_id))
        return result

    def _execute(self, make: Callable[[], Any]) -> Any:
        """Run a request, retrying transient failures with exponential backoff (every call here is idempotent)."""
        for attempt in range(self.attempts):
            try:
                return self.client.execute(make())
            except (HttpError, *NETWORK_ERRORS) as exc:
                if not describe(exc).transient or attempt == self.attempts - 1:
                    raise
                self.sleep(min(self.backoff_seconds * 2 ** attempt, 30.0))
        raise AssertionError("unreachable")

    @staticmethod
    def _error(exc: BaseException, what: str) -> CalendarError:
        failure = describe(exc)
        kind = CalendarUnavailable if failure.transient else CalendarError
        return kind(f"Google Calendar: {what} ({failure})")

    @staticmethod
    def _ref(event: dict[str, Any]) -> EventRef:
        return EventRef(event_id=str(event["id"]), link=str(event.get("htmlLink", "")), ics=None,
                        video_link=str(event.get("hangoutLink", "")))


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))

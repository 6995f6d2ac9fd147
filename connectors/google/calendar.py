"""Google Calendar as the meetings calendar (Calendar API v3), idempotent by the event id we choose.

``create`` inserts with our deterministic id (base32hex), a Meet link (``conferenceDataVersion=1``),
both attendees and ``sendUpdates="all"`` — Google sends the invitations itself, so ``invitation`` is
None. The insert's answer is the stored event (link, Meet room), so nothing is read back. A 409 means the id
exists: an earlier attempt got through (it is read back once), or the event was deleted since — Google keeps a
deleted event as ``status: cancelled`` and refuses a new insert under its id, so it is restored (updated with
``status: confirmed``) instead. Retries are googleapiclient's own (:data:`connectors.google.auth.RETRIES`):
safe, since a repeated insert is a 409; a 5xx or lost answer that persists leaves the outcome unknown.

Beyond the :class:`~connectors.base.Calendar` protocol (:class:`~connectors.base.RespondingCalendar`):
``prefetch_busy`` (free/busy of many people, 50 calendars a query), ``changes`` (events changed since the
last sync token, one ``events.list`` per run) and ``move`` (patch the time of an event, keeping its id).
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.base import (
    CalendarChanges,
    CalendarError,
    CalendarEvent,
    CalendarUnavailable,
    EventChange,
    EventRef,
    OutcomeUnknown,
    Presence,
)
from connectors.google.auth import GoogleClient
from connectors.google.errors import Kind, map_errors

FREEBUSY_MAX_CALENDARS = 50
LIST_PAGE = 2500  # events.list's maximum maxResults
DEFAULT_REMINDERS = (("email", 24 * 60), ("popup", 30))
Interval = tuple[datetime, datetime]


class CalendarOutcomeUnknown(CalendarUnavailable, OutcomeUnknown):
    """The insert may or may not have been stored; ``lookup`` will tell."""


class EventMissing(CalendarError):
    """404: no event with that id."""


class CalendarGone(CalendarError):
    """410: a sync token expired (or the event is gone for good)."""


class EventExists(CalendarError):
    """409: an event with that id exists (possibly cancelled)."""


KINDS: dict[Kind, type[CalendarError]] = {
    Kind.TRANSIENT: CalendarUnavailable,
    Kind.OUTCOME_UNKNOWN: CalendarOutcomeUnknown,
    Kind.BAD_REQUEST: CalendarError,
    Kind.NOT_FOUND: EventMissing,
    Kind.GONE: CalendarGone,
    Kind.EXISTS: EventExists,
}


@dataclass
class _BusySnapshot:
    """Free/busy of many calendars over one range, read ahead in few queries (plus the events made since)."""

    start: datetime
    end: datetime
    by_email: dict[str, list[Interval]] = field(default_factory=dict)


class GoogleCalendar:
    """A :class:`~connectors.base.RespondingCalendar` on one Google calendar (``calendar_id``, default primary)."""

    def __init__(
        self,
        client: GoogleClient,
        calendar_id: str = "primary",
        *,
        create_meet: bool = True,
        reminders: tuple[tuple[str, int], ...] = DEFAULT_REMINDERS,
    ) -> None:
        self.client = client
        self.calendar_id = calendar_id
        self.create_meet = create_meet
        self.reminders = reminders
        self._lock = threading.Lock()
        self._snapshot: _BusySnapshot | None = None

    # --- the Calendar protocol ---------------------------------------------------------------------------

    def create(self, event: CalendarEvent) -> EventRef:
        """Insert the event, or return (or restore, if it was cancelled) the one stored under its id."""
        events = self.client.service.events()
        try:
            with self._errors(f"could not insert event {event.event_id}", write=True):
                stored = self.client.execute(
                    events.insert(
                        calendarId=self.calendar_id,
                        body=self.body(event),
                        sendUpdates="all",
                        conferenceDataVersion=1 if self.create_meet else 0,
                    )
                )
        except EventExists:
            stored = self._existing(event)
        self._note_busy([a.email for a in event.attendees], event.start, event.end)
        return self._ref(stored)

    def lookup(self, event_id: str) -> Presence:
        """DONE when the event exists and is not cancelled; ABSENT when it never existed or was cancelled."""
        try:
            event = self._get(event_id)
        except (EventMissing, CalendarGone):
            return Presence.ABSENT
        return Presence.ABSENT if event.get("status") == "cancelled" else Presence.DONE

    def cancel(self, event_id: str) -> None:
        """Delete the event; Google tells the attendees. 404/410 mean it is already gone."""
        events = self.client.service.events()
        try:
            with self._errors(f"could not cancel event {event_id}", write=True):
                self.client.execute(events.delete(calendarId=self.calendar_id, eventId=event_id, sendUpdates="all"))
        except (EventMissing, CalendarGone):
            return

    def invitation(self, event: CalendarEvent) -> bytes | None:
        """None: Google sends its own invitations to the attendees (``sendUpdates="all"``)."""
        return None

    def busy(self, start: datetime, end: datetime, emails: list[str]) -> list[Interval]:
        """Busy intervals of those calendars the organizer may see (others are skipped: cannot tell).

        Answered from :meth:`prefetch_busy` when it read the same range for all of ``emails``.
        """
        keys = [e.casefold() for e in emails]
        with self._lock:
            snapshot = self._snapshot
            if (
                snapshot
                and (snapshot.start, snapshot.end) == (start, end)
                and all(k in snapshot.by_email for k in keys)
            ):
                return sorted(i for k in set(keys) for i in snapshot.by_email[k])
        return sorted(i for intervals in self._freebusy(start, end, emails).values() for i in intervals)

    def check_credentials(self) -> None:
        """One cheap authenticated call (free/busy of the calendar for a minute); ConfigurationError if refused."""
        now = datetime.now(UTC)
        body = {
            "timeMin": now.isoformat(),
            "timeMax": (now + timedelta(minutes=1)).isoformat(),
            "items": [{"id": self.calendar_id}],
        }
        with self._errors("could not read free/busy times"):
            self.client.execute(self.client.service.freebusy().query(body=body))

    # --- RespondingCalendar ------------------------------------------------------------------------------

    def prefetch_busy(self, start: datetime, end: datetime, emails: list[str]) -> None:
        """Read the busy times of all ``emails`` now, ⌈calendars/50⌉ queries; ``busy`` over this range then
        answers from them, plus the events this calendar creates or moves meanwhile."""
        by_email = self._freebusy(start, end, emails)
        with self._lock:
            self._snapshot = _BusySnapshot(start, end, by_email)

    def changes(self, position: str | None, upcoming_from: datetime) -> CalendarChanges:
        """Events changed since ``position`` (Google's sync token), cancelled ones included, in one
        ``events.list`` (more pages only past 2,500 changes). Without a position, or when the token expired
        (410), a full sync of the upcoming events (``timeMin``, as Google's sync guide does) gives a new one."""
        if position:
            try:
                return self._list({"syncToken": position})
            except CalendarGone:
                pass  # expired: start again from the upcoming events
        return self._list({"timeMin": upcoming_from.isoformat()})

    def move(self, event_id: str, start: datetime, end: datetime, timezone: str) -> EventRef:
        """Patch the event to a new time (same id, link and Meet room); attendees get Google's update.

        Every attendee's answer is reset to ``needsAction``: a new time is a new question.
        """
        if end <= start:
            raise CalendarError(f"cannot move event {event_id}: it must end after it starts")
        body: dict[str, Any] = {
            "start": {"dateTime": start.isoformat(), "timeZone": timezone},
            "end": {"dateTime": end.isoformat(), "timeZone": timezone},
        }
        current = self._get(event_id)
        attendees = [{**a, "responseStatus": "needsAction"} for a in current.get("attendees", [])]
        if attendees:
            body["attendees"] = attendees
        with self._errors(f"could not move event {event_id}"):
            moved = self.client.execute(
                self.client.service.events().patch(
                    calendarId=self.calendar_id, eventId=event_id, body=body, sendUpdates="all"
                )
            )
        self._note_busy([str(a.get("email", "")) for a in attendees], start, end)
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
            "reminders": {"useDefault": False, "overrides": [{"method": m, "minutes": n} for m, n in self.reminders]},
            "guestsCanModify": False,
        }
        if event.location:
            body["location"] = event.location
        if self.create_meet:
            body["conferenceData"] = {
                "createRequest": {
                    "requestId": f"{event.event_id}-meet",
                    "conferenceSolutionKey": {"type": "hangoutsMeet"},
                }
            }
        return body

    def _existing(self, event: CalendarEvent) -> dict[str, Any]:
        """The event stored under ``event``'s id; restored (``status: confirmed``) if it was cancelled."""
        stored = self._get(event.event_id)
        if stored.get("status") != "cancelled":
            return stored
        with self._errors(f"could not restore cancelled event {event.event_id}", write=True):
            restored: dict[str, Any] = self.client.execute(
                self.client.service.events().update(
                    calendarId=self.calendar_id,
                    eventId=event.event_id,
                    body={**self.body(event), "status": "confirmed"},
                    sendUpdates="all",
                    conferenceDataVersion=1 if self.create_meet else 0,
                )
            )
        return restored

    def _get(self, event_id: str) -> dict[str, Any]:
        with self._errors(f"could not read event {event_id}"):
            event: dict[str, Any] = self.client.execute(
                self.client.service.events().get(calendarId=self.calendar_id, eventId=event_id)
            )
        return event

    def _list(self, query: dict[str, Any]) -> CalendarChanges:
        events = self.client.service.events()
        changes: list[EventChange] = []
        token: str | None = None
        with self._errors("could not list changed events"):
            while True:
                page = self.client.execute(
                    events.list(
                        calendarId=self.calendar_id,
                        maxResults=LIST_PAGE,
                        **query,
                        **({"pageToken": token} if token else {}),
                    )
                )
                changes += [_change(item) for item in page.get("items") or [] if item.get("id")]
                token = page.get("nextPageToken")
                if not token:
                    break
        position = page.get("nextSyncToken")
        if not position:
            raise CalendarError("Google Calendar: events.list gave no sync token on its last page")
        return CalendarChanges(changes=changes, position=str(position))

    def _freebusy(self, start: datetime, end: datetime, emails: list[str]) -> dict[str, list[Interval]]:
        """Busy intervals by casefolded email; a calendar Google cannot show (per-calendar error) has none."""
        found: dict[str, list[Interval]] = {}
        unique = list(dict.fromkeys(emails))
        freebusy = self.client.service.freebusy()
        for i in range(0, len(unique), FREEBUSY_MAX_CALENDARS):
            chunk = unique[i : i + FREEBUSY_MAX_CALENDARS]
            body = {"timeMin": start.isoformat(), "timeMax": end.isoformat(), "items": [{"id": e} for e in chunk]}
            with self._errors("could not read free/busy times"):
                answer = self.client.execute(freebusy.query(body=body))
            calendars = answer.get("calendars") or {}
            for email in chunk:
                intervals = found.setdefault(email.casefold(), [])
                for block in (calendars.get(email) or {}).get("busy") or []:
                    try:
                        intervals.append((_instant(block["start"]), _instant(block["end"])))
                    except (KeyError, TypeError, ValueError):
                        continue  # one odd block must not hide the others
        return found

    def _note_busy(self, emails: list[str], start: datetime, end: datetime) -> None:
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or end <= snapshot.start or start >= snapshot.end:
                return
            for email in emails:
                snapshot.by_email.setdefault(email.casefold(), []).append((start, end))

    def _errors(self, what: str, *, write: bool = False) -> AbstractContextManager[None]:
        return map_errors(
            "Google Calendar",
            what,
            KINDS,
            write=write,
            hints={Kind.NOT_FOUND: "check MENTORFLOW_GOOGLE_CALENDAR_ID or the event id"},
        )

    @staticmethod
    def _ref(event: dict[str, Any]) -> EventRef:
        return EventRef(
            event_id=str(event["id"]),
            link=str(event.get("htmlLink", "")),
            ics=None,
            video_link=str(event.get("hangoutLink", "")),
        )


def _change(item: dict[str, Any]) -> EventChange:
    return EventChange(
        event_id=str(item["id"]),
        cancelled=item.get("status") == "cancelled",
        responses={
            str(a["email"]): str(a.get("responseStatus", "needsAction"))
            for a in item.get("attendees") or []
            if a.get("email")
        },
    )


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))

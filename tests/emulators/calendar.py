"""A Google Calendar API v3 emulator: events insert/get/patch/delete and freebusy, under ``/calendar/v3/``.

Faithful where clients depend on it: a client-chosen ``id`` must be base32hex (``[a-v0-9]``, 5–1024
chars) or 400 ``invalid``; a repeated id is 409 ``duplicate`` (also after deletion); start/end are
required; ``conferenceDataVersion=1`` with a ``createRequest`` yields a Meet link; a deleted event reads
as 410 ``deleted``. ``fail_next(500, after=True)`` stores the event and still answers 500.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
from datetime import datetime
from typing import Any

from tests.emulators.server import ApiError, Emulator, Reply, Request

EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class CalendarEmulator(Emulator):
    """Calendars (by id) of events; ``busy_blocks`` seeds other people's busy time for freebusy."""

    def __init__(self) -> None:
        super().__init__()
        self.calendars: dict[str, dict[str, dict[str, Any]]] = {}
        self.busy_blocks: dict[str, list[tuple[datetime, datetime]]] = {}
        self.notifications: list[tuple[str, str, str]] = []  # (operation, event id, sendUpdates)
        events = "/calendar/v3/calendars/{calendarId}/events"
        self.route("POST", events, "events.insert", self._events_insert)
        self.route("GET", events + "/{eventId}", "events.get", self._events_get)
        self.route("PATCH", events + "/{eventId}", "events.patch", self._events_patch)
        self.route("DELETE", events + "/{eventId}", "events.delete", self._events_delete)
        self.route("POST", "/calendar/v3/freeBusy", "freebusy.query", self._freebusy)

    def error_body(self, error: ApiError) -> Any:
        reason = error.reason or {400: "invalid", 404: "notFound", 409: "duplicate", 410: "deleted"}.get(
            error.status, "backendError")
        return {"error": {"errors": [{"domain": "global", "reason": reason, "message": error.message}],
                          "code": error.status, "message": error.message}}

    def reset(self) -> None:
        super().reset()  # first: it waits for requests in flight, which need the lock
        with self.lock:
            self.calendars.clear()
            self.busy_blocks.clear()
            self.notifications.clear()

    # --- what people do outside the API ---------------------------------------------------------------

    def events(self, calendar_id: str = "primary") -> dict[str, dict[str, Any]]:
        """A copy of the stored events of a calendar, by id."""
        with self.lock:
            return copy.deepcopy(self.calendars.get(calendar_id, {}))

    def respond(self, event_id: str, email: str, status: str, calendar_id: str = "primary") -> None:
        """An attendee answers the invitation (``accepted``, ``declined``, ``tentative``)."""
        with self.lock:
            for attendee in self.calendars[calendar_id][event_id].get("attendees", []):
                if attendee["email"].casefold() == email.casefold():
                    attendee["responseStatus"] = status

    def add_busy(self, email: str, start: datetime, end: datetime) -> None:
        with self.lock:
            self.busy_blocks.setdefault(email.casefold(), []).append((start, end))

    # --- operations ------------------------------------------------------------------------------------

    def _events_insert(self, request: Request) -> Reply:
        calendar_id = request.params["calendarId"]
        body = dict(request.body or {})
        event_id = body.get("id") or hashlib.sha1(repr(body).encode()).hexdigest()[:26]
        if not EVENT_ID.match(event_id):
            raise ApiError(400, "Invalid resource id value.", "invalid")
        self._check_times(body)
        events = self.calendars.setdefault(calendar_id, {})
        if event_id in events:
            raise ApiError(409, "The requested identifier already exists.", "duplicate")
        event = self._complete(calendar_id, event_id, body, request.query.get("conferenceDataVersion") == "1")
        events[event_id] = event
        self.notifications.append(("insert", event_id, request.query.get("sendUpdates", "false")))
        return Reply(200, event)

    def _events_get(self, request: Request) -> Reply:
        return Reply(200, self._find(request))

    def _events_patch(self, request: Request) -> Reply:
        event = self._find(request)
        changes = dict(request.body or {})
        changes.pop("id", None)
        candidate = {**event, **changes}
        self._check_times(candidate)
        event.update(changes)
        event["sequence"] = event.get("sequence", 0) + 1
        event["updated"] = "2025-01-01T00:00:00.000Z"
        self.notifications.append(("patch", event["id"], request.query.get("sendUpdates", "false")))
        return Reply(200, event)

    def _events_delete(self, request: Request) -> Reply:
        event = self._find(request)
        event["status"] = "cancelled"
        return Reply(204)

    def _freebusy(self, request: Request) -> Reply:
        body = request.body or {}
        if "timeMin" not in body or "timeMax" not in body:
            raise ApiError(400, "Missing time range.", "required")
        lo, hi = _parse(body["timeMin"]), _parse(body["timeMax"])
        if hi <= lo:
            raise ApiError(400, "The specified time range is empty.", "timeRangeEmpty")
        calendars: dict[str, Any] = {}
        for item in body.get("items", []):
            email = item["id"].casefold()
            intervals = list(self.busy_blocks.get(email, []))
            known = email in self.busy_blocks
            for events in self.calendars.values():
                for event in events.values():
                    people = {a["email"].casefold() for a in event.get("attendees", [])}
                    if event.get("status") != "cancelled" and email in people:
                        known = True
                        intervals.append((_parse(event["start"]["dateTime"]), _parse(event["end"]["dateTime"])))
            if not known:
                calendars[item["id"]] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
                continue
            busy = sorted((max(s, lo), min(e, hi)) for s, e in intervals if s < hi and e > lo)
            calendars[item["id"]] = {"busy": [{"start": s.isoformat(), "end": e.isoformat()} for s, e in busy]}
        return Reply(200, {"kind": "calendar#freeBusy", "timeMin": body["timeMin"], "timeMax": body["timeMax"],
                           "calendars": calendars})

    # --- helpers -----------------------------------------------------------------------------------------

    def _find(self, request: Request) -> dict[str, Any]:
        event = self.calendars.get(request.params["calendarId"], {}).get(request.params["eventId"])
        if event is None:
            raise ApiError(404, "Not Found", "notFound")
        if event.get("status") == "cancelled":
            raise ApiError(410, "Resource has been deleted", "deleted")
        return event

    @staticmethod
    def _check_times(body: dict[str, Any]) -> None:
        for side in ("start", "end"):
            when = body.get(side)
            if not isinstance(when, dict) or not (when.get("dateTime") or when.get("date")):
                raise ApiError(400, f"Missing {side} time.", "required")
        start, end = body["start"].get("dateTime"), body["end"].get("dateTime")
        if start and end and _parse(end) < _parse(start):
            raise ApiError(400, "The specified time range is empty.", "timeRangeEmpty")

    @staticmethod
    def _complete(calendar_id: str, event_id: str, body: dict[str, Any], conferences: bool) -> dict[str, Any]:
        eid = base64.urlsafe_b64encode(f"{event_id} {calendar_id}".encode()).decode().rstrip("=")
        event = {**body, "kind": "calendar#event", "id": event_id, "status": body.get("status", "confirmed"),
                 "htmlLink": f"https://www.google.com/calendar/event?eid={eid}", "sequence": 0,
                 "iCalUID": f"{event_id}@google.com", "created": "2025-01-01T00:00:00.000Z",
                 "organizer": {"email": calendar_id, "self": True}}
        event["attendees"] = [{**a, "responseStatus": a.get("responseStatus", "needsAction")}
                              for a in body.get("attendees", [])]
        request = (body.get("conferenceData") or {}).get("createRequest")
        if not conferences:
            event.pop("conferenceData", None)
        elif request:
            code = hashlib.sha256(request.get("requestId", "").encode()).hexdigest()
            meet = f"https://meet.google.com/{code[:3]}-{code[3:7]}-{code[7:10]}"
            event["conferenceData"] = {
                "createRequest": {**request, "status": {"statusCode": "success"}},
                "entryPoints": [{"entryPointType": "video", "uri": meet, "label": meet[8:]}],
                "conferenceSolution": {"key": {"type": "hangoutsMeet"}, "name": "Google Meet"},
                "conferenceId": f"{code[:3]}-{code[3:7]}-{code[7:10]}",
            }
            event["hangoutLink"] = meet
        return event

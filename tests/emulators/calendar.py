"""A Google Calendar API v3 emulator: events insert/get/list/patch/update/delete and freebusy, under ``/calendar/v3/``.

Strict where the service is (so a client bug fails here as it would against Google):

* an event body may hold only the resource's fields; enums (``status``, ``visibility``, ``transparency``,
  reminder ``method``, attendee ``responseStatus``, ``conferenceSolutionKey.type``) only their values; at
  most 5 reminder overrides; attendee emails are bare addresses; start/end are RFC3339 with an offset, or
  without one only when ``timeZone`` names a zone;
* a client-chosen ``id`` must be base32hex (``[a-v0-9]``, 5–1024 chars) or 400 ``invalid``; a repeated id is
  409 ``duplicate`` — also after deletion: a deleted event stays, ``status: cancelled``, and ``events.get``
  returns it (200), as the real API does; an update or patch with ``status: confirmed`` restores it;
* query parameters are checked per method (unknown ones are 400), as are their values;
* ``events.list`` has the sync semantics: ``syncToken`` (not combinable with ``timeMin``/``timeMax``/
  ``updatedMin``/``q``/``orderBy``/``iCalUID``, 400) returns every change since, cancelled events included;
  an expired token (see :meth:`CalendarEmulator.expire_sync_tokens`) is 410 ``fullSyncRequired``;
  ``updatedMin`` includes deleted events, ``showDeleted`` otherwise; page tokens are bound to their query;
  ``nextSyncToken`` comes on the last page;
* ``freebusy.query`` takes at most 50 items and answers an error per calendar it cannot show.

``fail_next(500, after=True)`` stores the event and still answers 500.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tests.emulators.server import ApiError, Emulator, OAuthTokens, Reply, Request, instant, is_email

EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
EVENT_FIELDS = frozenset(
    {
        "id",
        "kind",
        "etag",
        "status",
        "htmlLink",
        "created",
        "updated",
        "summary",
        "description",
        "location",
        "colorId",
        "creator",
        "organizer",
        "start",
        "end",
        "endTimeUnspecified",
        "recurrence",
        "recurringEventId",
        "originalStartTime",
        "transparency",
        "visibility",
        "iCalUID",
        "sequence",
        "attendees",
        "attendeesOmitted",
        "extendedProperties",
        "hangoutLink",
        "conferenceData",
        "gadget",
        "anyoneCanAddSelf",
        "guestsCanInviteOthers",
        "guestsCanModify",
        "guestsCanSeeOtherGuests",
        "privateCopy",
        "locked",
        "reminders",
        "source",
        "attachments",
        "eventType",
        "workingLocationProperties",
        "outOfOfficeProperties",
        "focusTimeProperties",
        "birthdayProperties",
    }
)
ATTENDEE_FIELDS = frozenset(
    {
        "id",
        "email",
        "displayName",
        "organizer",
        "self",
        "resource",
        "optional",
        "responseStatus",
        "comment",
        "additionalGuests",
    }
)
ENUMS = {
    "status": {"confirmed", "tentative", "cancelled"},
    "visibility": {"default", "public", "private", "confidential"},
    "transparency": {"opaque", "transparent"},
}
RESPONSES = {"needsAction", "declined", "tentative", "accepted"}
REMINDER_METHODS = {"email", "popup"}
SOLUTIONS = {"eventHangout", "eventNamedHangout", "hangoutsMeet", "addOn"}
SEND_UPDATES = {"all", "externalOnly", "none"}
MAX_REMINDERS = 5
MAX_FREEBUSY_ITEMS = 50
MAX_LIST = 2500
WRITE_PARAMS = {"conferenceDataVersion", "maxAttendees", "sendNotifications", "sendUpdates", "supportsAttachments"}
LIST_PARAMS = {
    "alwaysIncludeEmail",
    "eventTypes",
    "iCalUID",
    "maxAttendees",
    "maxResults",
    "orderBy",
    "pageToken",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "showDeleted",
    "showHiddenInvitations",
    "singleEvents",
    "syncToken",
    "timeMax",
    "timeMin",
    "timeZone",
    "updatedMin",
}
NOT_WITH_SYNC_TOKEN = {
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMax",
    "timeMin",
    "updatedMin",
}


def _bad(message: str, reason: str = "invalid") -> ApiError:
    return ApiError(400, message, reason)


def _rfc3339(instant_: datetime) -> str:
    return instant_.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class CalendarEmulator(Emulator, OAuthTokens):
    """Calendars (by id) of events; ``busy_blocks`` seeds other people's busy time for freebusy."""

    def __init__(self) -> None:
        super().__init__()
        self.token_route(self)
        self.calendars: dict[str, dict[str, dict[str, Any]]] = {}
        self.busy_blocks: dict[str, list[tuple[datetime, datetime]]] = {}
        self.notifications: list[tuple[str, str, str]] = []  # (operation, event id, sendUpdates)
        self._versions: dict[tuple[str, str], int] = {}  # (calendar, event id) -> change number
        self._version = 0
        self._epoch = 0  # sync tokens of an earlier epoch are expired
        events = "/calendar/v3/calendars/{calendarId}/events"
        self.route("POST", events, "events.insert", self._events_insert, WRITE_PARAMS)
        self.route("GET", events, "events.list", self._events_list, LIST_PARAMS)
        self.route(
            "GET",
            events + "/{eventId}",
            "events.get",
            self._events_get,
            {"alwaysIncludeEmail", "maxAttendees", "timeZone"},
        )
        self.route("PATCH", events + "/{eventId}", "events.patch", self._events_patch, WRITE_PARAMS)
        self.route("PUT", events + "/{eventId}", "events.update", self._events_update, WRITE_PARAMS)
        self.route(
            "DELETE", events + "/{eventId}", "events.delete", self._events_delete, {"sendNotifications", "sendUpdates"}
        )
        self.route("POST", "/calendar/v3/freeBusy", "freebusy.query", self._freebusy, ())

    def error_body(self, error: ApiError) -> Any:
        reason = error.reason or {400: "invalid", 404: "notFound", 409: "duplicate", 410: "deleted"}.get(
            error.status, "backendError"
        )
        return {
            "error": {
                "errors": [{"domain": "global", "reason": reason, "message": error.message}],
                "code": error.status,
                "message": error.message,
            }
        }

    def reset(self) -> None:
        super().reset()  # first: it waits for requests in flight, which need the lock
        with self.lock:
            self.refuse_tokens = None
            self.calendars.clear()
            self.busy_blocks.clear()
            self.notifications.clear()
            self._versions.clear()
            self._version = self._epoch = 0

    # --- what people do outside the API ---------------------------------------------------------------

    def events(self, calendar_id: str = "primary") -> dict[str, dict[str, Any]]:
        """A copy of the stored events of a calendar (cancelled ones too), by id."""
        with self.lock:
            return copy.deepcopy(self.calendars.get(calendar_id, {}))

    def respond(self, event_id: str, email: str, status: str, calendar_id: str = "primary") -> None:
        """An attendee answers the invitation (``accepted``, ``declined``, ``tentative``)."""
        with self.lock:
            event = self.calendars[calendar_id][event_id]
            for attendee in event.get("attendees", []):
                if attendee["email"].casefold() == email.casefold():
                    attendee["responseStatus"] = status
            self._touch(calendar_id, event)

    def cancel(self, event_id: str, calendar_id: str = "primary") -> None:
        """Someone deletes the event in Google Calendar: it stays, cancelled."""
        with self.lock:
            event = self.calendars[calendar_id][event_id]
            event["status"] = "cancelled"
            self._touch(calendar_id, event)

    def expire_sync_tokens(self) -> None:
        """Every sync token given so far is refused from now on (410), as Google does after a while."""
        with self.lock:
            self._epoch += 1

    def add_busy(self, email: str, start: datetime, end: datetime) -> None:
        with self.lock:
            self.busy_blocks.setdefault(email.casefold(), []).append((start, end))

    # --- operations ------------------------------------------------------------------------------------

    def _events_insert(self, request: Request) -> Reply:
        calendar_id = request.params["calendarId"]
        conferences = self._write_query(request)
        body = dict(request.body or {})
        event_id = body.get("id") or hashlib.sha1(repr(body).encode()).hexdigest()[:26]
        if not isinstance(event_id, str) or not EVENT_ID.match(event_id):
            raise _bad("Invalid resource id value.")
        self._check_event(body)
        events = self.calendars.setdefault(calendar_id, {})
        if event_id in events:  # a cancelled event keeps its id taken
            raise ApiError(409, "The requested identifier already exists.", "duplicate")
        event = self._complete(calendar_id, event_id, body, conferences)
        events[event_id] = event
        self._touch(calendar_id, event)
        self.notifications.append(("insert", event_id, request.query.get("sendUpdates", "false")))
        return Reply(200, event)

    def _events_get(self, request: Request) -> Reply:
        return Reply(200, self._find(request))  # a cancelled event too, with status "cancelled"

    def _events_patch(self, request: Request) -> Reply:
        self._write_query(request)
        event = self._find(request)
        changes = dict(request.body or {})
        changes.pop("id", None)
        candidate = {**event, **changes}
        self._check_event(candidate)
        event.update(changes)
        if "attendees" in changes:
            event["attendees"] = [
                {**a, "responseStatus": a.get("responseStatus", "needsAction")} for a in changes["attendees"]
            ]
        event["sequence"] = event.get("sequence", 0) + 1
        self._touch(request.params["calendarId"], event)
        self.notifications.append(("patch", event["id"], request.query.get("sendUpdates", "false")))
        return Reply(200, event)

    def _events_update(self, request: Request) -> Reply:
        """The whole resource replaced (its id, creation and Meet room kept); restores a cancelled event."""
        calendar_id = request.params["calendarId"]
        conferences = self._write_query(request)
        event = self._find(request)
        body = dict(request.body or {})
        if body.get("id", event["id"]) != event["id"]:
            raise _bad("The event id in the body does not match the request.")
        self._check_event(body)
        replaced = self._complete(calendar_id, event["id"], body, conferences, previous=event)
        replaced["sequence"] = event.get("sequence", 0) + 1
        self.calendars[calendar_id][event["id"]] = replaced
        self._touch(calendar_id, replaced)
        self.notifications.append(("update", event["id"], request.query.get("sendUpdates", "false")))
        return Reply(200, replaced)

    def _events_delete(self, request: Request) -> Reply:
        self._send_updates(request)
        event = self._find(request)
        if event.get("status") == "cancelled":
            raise ApiError(410, "Resource has been deleted", "deleted")
        event["status"] = "cancelled"
        self._touch(request.params["calendarId"], event)
        return Reply(204)

    def _events_list(self, request: Request) -> Reply:
        calendar_id = request.params["calendarId"]
        query = {k: v for k, v in request.query.items() if k not in ("pageToken", "alt", "prettyPrint", "fields")}
        size = self._int(query.get("maxResults", "250"), "maxResults", 1, MAX_LIST)
        for flag in ("showDeleted", "singleEvents", "alwaysIncludeEmail", "showHiddenInvitations"):
            if flag in query and query[flag] not in ("true", "false"):
                raise _bad(f"Invalid boolean value for {flag}.", "invalidParameter")
        if "orderBy" in query and query["orderBy"] not in ("startTime", "updated"):
            raise _bad("Invalid value for orderBy.", "invalidParameter")
        bounds = {}
        for name in ("timeMin", "timeMax", "updatedMin"):
            if name in query:
                if (value := instant(query[name])) is None:
                    raise _bad(
                        f"Invalid value for {name}: must be RFC3339 with a time zone offset.", "invalidParameter"
                    )
                bounds[name] = value
        events = self.calendars.get(calendar_id, {})
        if "syncToken" in query:
            if clash := sorted(NOT_WITH_SYNC_TOKEN & set(query)):
                raise _bad(
                    f"Sync token cannot be used with other request restrictions ({clash[0]}).",
                    "syncTokenWithRequestRestrictions",
                )
            since = self._read_token(query["syncToken"], calendar_id)
            selected = [e for e in events.values() if self._versions[(calendar_id, e["id"])] > since]
        else:
            deleted = query.get("showDeleted") == "true" or "updatedMin" in bounds
            selected = [e for e in events.values() if deleted or e.get("status") != "cancelled"]
            if "updatedMin" in bounds:
                selected = [e for e in selected if instant(e["updated"]) >= bounds["updatedMin"]]  # type: ignore[operator]
            if "timeMin" in bounds:
                selected = [e for e in selected if self._time(e, "end") > bounds["timeMin"]]
            if "timeMax" in bounds:
                selected = [e for e in selected if self._time(e, "start") < bounds["timeMax"]]
        selected.sort(key=lambda e: self._versions[(calendar_id, e["id"])])
        binding = hashlib.sha256(json.dumps([calendar_id, sorted(query.items())]).encode()).hexdigest()[:16]
        start = 0
        if token := request.query.get("pageToken"):
            try:
                state = json.loads(base64.urlsafe_b64decode(token))
                start, bound, at = int(state["offset"]), state["query"], int(state["at"])
            except (ValueError, KeyError, TypeError) as exc:
                raise _bad("Invalid page token.", "invalidParameter") from exc
            if bound != binding:
                raise _bad("The page token does not belong to this query.", "invalidParameter")
            selected = [e for e in selected if self._versions[(calendar_id, e["id"])] <= at]
        at = self._version if not token else at
        page = selected[start : start + size]
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "summary": calendar_id,
            "timeZone": "UTC",
            "items": copy.deepcopy(page),
        }
        if start + size < len(selected):
            body["nextPageToken"] = base64.urlsafe_b64encode(
                json.dumps({"offset": start + size, "query": binding, "at": at}).encode()
            ).decode()
        else:
            body["nextSyncToken"] = base64.urlsafe_b64encode(
                json.dumps({"calendar": calendar_id, "version": at, "epoch": self._epoch}).encode()
            ).decode()
        return Reply(200, body)

    def _freebusy(self, request: Request) -> Reply:
        body = request.body or {}
        unknown = sorted(
            set(body) - {"timeMin", "timeMax", "timeZone", "groupExpansionMax", "calendarExpansionMax", "items"}
        )
        if unknown:
            raise _bad(f"Unknown field {unknown[0]!r}.")
        if "timeMin" not in body or "timeMax" not in body:
            raise ApiError(400, "Missing time range.", "required")
        lo, hi = instant(body["timeMin"]), instant(body["timeMax"])
        if lo is None or hi is None:
            raise _bad("timeMin and timeMax must be RFC3339 with a time zone offset.")
        if hi <= lo:
            raise ApiError(400, "The specified time range is empty.", "timeRangeEmpty")
        items = body.get("items") or []
        if len(items) > MAX_FREEBUSY_ITEMS:
            raise _bad(f"At most {MAX_FREEBUSY_ITEMS} calendars may be queried at once.", "tooManyCalendarsRequested")
        calendars: dict[str, Any] = {}
        for item in items:
            calendar = item.get("id") if isinstance(item, dict) else None
            if not isinstance(calendar, str):
                raise _bad("Every item needs an id.", "required")
            email = calendar.casefold()
            intervals = list(self.busy_blocks.get(email, []))
            known = email in self.busy_blocks or calendar in self.calendars or calendar == "primary"
            known = known and (is_email(calendar) or calendar in self.calendars or calendar == "primary")
            for events in self.calendars.values():
                for event in events.values():
                    people = {a["email"].casefold() for a in event.get("attendees", [])}
                    if event.get("status") != "cancelled" and email in people:
                        known = True
                        intervals.append((self._time(event, "start"), self._time(event, "end")))
            if not known:
                calendars[calendar] = {"errors": [{"domain": "global", "reason": "notFound"}], "busy": []}
                continue
            busy = sorted((max(s, lo), min(e, hi)) for s, e in intervals if s < hi and e > lo)
            calendars[calendar] = {"busy": [{"start": s.isoformat(), "end": e.isoformat()} for s, e in busy]}
        return Reply(
            200,
            {
                "kind": "calendar#freeBusy",
                "timeMin": body["timeMin"],
                "timeMax": body["timeMax"],
                "calendars": calendars,
            },
        )

    # --- helpers -----------------------------------------------------------------------------------------

    def _find(self, request: Request) -> dict[str, Any]:
        event = self.calendars.get(request.params["calendarId"], {}).get(request.params["eventId"])
        if event is None:
            raise ApiError(404, "Not Found", "notFound")
        return event

    def _touch(self, calendar_id: str, event: dict[str, Any]) -> None:
        self._version += 1
        self._versions[(calendar_id, event["id"])] = self._version
        event["updated"] = _rfc3339(datetime.now(UTC))

    def _read_token(self, token: str, calendar_id: str) -> int:
        try:
            state = json.loads(base64.urlsafe_b64decode(token))
            version, calendar, epoch = int(state["version"]), state["calendar"], int(state["epoch"])
        except (ValueError, KeyError, TypeError) as exc:
            raise _bad("Invalid sync token.", "invalidParameter") from exc
        if calendar != calendar_id or epoch != self._epoch:
            raise ApiError(410, "Sync token is no longer valid, a full sync is required.", "fullSyncRequired")
        return version

    def _write_query(self, request: Request) -> bool:
        """Check insert/patch/update parameters; whether a conference is to be made (version 1)."""
        self._send_updates(request)
        version = request.query.get("conferenceDataVersion", "0")
        if version not in ("0", "1"):
            raise _bad("Invalid conferenceDataVersion: must be 0 or 1.", "invalidParameter")
        return version == "1"

    @staticmethod
    def _send_updates(request: Request) -> None:
        if request.query.get("sendUpdates", "all") not in SEND_UPDATES:
            raise _bad("Invalid value for sendUpdates.", "invalidParameter")

    @staticmethod
    def _int(text: str, name: str, low: int, high: int) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise _bad(f"Invalid value for {name}.", "invalidParameter")
        return value

    @staticmethod
    def _time(event: dict[str, Any], side: str) -> datetime:
        when = event[side]
        if when.get("date"):
            return datetime.fromisoformat(when["date"]).replace(tzinfo=UTC)
        parsed = instant(when["dateTime"], zone_given=True)
        assert parsed is not None  # checked on the way in
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(when["timeZone"]))

    @classmethod
    def _check_event(cls, body: dict[str, Any]) -> None:
        """Refuse what the service refuses: unknown fields, bad enums, times without a zone, loose emails."""
        if unknown := sorted(set(body) - EVENT_FIELDS):
            raise _bad(f"Invalid field: {unknown[0]}.")
        for name, allowed in ENUMS.items():
            if name in body and body[name] not in allowed:
                raise _bad(f"Invalid value for {name}.")
        for side in ("start", "end"):
            when = body.get(side)
            if not isinstance(when, dict) or not (when.get("dateTime") or when.get("date")):
                raise ApiError(400, f"Missing {side} time.", "required")
            if unknown := sorted(set(when) - {"date", "dateTime", "timeZone"}):
                raise _bad(f"Invalid field: {side}.{unknown[0]}.")
            if zone := when.get("timeZone"):
                try:
                    ZoneInfo(zone)
                except (ZoneInfoNotFoundError, ValueError) as exc:
                    raise _bad(f"Invalid time zone definition for {side} time.") from exc
            if when.get("dateTime") and instant(when["dateTime"], zone_given=bool(zone)) is None:
                raise _bad(f"Invalid {side} time: an RFC3339 date-time with an offset, or a timeZone, is required.")
        if cls._time(body, "end") < cls._time(body, "start"):
            raise ApiError(400, "The specified time range is empty.", "timeRangeEmpty")
        for attendee in body.get("attendees") or []:
            if not isinstance(attendee, dict) or (unknown := sorted(set(attendee) - ATTENDEE_FIELDS)):
                raise _bad("Invalid attendee.")
            if not is_email(attendee.get("email")):
                raise _bad("Invalid attendee email.")
            if attendee.get("responseStatus", "needsAction") not in RESPONSES:
                raise _bad("Invalid attendee responseStatus.")
        reminders = body.get("reminders")
        if reminders is not None:
            if not isinstance(reminders, dict) or set(reminders) - {"useDefault", "overrides"}:
                raise _bad("Invalid reminders.")
            overrides = reminders.get("overrides") or []
            if len(overrides) > MAX_REMINDERS:
                raise _bad("Too many reminders: at most 5 overrides.", "cannotUseMoreThan5Reminders")
            for override in overrides:
                if override.get("method") not in REMINDER_METHODS or not (
                    isinstance(override.get("minutes"), int) and 0 <= override["minutes"] <= 40320
                ):
                    raise _bad("Invalid reminder override.")
            if overrides and reminders.get("useDefault"):
                raise _bad(
                    "Cannot specify both default reminders and overrides at the same time.",
                    "cannotUseDefaultRemindersAndSpecifyOverride",
                )
        create = (body.get("conferenceData") or {}).get("createRequest")
        if create is not None:
            key = (create.get("conferenceSolutionKey") or {}).get("type")
            if key not in SOLUTIONS or not create.get("requestId"):
                raise _bad("Invalid conference create request.")

    @staticmethod
    def _complete(
        calendar_id: str, event_id: str, body: dict[str, Any], conferences: bool, previous: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        eid = base64.urlsafe_b64encode(f"{event_id} {calendar_id}".encode()).decode().rstrip("=")
        event = {
            **body,
            "kind": "calendar#event",
            "id": event_id,
            "status": body.get("status", "confirmed"),
            "htmlLink": f"https://www.google.com/calendar/event?eid={eid}",
            "sequence": 0,
            "iCalUID": f"{event_id}@google.com",
            "created": previous["created"] if previous else _rfc3339(datetime.now(UTC)),
            "organizer": {"email": calendar_id, "self": True},
        }
        event["attendees"] = [
            {**a, "responseStatus": a.get("responseStatus", "needsAction")} for a in body.get("attendees", [])
        ]
        request = (body.get("conferenceData") or {}).get("createRequest")
        if previous is not None and previous.get("conferenceData", {}).get("entryPoints"):
            event["conferenceData"], event["hangoutLink"] = previous["conferenceData"], previous.get("hangoutLink")
        elif not conferences:
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

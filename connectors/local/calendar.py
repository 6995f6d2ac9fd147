"""First meetings as ``.ics`` files (the embedded default calendar).

``create`` writes ``<event_id>.ics``: an RFC 5545 ``METHOD:REQUEST`` that Google Calendar, Outlook and Apple
Calendar open as an invitation (organizer, attendees asked to reply, local times with their VTIMEZONE, a
reminder). The same bytes are what the invitation email attaches. Files are written atomically (a temp file,
then ``os.replace``), so a killed run never leaves half an invitation; an existing file is never rewritten.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar

from connectors.base import Address, CalendarError, CalendarEvent, EventRef, Presence
from connectors.local.files import StagedFiles, write_private

PRODID = "-//mentorflow//first meetings//EN"
UID_DOMAIN = "mentorflow"
REMINDER = timedelta(minutes=30)


def _address(who: Address, **params: str) -> icalendar.vCalAddress:
    value = icalendar.vCalAddress(f"mailto:{who.email}")
    if who.name:
        value.params["CN"] = who.name
    value.params.update(params)
    return value


def build_ics(event: CalendarEvent, stamp: datetime | None = None, default_tz: str = "Asia/Jerusalem") -> bytes:
    """The event as an RFC 5545 REQUEST (UTF-8 bytes). ``stamp`` (DTSTAMP) defaults to now, in UTC."""
    tzid = event.timezone or default_tz
    try:
        zone = ZoneInfo(tzid)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f"event {event.event_id}: unknown time zone {tzid!r}") from None
    start, end = event.start.astimezone(zone), event.end.astimezone(zone)
    if end <= start:
        raise CalendarError(f"event {event.event_id}: ends before it starts")

    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "REQUEST")
    # Only the transitions around the meeting: a VTIMEZONE from 1970 would be hundreds of lines.
    cal.add_component(
        icalendar.Timezone.from_tzid(
            tzid, first_date=start.date() - timedelta(days=366), last_date=end.date() + timedelta(days=366)
        )
    )

    vevent = icalendar.Event()
    vevent.add("uid", f"{event.event_id}@{UID_DOMAIN}")
    vevent.add("dtstamp", (stamp or datetime.now(UTC)).astimezone(UTC))
    vevent.add("dtstart", start)
    vevent.add("dtend", end)
    vevent.add("sequence", 0)
    vevent.add("status", "CONFIRMED")
    vevent.add("transp", "OPAQUE")
    vevent.add("summary", event.summary)
    vevent.add("description", event.description)
    location = event.location or event.video_link
    if location:
        vevent.add("location", location)
    if event.video_link:
        vevent.add("url", event.video_link)
    vevent.add("organizer", _address(event.organizer, ROLE="CHAIR"))
    for attendee in event.attendees:
        vevent.add(
            "attendee",
            _address(attendee, CUTYPE="INDIVIDUAL", ROLE="REQ-PARTICIPANT", PARTSTAT="NEEDS-ACTION", RSVP="TRUE"),
        )
    alarm = icalendar.Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", event.summary)
    alarm.add("trigger", -REMINDER)
    vevent.add_component(alarm)
    cal.add_component(vevent)
    return cal.to_ical()


def write_atomically(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through ``.<name>.tmp`` in the same folder and ``os.replace``; no half files.

    The temp file's name is the target's own, so one left by a killed run is simply overwritten by the next
    write of that target (the ledger never writes one target from two runs at once). No scan of the folder per
    write: the outbox holds a file per message, and scanning it made n messages cost n² (issue #12).
    """
    write_private(path, data, temp=path.with_name(f".{path.name}.tmp"), durable=durable)


class IcsCalendar:
    """Calendar that writes one ``<event_id>.ics`` per meeting into ``folder``."""

    def __init__(self, folder: Path, organizer_tz: str = "Asia/Jerusalem") -> None:
        self.folder = Path(folder)
        self.organizer_tz = organizer_tz
        self._staged = StagedFiles()
        self.waits_on_network = False  # local files: a batch's items go one at a time (threads only contend)

    def _path(self, event_id: str) -> Path:
        return self.folder / f"{event_id}.ics"

    def create(self, event: CalendarEvent) -> EventRef:
        """Write the event's .ics, or return the existing file unchanged."""
        path = self._path(event.event_id)
        if not path.exists():
            data = build_ics(event, default_tz=self.organizer_tz)
            try:
                write_atomically(path, data)
            except OSError as exc:
                raise CalendarError(f"event {event.event_id}: cannot write {path.name} ({exc.strerror})") from None
        return EventRef(event_id=event.event_id, link=str(path), ics=path.read_bytes())

    def stage(self, event: CalendarEvent) -> EventRef:
        """:meth:`create` for a batch: the ``.ics`` is written under a temp name and put in place (durably) by
        :meth:`commit_staged`, which the batch calls before it records the event done."""
        path = self._path(event.event_id)
        if path.exists():
            return EventRef(event_id=event.event_id, link=str(path), ics=path.read_bytes())
        data = build_ics(event, default_tz=self.organizer_tz)
        try:
            self._staged.write(path, data)
        except OSError as exc:
            raise CalendarError(f"event {event.event_id}: cannot write {path.name} ({exc.strerror})") from None
        return EventRef(event_id=event.event_id, link=str(path), ics=data)

    def commit_staged(self) -> None:
        """Put every staged event in place, durably (see :class:`StagedFiles`)."""
        try:
            self._staged.commit()
        except OSError as exc:
            raise CalendarError(f"cannot write the calendar's files ({exc.strerror})") from None

    def lookup(self, event_id: str) -> Presence:
        """DONE when the event's file exists."""
        return Presence.DONE if self._path(event_id).exists() else Presence.ABSENT

    def invitation(self, event: CalendarEvent) -> bytes | None:
        """The .ics to attach to the invitation email: the one staged or written when there is one."""
        path = self._path(event.event_id)
        staged = self._staged.staged(path)
        if staged is not None:
            return staged
        return path.read_bytes() if path.exists() else build_ics(event, default_tz=self.organizer_tz)

    def cancel(self, event_id: str) -> None:
        """Remove the event's file (idempotent): the meeting is no longer in the calendar."""
        try:
            self._path(event_id).unlink(missing_ok=True)
        except OSError as exc:
            raise CalendarError(f"event {event_id}: cannot remove its file ({exc.strerror})") from None

    def busy(self, start: datetime, end: datetime, emails: list[str]) -> list[tuple[datetime, datetime]]:
        """Local files cannot tell anyone's busy time."""
        return []

    def check_credentials(self) -> None:
        """Nothing to check: local files need no credential."""

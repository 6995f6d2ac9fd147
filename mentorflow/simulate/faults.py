"""The simulator's connectors: the local ones, a calendar that reads attendees' replies, and fault injection.

:class:`ReplyingCalendar` is the local ``.ics`` calendar plus what a real calendar reports: attendees' answers,
read from the METHOD:REPLY files their calendar clients send back (``invites/replies/``), and ``move``, which
rewrites the event's ``.ics`` at its new time with a higher SEQUENCE. With it the flows' "declined first
meeting" path runs on local files.

:func:`faulty` wraps every connector so that each call fails with probability ``rate``, the ways the real
services fail (``connectors/base.py``): reads and sends refused as transient (a 503), and sends and event
creations that *did* happen but whose answer was lost (``OutcomeUnknown``, the case the ledger exists for).
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import icalendar

from connectors.base import (
    CalendarChanges,
    CalendarEvent,
    CalendarUnavailable,
    EventChange,
    EventRef,
    IntakeBatch,
    IntakeUnavailable,
    MailUnavailable,
    OutcomeUnknown,
    OutgoingEmail,
    Presence,
    SentRef,
    SurveyUnavailable,
)
from connectors.factory import Connectors
from connectors.local.calendar import IcsCalendar, write_atomically
from domain.models import RawResponse


class ReplyingCalendar(IcsCalendar):
    """The local calendar, reading attendees' METHOD:REPLY files and able to move an event."""

    def prefetch_busy(self, start: datetime, end: datetime, emails: list[str]) -> None:
        """Nothing to read ahead: ``busy`` reads local files."""

    def changes(self, position: str | None, upcoming_from: datetime) -> CalendarChanges:
        """Every event with replies, as a full sync would give them (the position is not used locally)."""
        ids = sorted({p.name.rsplit("-", 1)[0] for p in (self.folder / "replies").glob("*-*.ics")})
        return CalendarChanges(
            changes=[EventChange(event_id=i, responses=self.attendee_responses(i)) for i in ids], position=""
        )

    def attendee_responses(self, event_id: str) -> dict[str, str]:
        """Each attendee's answer by email, from ``replies/<event_id>-*.ics`` (needsAction when none)."""
        answers: dict[str, str] = {}
        for path in sorted((self.folder / "replies").glob(f"{event_id}-*.ics")):
            for comp in icalendar.Calendar.from_ical(path.read_bytes()).walk("VEVENT"):
                for attendee in _as_list(comp.get("attendee")):
                    email = str(attendee).removeprefix("mailto:").lower()
                    answers[email] = str(attendee.params.get("PARTSTAT", "NEEDS-ACTION")).lower()
        return answers

    def move(self, event_id: str, start: datetime, end: datetime, timezone: str) -> EventRef:
        """Rewrite the event at its new time (same UID, SEQUENCE + 1); everyone is asked again."""
        path = self._path(event_id)
        cal = icalendar.Calendar.from_ical(path.read_bytes())
        for comp in cal.walk("VEVENT"):
            seq = int(comp.get("sequence", 0)) + 1
            for name, value in (("dtstart", start), ("dtend", end), ("sequence", seq)):
                comp.pop(name, None)
                comp.add(name, value)
        write_atomically(path, cal.to_ical())
        for reply in (self.folder / "replies").glob(f"{event_id}-*.ics"):
            reply.unlink()  # answers were to the old time
        return EventRef(event_id=event_id, link=str(path), ics=path.read_bytes())


def _as_list(value: object) -> list[icalendar.vCalAddress]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]  # type: ignore[list-item]


@dataclass
class Dice:
    """A seeded, thread-safe coin for faults; counts what it injected."""

    rate: float
    seed: int
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def roll(self, what: str) -> bool:
        with self._lock:
            hit = self.rate > 0 and self._rng.random() < self.rate
            if hit:
                self.injected[what] = self.injected.get(what, 0) + 1
            return hit


class FaultyIntake:
    def __init__(self, inner: object, dice: Dice) -> None:
        self.inner, self.dice = inner, dice
        self.name = inner.name  # type: ignore[attr-defined]

    def fetch(self, since: str | None) -> IntakeBatch:
        if self.dice.roll("intake"):
            raise IntakeUnavailable("injected: the form service answered 503")
        return self.inner.fetch(since)  # type: ignore[attr-defined, no-any-return]


class FaultyRoster:
    def __init__(self, inner: object, dice: Dice) -> None:
        self.inner, self.dice = inner, dice
        self.name = inner.name  # type: ignore[attr-defined]

    def fetch(self) -> list[RawResponse]:
        if self.dice.roll("roster"):
            raise IntakeUnavailable("injected: the roster could not be read (503)")
        return self.inner.fetch()  # type: ignore[attr-defined, no-any-return]


class FaultySurveys(FaultyRoster):
    def fetch(self) -> list[RawResponse]:
        if self.dice.roll("surveys"):
            raise SurveyUnavailable("injected: the survey answers could not be read (503)")
        return self.inner.fetch()  # type: ignore[attr-defined, no-any-return]


class FaultyMailer:
    """Refuses a send (503, known not sent), or sends and loses the answer (OutcomeUnknown)."""

    def __init__(self, inner: object, dice: Dice) -> None:
        self.inner, self.dice = inner, dice

    def prepare(self, message: OutgoingEmail) -> str:
        return self.inner.prepare(message)  # type: ignore[attr-defined, no-any-return]

    def send(self, message: OutgoingEmail, token: str = "") -> SentRef:
        if self.dice.roll("mail refused"):
            raise MailUnavailable("injected: 503 from the mail service")
        ref: SentRef = self.inner.send(message, token)  # type: ignore[attr-defined]
        if self.dice.roll("mail outcome lost"):
            raise OutcomeUnknown("injected: the connection dropped after the message was sent")
        return ref

    def settle(self, key: str, token: str) -> Presence:
        return self.inner.settle(key, token)  # type: ignore[attr-defined, no-any-return]

    def check_credentials(self) -> None:
        self.inner.check_credentials()  # type: ignore[attr-defined]


class FaultyCalendar:
    """Refuses a creation (503), or creates the event and loses the answer (OutcomeUnknown)."""

    def __init__(self, inner: ReplyingCalendar, dice: Dice) -> None:
        self.inner, self.dice = inner, dice

    def create(self, event: CalendarEvent) -> EventRef:
        if self.dice.roll("calendar refused"):
            raise CalendarUnavailable("injected: 503 from the calendar")
        ref = self.inner.create(event)
        if self.dice.roll("calendar outcome lost"):
            raise OutcomeUnknown("injected: the connection dropped after the event was created")
        return ref

    def lookup(self, event_id: str) -> Presence:
        return self.inner.lookup(event_id)

    def invitation(self, event: CalendarEvent) -> bytes | None:
        return self.inner.invitation(event)

    def busy(self, start: datetime, end: datetime, emails: list[str]) -> list[tuple[datetime, datetime]]:
        return self.inner.busy(start, end, emails)

    def prefetch_busy(self, start: datetime, end: datetime, emails: list[str]) -> None:
        self.inner.prefetch_busy(start, end, emails)

    def changes(self, position: str | None, upcoming_from: datetime) -> CalendarChanges:
        if self.dice.roll("calendar read"):
            raise CalendarUnavailable("injected: 503 reading the calendar's changes")
        return self.inner.changes(position, upcoming_from)

    def check_credentials(self) -> None:
        self.inner.check_credentials()

    def cancel(self, event_id: str) -> None:
        if self.dice.roll("calendar cancel refused"):
            raise CalendarUnavailable("injected: 503 cancelling the event")
        self.inner.cancel(event_id)

    def move(self, event_id: str, start: datetime, end: datetime, timezone: str) -> EventRef:
        if self.dice.roll("calendar move refused"):
            raise CalendarUnavailable("injected: 503 moving the event")
        return self.inner.move(event_id, start, end, timezone)


def simulator_connectors(local: Connectors, invites: Path, tz: str, dice: Dice) -> Connectors:
    """The local connectors with the replying calendar, each behind a fault injector of ``dice.rate``."""
    calendar = ReplyingCalendar(invites, tz)
    return Connectors(
        intake=FaultyIntake(local.intake, dice),  # type: ignore[arg-type]
        roster=FaultyRoster(local.roster, dice),  # type: ignore[arg-type]
        calendar=FaultyCalendar(calendar, dice),
        mailer=FaultyMailer(local.mailer, dice),
        surveys=FaultySurveys(local.surveys, dice),  # type: ignore[arg-type]
        actions=None if local.actions is None else FaultySurveys(local.actions, dice),  # type: ignore[arg-type]
    )

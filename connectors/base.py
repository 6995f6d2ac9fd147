"""The connector interfaces: the only doors between mentorflow and the outside world.

Each interface is small and typed, and has a local implementation (the embedded default) and a real-service
one (Google, SendGrid). Errors cross the boundary translated into the hierarchy below, so flows and tasks
never see an HTTP library's exception.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from domain.models import RawResponse, SetAside

# --- errors -------------------------------------------------------------------------------------------


class ConnectorError(Exception):
    """Something outside failed for one item; the message never carries personal data or secrets."""

    retryable: bool = False


class TransientError(ConnectorError):
    """Worth retrying: a timeout, a 429 or a 5xx."""

    retryable = True


class OutcomeUnknown(TransientError):
    """The request may or may not have taken effect (e.g. a timeout after it was sent).

    The ledger then asks the connector's ``lookup`` before trying again, instead of assuming either way.
    """


class ConfigurationError(ConnectorError):
    """A connector cannot be built from the settings (missing credential, bad endpoint). Fails fast."""


class IntakeError(ConnectorError):
    """The intake or roster source could not be read."""


class IntakeUnavailable(IntakeError, TransientError):
    pass


class CalendarError(ConnectorError):
    """The calendar refused or failed an operation."""


class CalendarUnavailable(CalendarError, TransientError):
    pass


class MailError(ConnectorError):
    """The mailer refused or failed a message."""


class MailUnavailable(MailError, TransientError):
    pass


class SurveyError(ConnectorError):
    """Survey answers could not be read."""


class SurveyUnavailable(SurveyError, TransientError):
    pass


# --- payloads -----------------------------------------------------------------------------------------


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Address(Payload):
    email: str
    name: str = ""


class Attachment(Payload):
    filename: str
    content_type: str = Field(description="e.g. 'text/calendar; method=REQUEST'")
    content: bytes


class OutgoingEmail(Payload):
    """One message. Each recipient gets a copy of their own (never sees the others' addresses)."""

    key: str = Field(description="ledger key; identifies the message, never personal data")
    recipients: list[Address] = Field(min_length=1)
    subject: str
    text: str
    html: str
    language: str = "he"
    attachments: list[Attachment] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list, description="e.g. 'invite', 'survey', 'digest'")
    custom_args: dict[str, str] = Field(default_factory=dict, description="ids only (match, digest issue)")
    reply_to: Address | None = None
    sender: Address | None = Field(None, description="the From; None = the mailer's configured default")


class CalendarEvent(Payload):
    """A meeting to put in both calendars."""

    event_id: str = Field(pattern=r"^[a-v0-9]{5,1024}$", description="deterministic, base32hex as Google requires")
    summary: str
    description: str
    start: datetime
    end: datetime
    timezone: str
    organizer: Address
    attendees: list[Address] = Field(min_length=1)
    location: str = ""
    video_link: str = ""


class EventRef(Payload):
    event_id: str
    link: str = Field(description="where the event can be seen: a file path or a calendar URL")
    ics: bytes | None = Field(
        None, description="the RFC 5545 REQUEST for our invitation email; None where the calendar sends its own"
    )
    video_link: str = Field("", description="a video room the calendar made for the event (e.g. Google Meet)")


class SentRef(Payload):
    key: str
    provider_id: str = Field(description="a file name or the provider's message id")


class Presence(StrEnum):
    """What a connector knows about a side effect it may or may not have performed."""

    DONE = "done"
    ABSENT = "absent"
    UNKNOWN = "unknown"


class IntakeBatch(Payload):
    responses: list[RawResponse]
    watermark: str | None = Field(description="opaque position to resume from next time")
    problems: list[SetAside] = Field(
        default_factory=list, description="files or rows the source could not read, with why (never hides the rest)"
    )


# --- interfaces ---------------------------------------------------------------------------------------


@runtime_checkable
class IntakeSource(Protocol):
    """Mentee form answers, newest after a watermark."""

    name: str

    def fetch(self, since: str | None) -> IntakeBatch:
        """Answers submitted (or edited) after ``since``; the batch carries the next watermark."""
        ...


@runtime_checkable
class RosterSource(Protocol):
    """The mentor roster, read whole each time."""

    name: str

    def fetch(self) -> list[RawResponse]:
        """Every mentor record, unvalidated."""
        ...


@runtime_checkable
class Calendar(Protocol):
    """Where first meetings go. ``create`` must be idempotent by ``event.event_id``."""

    def create(self, event: CalendarEvent) -> EventRef:
        """Create the event, or return the existing one with that id."""
        ...

    def lookup(self, event_id: str) -> Presence:
        """Whether an event with that id exists."""
        ...

    def invitation(self, event: CalendarEvent) -> bytes | None:
        """The .ics REQUEST to attach to our own invitation email; None where the calendar invites by itself."""
        ...

    def busy(self, start: datetime, end: datetime, emails: list[str]) -> list[tuple[datetime, datetime]]:
        """Busy intervals of these people's calendars, where the calendar can tell (else empty)."""
        ...


@runtime_checkable
class RespondingCalendar(Calendar, Protocol):
    """A calendar that reports attendees' answers and can move an event (Google Calendar)."""

    def attendee_responses(self, event_id: str) -> dict[str, str]:
        """Each attendee's answer by email: needsAction, accepted, tentative or declined."""
        ...

    def move(self, event_id: str, start: datetime, end: datetime, timezone: str) -> EventRef:
        """Patch the event to a new time (same id); everyone is asked again."""
        ...


@runtime_checkable
class CancellingCalendar(Calendar, Protocol):
    """A calendar that can cancel an event it made (every calendar of mentorflow)."""

    def cancel(self, event_id: str) -> None:
        """Cancel the event (attendees are told where the calendar invites); an absent event is already done."""
        ...


@runtime_checkable
class Mailer(Protocol):
    """Sends email. ``send`` of a key already sent must not send it again where the mailer can tell."""

    def send(self, message: OutgoingEmail) -> SentRef: ...

    def lookup(self, key: str) -> Presence:
        """Whether the message with that key went out (UNKNOWN where the provider cannot tell)."""
        ...


@runtime_checkable
class SurveySource(Protocol):
    """Answers to the follow-up survey."""

    name: str

    def fetch(self) -> list[RawResponse]:
        """Every answer so far, unvalidated; the store drops those it already has."""
        ...

"""The connector interfaces: the only doors between mentorflow and the outside world.

Each interface is small and typed, and has a local implementation (the embedded default) and a real-service
one (Google, SendGrid). Errors cross the boundary translated into the hierarchy below, so flows and tasks
never see an HTTP library's exception.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import Field, field_validator

from domain.models import Frozen, RawResponse, SetAside

# --- errors -------------------------------------------------------------------------------------------


class ConnectorError(Exception):
    """Something outside failed for one item; the message never carries personal data or secrets."""

    retryable: bool = False


class TransientError(ConnectorError):
    """Worth retrying: a timeout, a 429 or a 5xx.

    ``task_may_retry`` is False where the connector already spent its own retries (one retry layer per
    connector): the task then leaves the item to the next run instead of repeating the same attempts.
    """

    retryable = True
    task_may_retry = True


class OutcomeUnknown(TransientError):
    """The request may or may not have taken effect (e.g. a timeout after it was sent).

    The ledger then asks the connector's ``lookup`` before trying again, instead of assuming either way.
    """


class ConfigurationError(ConnectorError):
    """A setting is wrong (missing or refused credential, bad endpoint, form not shared). Stops the run;
    the message names the setting."""


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


class Payload(Frozen):
    """What a connector is given or returns: immutable, no unknown fields."""


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
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="extra headers, e.g. List-Unsubscribe and List-Unsubscribe-Post (RFC 8058) of a newsletter",
    )

    @field_validator("headers")
    @classmethod
    def _one_line_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,60}", name) or "\r" in value or "\n" in value:
                raise ValueError("a header name must be a token and its value one line")
        return headers


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


class EventChange(Payload):
    """One calendar event as it stands after a change: cancelled, or each attendee's answer by email."""

    event_id: str
    cancelled: bool = False
    responses: dict[str, str] = Field(default_factory=dict, description="needsAction, accepted, tentative, declined")


class CalendarChanges(Payload):
    changes: list[EventChange]
    position: str = Field(description="opaque position to read the next changes from (e.g. a sync token)")


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

    def check_credentials(self) -> None:
        """One cheap authenticated call before a run's first side effect: ConfigurationError naming the
        setting if the service refuses the credential (nothing to check for a local calendar)."""
        ...


@runtime_checkable
class RespondingCalendar(Calendar, Protocol):
    """A calendar that reports attendees' answers, reads many people's busy times at once and can move an
    event (Google Calendar)."""

    def prefetch_busy(self, start: datetime, end: datetime, emails: list[str]) -> None:
        """Read all these calendars' busy times in as few calls as the service allows; ``busy`` over the
        same range then answers from them."""
        ...

    def changes(self, position: str | None, upcoming_from: datetime) -> CalendarChanges:
        """Events changed since ``position`` (all upcoming ones from ``upcoming_from`` when None or expired)."""
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
class StagingCalendar(Calendar, Protocol):
    """A calendar that can write a batch's events first and put them in place together (the local ``.ics``
    files): an event staged exists (for ``lookup``) only once ``commit_staged`` returned."""

    def stage(self, event: CalendarEvent) -> EventRef:
        """``create`` for a batch: the event is put in place by the batch's ``commit_staged``."""
        ...

    def commit_staged(self) -> None:
        """Put every event staged so far in place, durably."""
        ...


@runtime_checkable
class Mailer(Protocol):
    """Sends email so that the ledger can make each message go out exactly once.

    ``prepare`` gives a token the ledger records before ``send`` (where the provider needs one, e.g. a SendGrid
    batch and send time; else ""). After an attempt whose outcome is unknown, ``settle`` finds out or decides
    what became of it: DONE (it went out), ABSENT (it did not and now never will), UNKNOWN (nothing can tell).
    """

    def prepare(self, message: OutgoingEmail) -> str:
        """A token to record before sending ``message`` ("" where none is needed)."""
        ...

    def send(self, message: OutgoingEmail, token: str = "") -> SentRef:
        """Send ``message`` under ``token``; raises OutcomeUnknown when it may or may not have gone out."""
        ...

    def settle(self, key: str, token: str) -> Presence:
        """What became of the attempt made under ``token`` for ``key`` (see the class docstring)."""
        ...

    def check_credentials(self) -> None:
        """One cheap authenticated call before a run's first side effect: ConfigurationError naming the
        setting if the provider refuses the key (nothing to check for the local outbox)."""
        ...


@runtime_checkable
class StagingMailer(Mailer, Protocol):
    """A mailer that can write a batch's messages first and put them in place together (the local outbox): a
    message staged is not sent until ``commit_staged`` returns, and a lookup finds it only after that."""

    def stage(self, message: OutgoingEmail) -> SentRef:
        """Prepare ``message`` to go out with the batch's ``commit_staged``."""
        ...

    def commit_staged(self) -> None:
        """Send (durably) every message staged so far."""
        ...


@runtime_checkable
class SurveySource(Protocol):
    """Answers to the follow-up survey."""

    name: str

    def fetch(self) -> list[RawResponse]:
        """Every answer so far, unvalidated; the store drops those it already has."""
        ...

"""Ledger keys: one typed model per kind of side effect, one way to write it and one to read it back.

The strings are the ledger's primary keys, so their shape never changes (``invite:12:mentee``): existing
ledgers must keep matching. ``str(key)`` writes one, :func:`parse_key` reads one.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict

from domain.models import Role


class _Key(BaseModel):
    model_config = ConfigDict(frozen=True)


class EventKey(_Key):
    """The calendar event of a match's first meeting (by its deterministic event id)."""

    event_id: str

    def __str__(self) -> str:
        return f"event:{self.event_id}"


class InviteKey(_Key):
    """The invitation email to one side of a match."""

    match_id: int
    role: Role

    def __str__(self) -> str:
        return f"invite:{self.match_id}:{self.role.value}"


class SurveyKey(_Key):
    """The follow-up survey (or its one reminder) to one side of a match."""

    kind: Literal["survey", "reminder"]
    match_id: int
    role: Role

    def __str__(self) -> str:
        return f"{self.kind}:{self.match_id}:{self.role.value}"

    @staticmethod
    def prefix(kind: Literal["survey", "reminder"]) -> str:
        return f"{kind}:"


class RescheduleKey(_Key):
    """The ``n``-th move of a match's first meeting after a decline."""

    match_id: int
    n: int

    def __str__(self) -> str:
        return f"reschedule:{self.match_id}:{self.n}"

    @staticmethod
    def prefix(match_id: int) -> str:
        return f"reschedule:{match_id}:"


class DigestKey(_Key):
    """The newsletter issue of one period as one email to everyone (before per-reader copies): no longer written,
    kept so that older ledgers still read."""

    start: date
    end: date

    def __str__(self) -> str:
        return f"digest:{self.start:%Y-%m-%d}:{self.end:%Y-%m-%d}"


class ReportKey(_Key):
    """The lead's report of one day."""

    day: date

    def __str__(self) -> str:
        return f"report:{self.day:%Y-%m-%d}"


class DigestPreviewKey(_Key):
    """The preview of a newsletter issue, mailed to the lead before it goes out."""

    start: date
    end: date

    def __str__(self) -> str:
        return f"digest-preview:{self.start:%Y-%m-%d}:{self.end:%Y-%m-%d}"


class NewsletterKey(_Key):
    """One reader's copy of a newsletter issue (``person``: the opaque key of their address, never the address)."""

    start: date
    end: date
    person: str

    def __str__(self) -> str:
        return f"newsletter:{self.start:%Y-%m-%d}:{self.end:%Y-%m-%d}:{self.person}"


class NudgeKey(_Key):
    """The one nudge to book, to the mentee of a booking-link match."""

    match_id: int

    def __str__(self) -> str:
        return f"nudge:{self.match_id}"

    @staticmethod
    def prefix() -> str:
        return "nudge:"


class CancelKey(_Key):
    """Cancelling the calendar event of a match that ended (by its event id)."""

    event_id: str

    def __str__(self) -> str:
        return f"cancel:{self.event_id}"


class EndedKey(_Key):
    """The email telling one side of a match that it ended."""

    match_id: int
    role: Role

    def __str__(self) -> str:
        return f"ended:{self.match_id}:{self.role.value}"


def ending_keys(match_id: int, event_id: str | None) -> list[str]:
    """Every ledger key an ending of this match may write: the email to each side and, when it had a meeting,
    the meeting's cancel (``tasks.lifecycle.end_relationship``)."""
    keys = [str(EndedKey(match_id=match_id, role=r)) for r in (Role.MENTEE, Role.MENTOR)]
    return keys + ([str(CancelKey(event_id=event_id))] if event_id else [])


class AckKey(_Key):
    """The acknowledgment of one request, to its mentee."""

    request_id: int

    def __str__(self) -> str:
        return f"ack:{self.request_id}"

    @staticmethod
    def prefix() -> str:
        return "ack:"


class FixKey(_Key):
    """The note telling an applicant what to fix in one answer set aside (``answer``: the answer's hash)."""

    answer: str

    def __str__(self) -> str:
        return f"fixit:{self.answer}"


class SelfServiceKey(_Key):
    """The confirmation of one self-service action taken (by the action's id in the store)."""

    action_id: int

    def __str__(self) -> str:
        return f"selfservice:{self.action_id}"


LedgerKey = (
    EventKey
    | InviteKey
    | SurveyKey
    | RescheduleKey
    | DigestKey
    | ReportKey
    | DigestPreviewKey
    | NewsletterKey
    | NudgeKey
    | CancelKey
    | EndedKey
    | AckKey
    | FixKey
    | SelfServiceKey
)


def parse_key(key: str) -> LedgerKey:
    """The typed key a ledger string stands for; ValueError for a string no builder makes."""
    kind, _, rest = key.partition(":")
    parts = rest.split(":")
    try:
        if kind == "event" and rest:
            return EventKey(event_id=rest)
        if kind == "cancel" and rest:
            return CancelKey(event_id=rest)
        if kind == "ended" and len(parts) == 2:
            return EndedKey(match_id=int(parts[0]), role=Role(parts[1]))
        if kind == "invite" and len(parts) == 2:
            return InviteKey(match_id=int(parts[0]), role=Role(parts[1]))
        if kind in ("survey", "reminder") and len(parts) == 2:
            return SurveyKey(kind=kind, match_id=int(parts[0]), role=Role(parts[1]))  # type: ignore[arg-type]
        if kind == "reschedule" and len(parts) == 2:
            return RescheduleKey(match_id=int(parts[0]), n=int(parts[1]))
        if kind == "digest" and len(parts) == 2:
            return DigestKey(start=date.fromisoformat(parts[0]), end=date.fromisoformat(parts[1]))
        if kind == "digest-preview" and len(parts) == 2:
            return DigestPreviewKey(start=date.fromisoformat(parts[0]), end=date.fromisoformat(parts[1]))
        if kind == "newsletter" and len(parts) == 3:
            return NewsletterKey(start=date.fromisoformat(parts[0]), end=date.fromisoformat(parts[1]), person=parts[2])
        if kind == "nudge" and len(parts) == 1:
            return NudgeKey(match_id=int(parts[0]))
        if kind == "ack" and len(parts) == 1:
            return AckKey(request_id=int(parts[0]))
        if kind == "fixit" and len(parts) == 1 and parts[0]:
            return FixKey(answer=parts[0])
        if kind == "selfservice" and len(parts) == 1:
            return SelfServiceKey(action_id=int(parts[0]))
        if kind == "report" and len(parts) == 1:
            return ReportKey(day=date.fromisoformat(parts[0]))
    except ValueError as exc:
        raise ValueError(f"malformed ledger key of kind {kind!r}") from exc
    raise ValueError(f"not a ledger key: kind {kind!r}")

"""The program's vocabulary: people, availability, requests and their lifecycle, meetings, surveys, digests.

Pure pydantic models. Times of day are local to the program's time zone (Asia/Jerusalem by default);
instants (``datetime``) are always timezone-aware.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, time
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetime must carry a time zone")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]

# Validation context key: addresses ``domain.fields.parse_email`` has just validated (see ``Email``).
PARSED_EMAILS = "parsed_emails"


def _email_once(value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
    """``EmailStr``'s check, except for an address the caller's context lists as validated by ``parse_email``:
    every email of a form answer was checked (by the same email_validator) and normalised there, and the second
    check was ~40 % of parsing a large export (issue #12). Only ASCII addresses are listed, for which
    ``EmailStr`` returns parse_email's output unchanged (``tests/test_fields.py`` checks it), so the model holds
    the same value either way; anything else, and every caller without the context, is checked here."""
    checked = info.context.get(PARSED_EMAILS, ()) if isinstance(info.context, dict) else ()
    if isinstance(value, str) and value in checked:
        return value
    return handler(value)


Email = Annotated[EmailStr, WrapValidator(_email_once)]


# Validation errors never echo the input: they reach logs, Prefect states and the lead's reports.
class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class Weekday(IntEnum):
    """ISO weekday numbers (Monday = 1 … Sunday = 7), as ``date.isoweekday()`` returns them."""

    MON = 1
    TUE = 2
    WED = 3
    THU = 4
    FRI = 5
    SAT = 6
    SUN = 7


# The one weekday table: Hebrew label first, then every spelling a form answer may use for the day.
WEEKDAY_NAMES: dict[Weekday, tuple[str, ...]] = {
    Weekday.MON: ("יום שני", "mon", "monday", "mondays", "שני", "ב"),
    Weekday.TUE: ("יום שלישי", "tue", "tues", "tuesday", "tuesdays", "שלישי", "ג"),
    Weekday.WED: ("יום רביעי", "wed", "wednesday", "wednesdays", "רביעי", "ד"),
    Weekday.THU: ("יום חמישי", "thu", "thur", "thurs", "thursday", "thursdays", "חמישי", "ה"),
    Weekday.FRI: ("יום שישי", "fri", "friday", "fridays", "שישי", "ו"),
    Weekday.SAT: ("שבת", "sat", "saturday", "saturdays"),
    Weekday.SUN: ("יום ראשון", "sun", "sunday", "sundays", "ראשון", "א"),
}
# Hebrew day names, Monday first (index = ISO weekday - 1 = date.weekday()).
HE_WEEKDAYS = tuple(WEEKDAY_NAMES[Weekday(d)][0] for d in range(1, 8))


class WeeklyWindow(Frozen):
    """A recurring weekly block of local time, e.g. Tuesday 18:00–20:00."""

    day: Weekday
    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> WeeklyWindow:
        if self.end <= self.start:
            raise ValueError("a window must end after it starts")
        return self

    def overlap_minutes(self, other: WeeklyWindow) -> int:
        """Minutes this window shares with ``other`` (0 when on different days or disjoint)."""
        if self.day != other.day:
            return 0
        lo = max(self.start, other.start)
        hi = min(self.end, other.end)
        if hi <= lo:
            return 0
        return (hi.hour * 60 + hi.minute) - (lo.hour * 60 + lo.minute)

    def intersect(self, other: WeeklyWindow) -> WeeklyWindow | None:
        """The shared part of two windows, or None."""
        if self.overlap_minutes(other) == 0:
            return None
        # Both sides are valid windows and they overlap, so the result is valid without validating it again.
        return WeeklyWindow.model_construct(
            day=self.day, start=max(self.start, other.start), end=min(self.end, other.end)
        )

    def label(self, language: str = "en") -> str:
        """``Tue 18:00-20:00``, or in Hebrew ``יום שלישי 18:00–20:00``."""
        if language == "he":
            return f"{HE_WEEKDAYS[self.day - 1]} {self.start:%H:%M}–{self.end:%H:%M}"
        return f"{self.day.name.title()} {self.start:%H:%M}-{self.end:%H:%M}"


def shared_windows(a: list[WeeklyWindow], b: list[WeeklyWindow]) -> list[WeeklyWindow]:
    """Every window both availabilities contain, in weekly order."""
    out = [w for x in a for y in b if x.day == y.day and (w := x.intersect(y)) is not None]
    return sorted(out, key=lambda w: (w.day, w.start))


class Role(StrEnum):
    MENTEE = "mentee"
    MENTOR = "mentor"


ContactKind = Literal["booking_link", "whatsapp", "email", "none"]
Scheduling = Literal["invite", "booking_link"]


BOOKING_KEY_PREFIX = "booking:"
MAX_KEY_LENGTH = 320  # the store's key column


def booking_key(url: str) -> str:
    """A mentor key from a booking URL: host without ``www.`` and path, lower-cased, no query, fragment or end slash.

    ``https://www.Calendly.com/dana/30min/?utm=x`` → ``booking:calendly.com/dana/30min``. A key longer than the
    store's column becomes the host and a hash of the rest, so it stays stable.
    """
    parts = urlsplit(url.strip())
    host = parts.netloc.casefold().removeprefix("www.")
    path = parts.path.rstrip("/").casefold()
    key = f"{BOOKING_KEY_PREFIX}{host}{path}"
    if len(key) > MAX_KEY_LENGTH:
        key = f"{BOOKING_KEY_PREFIX}{host}#{hashlib.sha256(path.encode()).hexdigest()}"
    return key


def mentor_key(email: str | None, booking_url: str = "") -> str:
    """The one stable key of a mentor: the lower-cased email when there is one, else ``booking_key(booking_url)``."""
    if email:
        return email.strip().lower()
    if not booking_url:
        raise ValueError("a mentor needs an email or a booking link")
    return booking_key(booking_url)


class Mentor(Frozen):
    """A mentor from the roster (same shape as the community's mentor page, plus what matching needs).

    ``expertise`` holds topic keys; phrases of the mentor's own words that map to no topic are kept in
    ``expertise_text`` (shown to the lead, a weak signal for matching). One of the two must be non-empty.
    A mentor who schedules through their own booking link needs no weekly availability, and no email:
    such a mentor is known by ``key`` (derived from the booking link) and every email to them is skipped.
    """

    email: EmailStr | None = None
    name: str = Field(min_length=1, max_length=120)
    role: str = ""
    company: str = ""
    expertise: list[str] = Field(default_factory=list, description="topic keys from the program's topic list")
    expertise_text: list[str] = Field(default_factory=list, description="the mentor's phrases mapped to no topic")
    years: int | None = Field(None, ge=0, le=70, description="years of experience, when given")
    career_stage: int = Field(ge=0, le=4, description="0 student … 4 principal/leader")
    languages: list[str] = Field(min_length=1)
    capacity: int = Field(ge=0, le=20, description="mentees at once")
    availability: list[WeeklyWindow] = Field(default_factory=list)
    active: bool = True
    linkedin: str = Field("", description="LinkedIn profile URL")
    booking_url: str = Field("", description="Calendly, cal.com or any booking page")
    contact_kind: ContactKind = "none"
    scheduling: Scheduling = "invite"
    newsletter: bool = Field(False, description="opted in to the newsletter (roster field)")

    @model_validator(mode="after")
    def _usable(self) -> Mentor:
        if not self.expertise and not self.expertise_text:
            raise ValueError("expertise: no topic and no free-text expertise")
        if self.scheduling == "booking_link" and not self.booking_url:
            raise ValueError("scheduling: booking_link needs a booking_url")
        if self.scheduling == "invite" and not self.availability:
            raise ValueError("availability: missing (needed for calendar invitations)")
        if self.email is None and self.scheduling != "booking_link":
            raise ValueError("email: missing (only a mentor who takes bookings by link can go without one)")
        return self

    @property
    def key(self) -> str:
        """The store's and the matcher's key of this mentor (see ``mentor_key``)."""
        return mentor_key(self.email, self.booking_url)


class MenteeApplication(Frozen):
    """One validated intake-form answer."""

    response_id: str = Field(min_length=1, description="the form's own id of the response (or a row key)")
    submitted_at: AwareDatetime
    name: str = Field(min_length=1, max_length=120)
    email: Email
    languages: list[str] = Field(min_length=1)
    topics: list[str] = Field(min_length=1, description="topic keys, most wanted first")
    career_stage: int = Field(ge=0, le=4)
    goals: str = ""
    availability: list[WeeklyWindow] = Field(min_length=1)
    accessibility_needs: str = ""
    consent_contact: bool
    consent_quote: bool = False
    newsletter: bool = Field(False, description="opted in to the newsletter (apart from being contacted about a match)")
    continue_with: Email | None = Field(default=None, description="a former mentor the mentee asks to continue with")


class RawResponse(Frozen):
    """A form answer as the intake source delivered it: question title → answer text."""

    source: str = Field(description="which intake source, e.g. 'csv:mentees.csv' or 'forms:FORM_ID'")
    ref: str = Field(description="a non-personal reference the lead can find it by: row number or response id")
    submitted_at: AwareDatetime | None = None
    answers: dict[str, str | list[str]]


class Withdrawal(Frozen):
    """A later answer of a mentee that refuses contact: their open request is withdrawn (invariant 4)."""

    response_id: str = Field(min_length=1)
    submitted_at: AwareDatetime
    email: EmailStr


class SetAside(Frozen):
    """A record that could not be accepted, with every specific reason."""

    source: str
    ref: str
    reasons: list[str] = Field(min_length=1)


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    NEEDS_INFO = "needs_info"
    SCHEDULED = "scheduled"
    MET = "met"
    COMPLETED = "completed"
    CANCELED = "canceled"


TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.PENDING: frozenset(
        {RequestStatus.APPROVED, RequestStatus.REJECTED, RequestStatus.NEEDS_INFO, RequestStatus.CANCELED}
    ),
    RequestStatus.NEEDS_INFO: frozenset({RequestStatus.PENDING, RequestStatus.REJECTED, RequestStatus.CANCELED}),
    RequestStatus.APPROVED: frozenset({RequestStatus.SCHEDULED, RequestStatus.PENDING, RequestStatus.CANCELED}),
    RequestStatus.SCHEDULED: frozenset({RequestStatus.MET, RequestStatus.PENDING, RequestStatus.CANCELED}),
    # MET → PENDING: a relationship that ended early (a side stopped, the lead ended it) queues the mentee again
    RequestStatus.MET: frozenset({RequestStatus.COMPLETED, RequestStatus.PENDING, RequestStatus.CANCELED}),
    RequestStatus.REJECTED: frozenset(),
    RequestStatus.COMPLETED: frozenset(),
    RequestStatus.CANCELED: frozenset(),
}
OPEN_STATUSES = frozenset(
    {
        RequestStatus.PENDING,
        RequestStatus.NEEDS_INFO,
        RequestStatus.APPROVED,
        RequestStatus.SCHEDULED,
        RequestStatus.MET,
    }
)


class IllegalTransition(ValueError):
    """A request was asked to move along an edge the lifecycle does not have."""


def check_transition(current: RequestStatus, new: RequestStatus) -> None:
    """Raise IllegalTransition unless ``current → new`` is an edge of the lifecycle."""
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(f"a request cannot go from {current.value} to {new.value}")


class StatusChange(Frozen):
    at: AwareDatetime
    from_status: RequestStatus | None
    to_status: RequestStatus
    actor: str = Field(description="'system', 'lead' or a flow name")
    note: str = ""


class MentoringRequest(BaseModel):
    """A mentee's request as the store holds it: the application, its status and its timeline."""

    model_config = ConfigDict(hide_input_in_errors=True)

    id: int
    application: MenteeApplication
    status: RequestStatus
    created_at: AwareDatetime
    updated_at: AwareDatetime
    waiting_since: AwareDatetime
    wait_reason: str = ""
    previous_mentors: list[str] = Field(default_factory=list, description="keys of mentors already had")
    refused_mentors: list[str] = Field(
        default_factory=list, description="keys of mentors the lead turned down for this mentee: never again"
    )
    timeline: list[StatusChange] = Field(default_factory=list)


class ScoreBreakdown(Frozen):
    topics: float = 0.0
    stage: float = 0.0
    availability: float = 0.0
    language: float = 0.0
    continuity: float = 0.0
    priority: float = 0.0
    load: float = 0.0
    free_text: float = 0.0

    @property
    def total(self) -> float:
        return round(
            self.topics
            + self.stage
            + self.availability
            + self.language
            + self.continuity
            + self.priority
            + self.load
            + self.free_text,
            6,
        )


class ProposedMatch(Frozen):
    """A mentee–mentor pair the matcher proposes, with why."""

    request_id: int
    mentor_email: str = Field(description="the mentor's key: lower-case email, or booking:<link> without one")
    score: float
    breakdown: ScoreBreakdown
    reasons: list[str] = Field(min_length=1, description="short human reasons, e.g. 'shared: Python, open source'")
    shared_windows: list[WeeklyWindow] = Field(default_factory=list)


class Unmatched(Frozen):
    request_id: int
    reason: str = Field(description="the binding reason, e.g. 'no mentor shares a language'")


class MatchResult(Frozen):
    matches: list[ProposedMatch]
    waitlist: list[Unmatched]


class Match(BaseModel):
    """An approved match as the store holds it."""

    model_config = ConfigDict(hide_input_in_errors=True)

    id: int
    request_id: int
    mentor_email: str = Field(description="the mentor's key (see mentor_key)")
    score: float
    reasons: list[str]
    shared_windows: list[WeeklyWindow]
    created_at: AwareDatetime
    active: bool = True


class Meeting(Frozen):
    """The first meeting of a match."""

    match_id: int
    start: AwareDatetime
    end: AwareDatetime
    event_id: str = Field(description="deterministic calendar id derived from the match")
    video_link: str
    accessibility_needs: str = ""
    mode: Literal["online", "in_person"] = "online"


class SurveyAnswer(Frozen):
    """One person's answer to the follow-up survey of one match."""

    match_id: int
    role: Role
    submitted_at: AwareDatetime
    satisfaction: int | None = Field(
        None, ge=1, le=5, description="None when skipped: the rest of a partial answer still counts"
    )
    met: bool
    still_in_touch: bool
    adopted_idea: bool
    free_text: str = Field(default="", max_length=2000)
    consent_quote: bool = False


class FollowupFlag(Frozen):
    match_id: int
    kind: Literal["no_show", "low_score", "no_answer", "declined", "no_booking", "mentor_left"]
    detail: str
    id: int | None = Field(None, description="the store's id, for `mentorflow flags done ID`")


class DigestIssue(Frozen):
    """A newsletter issue: everything it says, before rendering."""

    period_start: date
    period_end: date
    language: str
    new_mentors: list[str] = Field(description="display names of mentors who joined in the period")
    matches_made: int
    meetings_held: int
    answers: int
    satisfaction_avg: float | None
    satisfied_pct: float | None
    in_touch_pct: float | None
    adopted_pct: float | None
    topics_in_demand: list[tuple[str, int]] = Field(description="(topic label, mentees waiting) lacking mentors")
    top_topics: list[tuple[str, int]]
    quotes: list[str] = Field(description="free-text answers whose authors consented to be quoted")

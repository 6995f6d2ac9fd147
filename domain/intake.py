"""Turning raw form answers and roster records into validated models, or setting them aside with reasons.

Every field is checked and every problem collected, so the lead sees all of a record's issues at once.
Reasons name the field and the problem, never the person's text (at most a position such as "item 2 of 3").
Every field is read by the one set of parsers in ``domain/fields.py``; free-text expertise by ``domain/topics.py``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import Field, ValidationError

from domain.fields import (
    FUTURE_TOLERANCE,
    format_errors,
    meetable_problem,
    parse_availability,
    parse_bool,
    parse_email,
    parse_int,
    parse_languages,
    parse_stage,
    parse_timestamp,
    parse_topics,
    parse_url,
    parsed_emails,
    split_items,
    text_problem,
)
from domain.followup import read_survey_token
from domain.memo import PerObject
from domain.messages import pick_language
from domain.models import (
    ContactKind,
    Frozen,
    MenteeApplication,
    Mentor,
    RawResponse,
    Scheduling,
    SetAside,
    SurveyAnswer,
    WeeklyWindow,
    Withdrawal,
)
from domain.rules import ProgramRules
from domain.selfservice import FixNote, answer_hash, fields_to_fix
from domain.topics import PhraseTopics, TopicMapper

T = TypeVar("T")


@functools.lru_cache(maxsize=4_096)
def _norm(title: str) -> str:
    return " ".join(title.split()).casefold()


def _by_norm(columns: Mapping[str, str]) -> dict[str, str]:
    """Normalised question title → field, built once per mapping (it was rebuilt for every answer read)."""
    return _columns(columns)


_columns: PerObject[Mapping[str, str], dict[str, str]] = PerObject(
    lambda columns: {_norm(title): field for title, field in columns.items()}, limit=16
)


def _as_text(value: str | list[str] | None, sep: str = ", ") -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return sep.join(str(v).strip() for v in value if str(v).strip())
    return str(value)


_mappers: PerObject[ProgramRules, TopicMapper] = PerObject(lambda rules: TopicMapper(rules.topics))


def mapper_for(rules: ProgramRules) -> TopicMapper:
    """The topic mapper of these rules, built once (the rules are immutable)."""
    return _mappers(rules)


# --- the field collector -------------------------------------------------------------------------------------


class _Fields:
    """Reads mapped answers field by field, collecting reasons instead of raising."""

    def __init__(self, answers: Mapping[str, str | list[str]], columns: Mapping[str, str], max_text: int) -> None:
        mapping = _by_norm(columns)
        self.values: dict[str, str | list[str]] = {}
        self.titles: dict[str, str] = {}
        for title, value in answers.items():
            field = mapping.get(_norm(str(title)))
            # Two titles may map to one field (Hebrew and English forms): the first non-empty answer wins.
            if field is not None and (field not in self.values or not _as_text(self.values[field]).strip()):
                self.values[field] = value
                self.titles[field] = str(title)
        self.reasons: list[str] = []
        self.max_text = max_text

    def has(self, field: str) -> bool:
        return bool(_as_text(self.values.get(field)).strip())

    def hebrew_title(self, field: str) -> bool:
        """Whether the field's answer came under a Hebrew question title (a Hebrew form's export)."""
        return bool(re.search(r"[\u0590-\u05ff]", self.titles.get(field, "")))

    def _checked(self, field: str, texts: list[str], limit: int, name: bool = False) -> bool:
        for t in texts:
            if problem := text_problem(t, limit, name=name):
                self.reasons.append(f"{field}: {problem}")
                return False
        return True

    def text(
        self,
        field: str,
        *,
        required: bool = False,
        limit: int | None = None,
        collapse: bool = False,
        name: bool = False,
    ) -> str:
        """A free-text field, checked for length and control characters; ``collapse`` folds inner whitespace.

        ``name``: the text must also have something visible in it (not only zero-width or format characters).
        """
        raw = self.values.get(field)
        value = _as_text(raw)
        if not value.strip():
            if required:
                self.reasons.append(f"{field}: missing")
            return ""
        pieces = [str(v) for v in raw] if isinstance(raw, list) else [value]
        if not self._checked(field, pieces, limit or self.max_text, name):
            return ""
        return " ".join(value.split()) if collapse else value.strip()

    def parsed(
        self,
        field: str,
        parse: Callable[[Any], Any],
        default: Any,
        *,
        required: bool = True,
        items: bool = False,
        sep: str = ", ",
    ) -> Any:
        """Run ``parse`` over the field's text (or list of items); record 'field: message' on failure.

        A list answer is joined with ``sep`` when the parser wants text.
        """
        raw = self.values.get(field)
        if not _as_text(raw).strip():
            if required:
                self.reasons.append(f"{field}: missing")
            return default
        pieces = split_items(raw) if items else [_as_text(raw, sep)]
        if not self._checked(field, pieces, self.max_text):
            return default
        try:
            return parse(pieces if items else pieces[0])
        except ValueError as exc:
            self.reasons.append(f"{field}: {exc}")
            return default


def _build(model: type[T], data: dict[str, Any], reasons: list[str], context: dict[str, Any] | None = None) -> T | None:
    """Validate ``data`` into ``model``; on failure add 'field: message' reasons (never the input values)."""
    try:
        return model.model_validate(data, context=context)  # type: ignore[attr-defined, no-any-return]
    except ValidationError as exc:
        reasons.extend(format_errors(exc))
        return None


# --- public parsers ------------------------------------------------------------------------------------------


_AVAILABILITY_MEMO = 20_000  # distinct answers kept per set of rules
_availabilities: PerObject[ProgramRules, dict[str, tuple[WeeklyWindow, ...] | str]] = PerObject(lambda rules: {})


def _availability(text: str, rules: ProgramRules) -> list[WeeklyWindow]:
    """Weekly windows in which a meeting can actually happen (not Shabbat only, not too short).

    Remembered per distinct answer text (a pure function of the text and the immutable rules): a form's
    availability answers repeat (checkbox choices), and reading them was a fifth of parsing a large export.
    """
    memo = _availabilities(rules)
    found = memo.get(text)
    if found is None:
        try:
            windows = parse_availability(text, rules.availability)
            found = problem if (problem := meetable_problem(windows, rules.scheduling)) else tuple(windows)
        except ValueError as exc:
            found = str(exc)
        if len(memo) >= _AVAILABILITY_MEMO:
            memo.clear()
        memo[text] = found
    if isinstance(found, str):
        raise ValueError(found)
    return list(found)


def parse_mentee(
    raw: RawResponse,
    rules: ProgramRules,
    tz: str = "Asia/Jerusalem",
    now: datetime | None = None,
    columns: Mapping[str, str] | None = None,
) -> MenteeApplication | SetAside:
    """Validate one intake-form answer; every problem found goes into the SetAside's reasons.

    A Hebrew form's timestamp is read day-first; one later than ``now`` (default: the clock) is set aside.
    ``columns`` (title → field) defaults to the form's, ``rules.intake.columns``.
    """
    intake = rules.intake
    f = _Fields(raw.answers, columns or intake.columns, intake.max_text_length)
    now = now or datetime.now(UTC)

    submitted_at: datetime | None = raw.submitted_at
    if f.has("timestamp"):
        day_first = f.hebrew_title("timestamp")
        submitted_at = f.parsed("timestamp", lambda s: parse_timestamp(s, tz, day_first=day_first, now=now), None)
    elif submitted_at is None:
        f.reasons.append("timestamp: missing (neither the form nor the source gives one)")
    elif submitted_at > now + FUTURE_TOLERANCE:
        f.reasons.append("timestamp: in the future (a wrong clock or a mistyped date)")

    consent = f.parsed("consent_contact", parse_bool, None, required=False)
    if consent is not True and not any(r.startswith("consent_contact:") for r in f.reasons):
        f.reasons.append("consent_contact: the form must allow contact")

    data: dict[str, Any] = {
        "response_id": f.text("response_id", limit=200) or f"{raw.source}#{raw.ref}",
        "submitted_at": submitted_at,
        "name": f.text("name", required=True, limit=intake.max_name_length, collapse=True, name=True),
        "email": f.parsed("email", parse_email, ""),
        "languages": f.parsed("languages", lambda xs: parse_languages(xs, rules), [], items=True),
        "topics": f.parsed("topics", lambda xs: parse_topics(xs, mapper_for(rules)), [], items=True),
        "career_stage": f.parsed("career_stage", lambda s: parse_stage(s, rules), 0),
        "goals": f.text("goals"),
        "availability": f.parsed("availability", lambda s: _availability(s, rules), [], sep="; "),
        "accessibility_needs": f.text("accessibility_needs"),
        "consent_contact": bool(consent),
        "consent_quote": bool(f.parsed("consent_quote", parse_bool, False, required=False)),
        "newsletter": bool(f.parsed("newsletter", parse_bool, False, required=False)),
        "continue_with": f.parsed("continue_with", parse_email, None, required=False),
    }
    if f.reasons:
        return SetAside(source=raw.source, ref=raw.ref, reasons=f.reasons)
    app = _build(MenteeApplication, data, f.reasons, parsed_emails(data["email"], data["continue_with"]))
    return app if app is not None else SetAside(source=raw.source, ref=raw.ref, reasons=f.reasons)


def answer_of(raw: RawResponse, rules: ProgramRules, tz: str = "Asia/Jerusalem") -> tuple[str, datetime] | None:
    """Whose answer it is and when it was given (email, time), when both can be read even if the rest cannot."""
    f = _Fields(raw.answers, rules.intake.columns, rules.intake.max_text_length)
    at = f.parsed("timestamp", lambda s: parse_timestamp(s, tz), None) if f.has("timestamp") else raw.submitted_at
    email = f.parsed("email", parse_email, "")
    return (str(email).lower(), at) if email and at is not None else None


def fix_note_of(raw: RawResponse, problem: SetAside, rules: ProgramRules) -> FixNote | None:
    """What to tell the person whose answer was set aside, when they gave a valid email and agreed to be
    contacted (else None: nobody is written to without both)."""
    f = _Fields(raw.answers, rules.intake.columns, rules.intake.max_text_length)
    email = f.parsed("email", parse_email, "")
    consent = f.parsed("consent_contact", parse_bool, None, required=False)
    fields = fields_to_fix(problem)
    if not email or consent is not True or not fields:
        return None
    languages = f.parsed("languages", lambda xs: parse_languages(xs, rules), [], items=True, required=False)
    return FixNote(
        email=str(email).lower(),
        name=f.text("name", limit=rules.intake.max_name_length, collapse=True, name=True),
        language=pick_language(languages, rules.digest.language),
        fields=fields,
        answer=answer_hash(raw),
    )


def parse_withdrawal(raw: RawResponse, rules: ProgramRules, tz: str = "Asia/Jerusalem") -> Withdrawal | None:
    """An answer that says "do not contact me" with a readable email and time: a withdrawal, else None.

    :func:`parse_mentee` sets such an answer aside (it is no application); this reads what it does mean.
    """
    f = _Fields(raw.answers, rules.intake.columns, rules.intake.max_text_length)
    if f.parsed("consent_contact", parse_bool, None, required=False) is not False:
        return None
    submitted_at = (
        f.parsed("timestamp", lambda s: parse_timestamp(s, tz), None) if f.has("timestamp") else (raw.submitted_at)
    )
    email = f.parsed("email", parse_email, "")
    if f.reasons or submitted_at is None or not email:
        return None
    response_id = f.text("response_id", limit=200) or f"{raw.source}#{raw.ref}"
    return Withdrawal(response_id=response_id, submitted_at=submitted_at, email=email)


# Roster records use field names as keys; these are the other titles a mentor form, sheet or the community's
# mentors page (שם מלא / במה אני יכול לעזור / קישור ליצירת קשר / לינקדאין) may use.
MENTOR_COLUMNS: dict[str, str] = {
    **{
        k: k
        for k in (
            "name",
            "email",
            "role",
            "company",
            "expertise",
            "years",
            "career_stage",
            "languages",
            "capacity",
            "availability",
            "active",
            "linkedin",
            "booking_url",
            "contact",
            "scheduling",
            "newsletter",
        )
    },
    "full name": "name",
    "שם מלא": "name",
    "email address": "email",
    "אימייל": "email",
    "current role": "role",
    "תפקיד": "role",
    "חברה": "company",
    "topics": "expertise",
    "תחומי מומחיות": "expertise",
    "במה אני יכול לעזור": "expertise",
    "במה אני יכולה לעזור": "expertise",
    "במה אני יכול/ה לעזור": "expertise",
    "how i can help": "expertise",
    "years of experience": "years",
    "שנות ניסיון": "years",
    "career stage": "career_stage",
    "preferred languages": "languages",
    "שפות": "languages",
    "mentees at once": "capacity",
    "weekly availability": "availability",
    "זמינות שבועית": "availability",
    "status": "active",
    "booking link": "booking_url",
    "booking url": "booking_url",
    "linkedin_url": "linkedin",
    "לינקדאין": "linkedin",
    "קישור ליצירת קשר": "contact",
    "contact": "contact",
    "send me the newsletter": "newsletter",
    "לשלוח לי את הניוזלטר": "newsletter",
    "ניוזלטר": "newsletter",
}
NO_EMAIL = "no email; a mentor without one must take bookings by link (scheduling: booking_link)"
SENIOR = 3  # the career stage taken for a mentor who gives neither years nor a stage


def _active(text: str) -> bool:
    value = parse_bool(text)
    if value is None:
        raise ValueError("missing")
    return value


def _default_stage(years: int | None) -> int:
    if years is None:
        return SENIOR
    return 1 if years < 2 else 2 if years < 5 else 3 if years < 10 else 4


def contact_kind(link: str) -> ContactKind:
    """What a contact link is: a WhatsApp chat, an email address, a booking page (any other web link), or none."""
    s = link.strip().casefold()
    if not s:
        return "none"
    if re.match(r"^https?://(?:wa\.me|(?:api|chat)\.whatsapp\.com)/", s):
        return "whatsapp"
    if s.startswith("mailto:") or re.match(r"^[^@\s/]+@[^@\s/]+$", s):
        return "email"
    parse_url(link)
    return "booking_link"


def _languages_of(texts: list[str]) -> list[str]:
    """The languages a mentor writes in, when the roster does not say: Hebrew letters → he, else en."""
    joined = " ".join(texts)
    if re.search(r"[\u05d0-\u05ea]", joined):
        return ["he"]
    return ["en"] if re.search(r"[A-Za-z]", joined) else []


class MentorCheck(Frozen):
    """What importing one roster record would do: its topic mapping, contact, and why it would be set aside."""

    ref: str
    name: str
    topics: list[str]
    mapped: list[PhraseTopics]
    unmapped: list[str]
    contact_kind: ContactKind
    scheduling: Scheduling | None = Field(description="how the mentor would schedule; None when set aside")
    set_aside: list[str]


def check_mentor(raw: RawResponse, rules: ProgramRules) -> MentorCheck:
    """The lead's preview of one roster record (``mentorflow roster check``), from the same parsers as import."""
    return inspect_mentor(raw, rules)[1]


def inspect_mentor(raw: RawResponse, rules: ProgramRules) -> tuple[Mentor | SetAside, MentorCheck]:
    """One roster record parsed (as :func:`parse_mentor`) together with its check (as ``roster check`` shows it):
    the import uses both, so its mapping report is the one ``roster check`` prints."""
    f = _Fields(raw.answers, MENTOR_COLUMNS, rules.intake.max_text_length)
    mapping = mapper_for(rules).map_line("; ".join(split_items(f.values.get("expertise"))))
    parsed = parse_mentor(raw, rules)
    if isinstance(parsed, Mentor):
        kind, scheduling, reasons = parsed.contact_kind, parsed.scheduling, []
    else:
        try:
            kind = contact_kind(_as_text(f.values.get("contact")) or _as_text(f.values.get("booking_url")))
        except ValueError:
            kind = "none"
        scheduling, reasons = None, parsed.reasons
    return parsed, MentorCheck(
        ref=raw.ref,
        name=" ".join(_as_text(f.values.get("name")).split()),
        topics=mapping.topics,
        mapped=mapping.mapped,
        unmapped=mapping.unmapped,
        contact_kind=kind,
        scheduling=scheduling,
        set_aside=reasons,
    )


def parse_mentor(raw: RawResponse, rules: ProgramRules) -> Mentor | SetAside:
    """Validate one roster record; capacity defaults to 1, active to True, career stage to one from years.

    Expertise may be free text: phrases that map to no topic are kept as ``expertise_text``. A contact link
    becomes a booking link, a WhatsApp contact or an email; a mentor with a booking link schedules through it
    when the record or ``rules.roster.default_scheduling`` says so, and then needs no weekly availability.
    """
    f = _Fields(raw.answers, MENTOR_COLUMNS, rules.intake.max_text_length)
    name = f.text("name", required=True, limit=rules.intake.max_name_length, collapse=True, name=True)
    contact = f.text("contact", limit=500)
    try:
        kind = contact_kind(contact)
    except ValueError as exc:
        f.reasons.append(f"contact: {exc}")
        kind = "none"
    booking_url = f.parsed("booking_url", parse_url, "", required=False) or (contact if kind == "booking_link" else "")
    email: str | None = None
    if f.has("email"):
        email = f.parsed("email", parse_email, "")
    elif kind == "email":
        email = f.parsed("contact", parse_email, "")
    elif not booking_url:
        f.reasons.append(f"email: {NO_EMAIL}" if kind == "whatsapp" else "email: missing (and no contact link)")
    if kind == "none":
        kind = "booking_link" if booking_url else "email" if email else "none"
    # A mentor known only by a booking link (the mentors page) cannot be sent invitations: they take bookings.
    scheduling = (
        "invite"
        if not booking_url
        else "booking_link"
        if not f.has("availability")
        else rules.roster.default_scheduling
    )
    if f.has("scheduling"):
        scheduling = f.parsed("scheduling", _scheduling, scheduling)
    if email is None and booking_url and scheduling != "booking_link":
        f.reasons.append(f"email: {NO_EMAIL}")

    expertise = f.parsed("expertise", lambda xs: mapper_for(rules).map_line("; ".join(xs)), None, items=True)
    if expertise is not None and not expertise.topics and not expertise.unmapped:
        f.reasons.append("expertise: missing")
    years = f.parsed("years", lambda s: parse_int(s, 0, 70), None, required=False)
    languages = (
        f.parsed("languages", lambda xs: parse_languages(xs, rules), [], items=True)
        if f.has("languages")
        else _languages_of([_as_text(f.values.get("expertise")), name])
    )
    if not languages and not f.has("languages"):
        f.reasons.append("languages: missing")
    data: dict[str, Any] = {
        "name": name,
        "email": email,
        "role": f.text("role", limit=200),
        "company": f.text("company", limit=200),
        "expertise": expertise.topics if expertise else [],
        "expertise_text": expertise.unmapped if expertise else [],
        "years": years,
        "career_stage": (
            f.parsed("career_stage", lambda s: parse_stage(s, rules), 0)
            if f.has("career_stage")
            else _default_stage(years)
        ),
        "languages": languages,
        "capacity": f.parsed("capacity", lambda s: parse_int(s, 0, 20), 1, required=False),
        "availability": f.parsed(
            "availability",
            lambda s: parse_availability(s, rules.availability),
            [],
            sep="; ",
            required=scheduling == "invite",
        ),
        "active": f.parsed("active", _active, True, required=False),
        "linkedin": f.parsed("linkedin", parse_url, "", required=False),
        "booking_url": booking_url,
        "contact_kind": kind,
        "scheduling": scheduling,
        "newsletter": bool(f.parsed("newsletter", parse_bool, False, required=False)),
    }
    if f.reasons:
        return SetAside(source=raw.source, ref=raw.ref, reasons=f.reasons)
    mentor = _build(Mentor, data, f.reasons)
    return mentor if mentor is not None else SetAside(source=raw.source, ref=raw.ref, reasons=f.reasons)


def _scheduling(text: str) -> str:
    s = "_".join(text.split()).casefold().replace("-", "_")
    if s in ("invite", "calendar", "calendar_invite"):
        return "invite"
    if s in ("booking_link", "booking", "link"):
        return "booking_link"
    raise ValueError("must be invite or booking_link")


# the survey's own column names (a local survey file is written with these), then other headings of the same columns
SURVEY_FIELDS = (
    "token",
    "timestamp",
    "satisfaction",
    "met",
    "still_in_touch",
    "adopted_idea",
    "free_text",
    "consent_quote",
)
SURVEY_COLUMNS: dict[str, str] = {
    **{k: k for k in SURVEY_FIELDS},
    "חותמת זמן": "timestamp",
    "still in touch": "still_in_touch",
    "adopted an idea": "adopted_idea",
    "anything else?": "free_text",
    "comments": "free_text",
    "may we quote you?": "consent_quote",
}


def parse_survey_answer(raw: RawResponse, secret: str, tz: str = "Asia/Jerusalem") -> SurveyAnswer | SetAside:
    """Validate one survey answer; its token (from the survey link) says which match and which side."""
    f = _Fields(raw.answers, SURVEY_COLUMNS, 2000)
    ident = f.parsed("token", lambda s: read_survey_token(s.strip(), secret), None)
    if ident is None and f.has("token") and not any(r.startswith("token:") for r in f.reasons):
        f.reasons.append("token: not a valid survey link")
    submitted_at: datetime | None = raw.submitted_at
    if f.has("timestamp"):
        submitted_at = f.parsed("timestamp", lambda s: parse_timestamp(s, tz), None)
    elif submitted_at is None:
        f.reasons.append("timestamp: missing (neither the form nor the source gives one)")

    def yes_no(s: str) -> bool:
        value = parse_bool(s)
        if value is None:
            raise ValueError("missing")
        return value

    data: dict[str, Any] = {
        "match_id": ident[0] if ident else 0,
        "role": ident[1] if ident else "mentee",
        "submitted_at": submitted_at,
        # a partial answer (satisfaction skipped, e.g. by someone who did not meet) is kept, not set aside
        "satisfaction": f.parsed("satisfaction", lambda s: parse_int(s, 1, 5), None, required=False),
        "met": f.parsed("met", yes_no, False),
        "still_in_touch": f.parsed("still_in_touch", yes_no, False),
        "adopted_idea": f.parsed("adopted_idea", yes_no, False),
        "free_text": f.text("free_text"),
        "consent_quote": bool(f.parsed("consent_quote", parse_bool, False, required=False)),
    }
    if f.reasons:
        return SetAside(source=raw.source, ref=raw.ref, reasons=f.reasons)
    answer = _build(SurveyAnswer, data, f.reasons)
    return answer if answer is not None else SetAside(source=raw.source, ref=raw.ref, reasons=f.reasons)

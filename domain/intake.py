"""Turning raw form answers and roster records into validated models, or setting them aside with reasons.

Every field is checked and every problem collected, so the lead sees all of a record's issues at once.
Reasons name the field and the problem, never the person's data (a topic or language name is fine).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, time
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from pydantic import ValidationError

from domain.followup import read_survey_token
from domain.models import (
    MenteeApplication,
    Mentor,
    RawResponse,
    SetAside,
    SurveyAnswer,
    Weekday,
    WeeklyWindow,
    Withdrawal,
)
from domain.rules import ProgramRules

T = TypeVar("T")

# --- small text helpers --------------------------------------------------------------------------------

_HTML_TAG = re.compile(r"<\s*/?\s*[a-zA-Z!][^>]*>")
_SPLIT = re.compile(r"[,;\n]+")


def _norm(title: str) -> str:
    return " ".join(title.split()).casefold()


def _as_text(value: str | list[str] | None, sep: str = ", ") -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return sep.join(str(v).strip() for v in value if str(v).strip())
    return str(value)


def _as_items(value: str | list[str] | None) -> list[str]:
    """A list answer: a real list (JSON, Forms checkboxes) or text joined by ',', ';' or newlines."""
    if value is None:
        return []
    parts = [str(v) for v in value] if isinstance(value, list) else _SPLIT.split(str(value))
    return [p.strip() for p in parts if p.strip()]


def unsafe_text(value: str) -> str | None:
    """Why ``value`` must not be stored (HTML markup or spreadsheet-formula text), or None when it is fine.

    The CSV-injection set is a leading = @ tab or CR, or + / - directly followed by a non-space (so a bullet
    such as "- learn Python" is still fine).
    """
    if value[:1] in ("\t", "\r"):
        return "looks like a spreadsheet formula"
    s = value.strip()
    if s[:1] in ("=", "@") or (s[:1] in ("+", "-") and len(s) > 1 and not s[1].isspace()):
        return "looks like a spreadsheet formula"
    if _HTML_TAG.search(s):
        return "contains HTML markup"
    return None


# --- availability ----------------------------------------------------------------------------------------

_DAYS: dict[str, Weekday] = {}
for _day, _names in {
    Weekday.MON: ("mon", "monday", "שני", "ב"),
    Weekday.TUE: ("tue", "tues", "tuesday", "שלישי", "ג"),
    Weekday.WED: ("wed", "wednesday", "רביעי", "ד"),
    Weekday.THU: ("thu", "thur", "thurs", "thursday", "חמישי", "ה"),
    Weekday.FRI: ("fri", "friday", "שישי", "ו"),
    Weekday.SAT: ("sat", "saturday", "שבת"),
    Weekday.SUN: ("sun", "sunday", "ראשון", "א"),
}.items():
    for _n in _names:
        _DAYS[_n] = _day

_TIME = r"(\d{1,2})(?:[:.](\d{2}))?"
_RANGE = re.compile(rf"^{_TIME}\s*[-–—]\s*{_TIME}$")
_DAY_PREFIX = re.compile(r"^(?:יום\s+)?([^\W\d_]+)['׳\"]?\.?\s*:?\s*(.*)$", re.DOTALL)


def _clock(hour: str, minute: str | None) -> time | None:
    h, m = int(hour), int(minute or 0)
    if h == 24 and m == 0:
        return time(23, 59)  # "until midnight": a window must stay inside its day
    if not (0 <= h <= 23 and 0 <= m <= 59):
        return None
    return time(h, m)


def parse_availability(text: str) -> list[WeeklyWindow]:
    """Weekly windows from text such as "Tue 18:00-20:00; Thu 19-21", "יום שלישי 18-20" or "Sun 9-11, 20-22".

    Windows are separated by ';' or newlines; a ',' separates further time ranges of the same day.
    Raises ValueError saying which piece could not be read (by position, without quoting the answer).
    """
    windows: list[WeeklyWindow] = []
    chunks = [c.strip() for c in re.split(r"[;\n]+", text) if c.strip()]
    for n, chunk in enumerate(chunks, start=1):
        where = f"piece {n} of {len(chunks)}" if len(chunks) > 1 else "the answer"
        head = _DAY_PREFIX.match(chunk)
        if head is None or head.group(1).casefold() not in _DAYS:
            raise ValueError(f"{where} does not start with a day of the week (e.g. 'Tue 18:00-20:00')")
        day = _DAYS[head.group(1).casefold()]
        ranges = [r.strip() for r in head.group(2).split(",") if r.strip()]
        if not ranges:
            raise ValueError(f"{where} has no time range after the day (e.g. 'Tue 18:00-20:00')")
        for rng in ranges:
            m = _RANGE.match(rng)
            if m is None:
                raise ValueError(f"{where} has a time range that is not like 18:00-20:00")
            start, end = _clock(m.group(1), m.group(2)), _clock(m.group(3), m.group(4))
            if start is None or end is None:
                raise ValueError(f"{where} has an hour outside 00:00-24:00")
            if end <= start:
                raise ValueError(f"{where} has a time range that ends before it starts")
            windows.append(WeeklyWindow(day=day, start=start, end=end))
    if not windows:
        raise ValueError("no time window given")
    return sorted(set(windows), key=lambda w: (w.day, w.start, w.end))


# --- other value parsers (each raises ValueError with a message free of personal data) -------------------

_TRUE = {"yes", "y", "true", "1", "on", "checked", "x", "✓", "כן", "agree", "i agree", "מאשר", "מאשרת", "מאשר/ת",
         "מסכים", "מסכימה", "מסכים/ה"}
_FALSE = {"no", "n", "false", "0", "off", "unchecked", "לא", "don't", "do not"}
_AGREE_WORDS = ("agree", "consent", "allow", "yes", "מאשר", "מסכים", "מסכימה", "כן")


def parse_bool(text: str) -> bool | None:
    """A yes/no answer (English, Hebrew, or a checkbox's label); None when empty. ValueError otherwise."""
    s = " ".join(text.split()).casefold().rstrip(".!")
    if not s:
        return None
    if s in _TRUE:
        return True
    if s in _FALSE or s.startswith(("no ", "no,", "לא ")) or " not " in f" {s} ":
        return False
    if any(w in s for w in _AGREE_WORDS):
        return True  # a checked box exports its label, e.g. "I agree to be contacted"
    raise ValueError("not a yes/no answer")


def parse_email(text: str) -> str:
    """A syntactically valid address, normalised to lower case (no DNS lookup)."""
    s = text.strip()
    if not s:
        raise ValueError("missing")
    try:
        return validate_email(s, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValueError("not a valid address") from None


_GMT = re.compile(r"\s*(?:GMT|UTC)\s*([+-])(\d{1,2})(?::?(\d{2}))?\s*$", re.IGNORECASE)
_FORMATS = (
    "%Y/%m/%d %I:%M:%S %p", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %I:%M %p", "%Y/%m/%d %H:%M",
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
    "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M",
    "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M",
)


def parse_timestamp(text: str, tz: str) -> datetime:
    """A form export's timestamp as an aware datetime; naive times are in ``tz``.

    Accepts ISO 8601 and Google Forms' exports ("2026/11/20 10:15:32 AM GMT+2", "11/20/2026 10:15:32").
    Slashed day-first dates ("20/11/2026") are read day-first only when the month-first reading is impossible.
    """
    s = " ".join(text.split())
    if not s:
        raise ValueError("missing")
    offset: str | None = None
    if m := _GMT.search(s):
        sign, hours, minutes = m.groups()
        offset = f"{sign}{int(hours):02d}:{minutes or '00'}"
        s = s[: m.start()]
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(s.replace("Z", "+00:00") if s.endswith("Z") else s)
    except ValueError:
        for fmt in _FORMATS:
            try:
                parsed = datetime.strptime(s, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        raise ValueError("not a date and time this program can read")
    if offset is not None:
        parsed = parsed.replace(tzinfo=datetime.fromisoformat(f"2000-01-01T00:00{offset}").tzinfo)
    elif parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(tz))
    return parsed


# Common names of language codes, so that "Hebrew", "אנגלית" or "English" all work whatever the labels.
_LANGUAGE_NAMES: dict[str, tuple[str, ...]] = {
    "he": ("hebrew", "עברית", "ivrit"),
    "en": ("english", "אנגלית", "אנגלי"),
    "ar": ("arabic", "ערבית", "العربية"),
    "ru": ("russian", "רוסית", "русский"),
    "fr": ("french", "צרפתית", "français"),
    "es": ("spanish", "ספרדית", "español"),
    "am": ("amharic", "אמהרית"),
}


def _language_index(rules: ProgramRules) -> dict[str, str]:
    index: dict[str, str] = {}
    for code, label in rules.languages.items():
        for spelling in (code, label, *_LANGUAGE_NAMES.get(code, ())):
            index[spelling.strip().casefold()] = code
    return index


def _quoted(items: list[str], limit: int = 40) -> str:
    """Unknown choices as the reason names them (bounded, in case someone typed a paragraph)."""
    return ", ".join(repr(i if len(i) <= limit else i[: limit - 1] + "…") for i in items)


def parse_languages(items: list[str], rules: ProgramRules) -> list[str]:
    """Language codes in the given order (codes, labels or common names), duplicates dropped."""
    index = _language_index(rules)
    if not items:
        raise ValueError("missing")
    unknown = [i for i in items if i.casefold() not in index]
    if unknown:
        raise ValueError(f"unknown language {_quoted(unknown)} (known: {', '.join(rules.languages)})")
    return list(dict.fromkeys(index[i.casefold()] for i in items))


def parse_topics(items: list[str], rules: ProgramRules) -> list[str]:
    """Topic keys in ranked order (keys, labels or aliases), duplicates dropped."""
    index = rules.topic_index()
    if not items:
        raise ValueError("missing")
    unknown = [i for i in items if i.casefold() not in index]
    if unknown:
        known = ", ".join(t.key for t in rules.topics)
        noun = "topic" if len(unknown) == 1 else "topics"
        raise ValueError(f"unknown {noun} {_quoted(unknown)} (known: {known})")
    return list(dict.fromkeys(index[i.casefold()] for i in items))


def parse_stage(text: str, rules: ProgramRules) -> int:
    """A career stage: its number ("2", "2 - Mid-level") or one of ``rules.career_stages``' labels."""
    s = text.strip()
    if not s:
        raise ValueError("missing")
    top = min(len(rules.career_stages) - 1, 4)
    if m := re.match(r"^(\d+)\b", s):
        stage = int(m.group(1))
        if stage > top:
            raise ValueError(f"must be 0-{top}")
        return stage
    for i, label in enumerate(rules.career_stages[: top + 1]):
        if label.casefold() == s.casefold():
            return i
    raise ValueError(f"unknown stage (a number 0-{top} or one of: {', '.join(rules.career_stages[: top + 1])})")


def parse_int(text: str, lo: int, hi: int) -> int:
    s = text.strip()
    if not s:
        raise ValueError("missing")
    try:
        value = int(float(s))
    except ValueError:
        raise ValueError("not a whole number") from None
    if not lo <= value <= hi:
        raise ValueError(f"must be {lo}-{hi}")
    return value


def parse_url(text: str) -> str:
    s = text.strip()
    if s and not re.match(r"^https?://[^\s<>\"']+$", s, re.IGNORECASE):
        raise ValueError("not an http(s) link")
    return s


# --- the field collector -------------------------------------------------------------------------------------


class _Fields:
    """Reads mapped answers field by field, collecting reasons instead of raising."""

    def __init__(self, answers: Mapping[str, str | list[str]], columns: Mapping[str, str], max_text: int) -> None:
        mapping = {_norm(title): field for title, field in columns.items()}
        self.values: dict[str, str | list[str]] = {}
        for title, value in answers.items():
            field = mapping.get(_norm(str(title)))
            # Two titles may map to one field (Hebrew and English forms): the first non-empty answer wins.
            if field is not None and (field not in self.values or not _as_text(self.values[field]).strip()):
                self.values[field] = value
        self.reasons: list[str] = []
        self.max_text = max_text

    def has(self, field: str) -> bool:
        return bool(_as_text(self.values.get(field)).strip())

    def _safe(self, field: str, texts: list[str], limit: int) -> bool:
        for t in texts:
            if len(t) > limit:
                self.reasons.append(f"{field}: too long ({len(t)} characters, at most {limit})")
                return False
            if problem := unsafe_text(t):
                self.reasons.append(f"{field}: {problem}")
                return False
        return True

    def text(self, field: str, *, required: bool = False, limit: int | None = None, collapse: bool = False) -> str:
        """A free-text field, checked for length and unsafe content; ``collapse`` folds inner whitespace."""
        raw = self.values.get(field)
        value = _as_text(raw)
        if not value.strip():
            if required:
                self.reasons.append(f"{field}: missing")
            return ""
        pieces = [str(v) for v in raw] if isinstance(raw, list) else [value]
        if not self._safe(field, pieces, limit or self.max_text):
            return ""
        return " ".join(value.split()) if collapse else value.strip()

    def parsed(self, field: str, parse: Callable[[Any], Any], default: Any, *, required: bool = True,
               items: bool = False, sep: str = ", ") -> Any:
        """Run ``parse`` over the field's text (or list of items); record 'field: message' on failure.

        A list answer is joined with ``sep`` when the parser wants text.
        """
        raw = self.values.get(field)
        if not _as_text(raw).strip():
            if required:
                self.reasons.append(f"{field}: missing")
            return default
        pieces = _as_items(raw) if items else [_as_text(raw, sep)]
        if not self._safe(field, pieces, self.max_text):
            return default
        try:
            return parse(pieces if items else pieces[0])
        except ValueError as exc:
            self.reasons.append(f"{field}: {exc}")
            return default


def _build(model: type[T], data: dict[str, Any], reasons: list[str]) -> T | None:
    """Validate ``data`` into ``model``; on failure add 'field: message' reasons (never the input values)."""
    try:
        return model.model_validate(data)  # type: ignore[attr-defined, no-any-return]
    except ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False):
            loc = ".".join(str(p) for p in err["loc"]) or "record"
            reasons.append(f"{loc}: {err['msg']}")
        return None


# --- public parsers ------------------------------------------------------------------------------------------


def parse_mentee(raw: RawResponse, rules: ProgramRules, tz: str = "Asia/Jerusalem") -> MenteeApplication | SetAside:
    """Validate one intake-form answer; every problem found goes into the SetAside's reasons."""
    intake = rules.intake
    f = _Fields(raw.answers, intake.columns, intake.max_text_length)

    submitted_at: datetime | None = raw.submitted_at
    if f.has("timestamp"):
        submitted_at = f.parsed("timestamp", lambda s: parse_timestamp(s, tz), None)
    elif submitted_at is None:
        f.reasons.append("timestamp: missing (neither the form nor the source gives one)")

    consent = f.parsed("consent_contact", parse_bool, None, required=False)
    if consent is not True and not any(r.startswith("consent_contact:") for r in f.reasons):
        f.reasons.append("consent_contact: the form must allow contact")

    data: dict[str, Any] = {
        "response_id": f.text("response_id", limit=200) or f"{raw.source}#{raw.ref}",
        "submitted_at": submitted_at,
        "name": f.text("name", required=True, limit=intake.max_name_length, collapse=True),
        "email": f.parsed("email", parse_email, ""),
        "languages": f.parsed("languages", lambda xs: parse_languages(xs, rules), [], items=True),
        "topics": f.parsed("topics", lambda xs: parse_topics(xs, rules), [], items=True),
        "career_stage": f.parsed("career_stage", lambda s: parse_stage(s, rules), 0),
        "goals": f.text("goals"),
        "availability": f.parsed("availability", parse_availability, [], sep="; "),
        "accessibility_needs": f.text("accessibility_needs"),
        "consent_contact": bool(consent),
        "consent_quote": bool(f.parsed("consent_quote", parse_bool, False, required=False)),
        "continue_with": f.parsed("continue_with", parse_email, None, required=False),
    }
    if f.reasons:
        return SetAside(source=raw.source, ref=raw.ref, reasons=f.reasons)
    app = _build(MenteeApplication, data, f.reasons)
    return app if app is not None else SetAside(source=raw.source, ref=raw.ref, reasons=f.reasons)


def answer_of(raw: RawResponse, rules: ProgramRules, tz: str = "Asia/Jerusalem") -> tuple[str, datetime] | None:
    """Whose answer it is and when it was given (email, time), when both can be read even if the rest cannot."""
    f = _Fields(raw.answers, rules.intake.columns, rules.intake.max_text_length)
    at = f.parsed("timestamp", lambda s: parse_timestamp(s, tz), None) if f.has("timestamp") else raw.submitted_at
    email = f.parsed("email", parse_email, "")
    return (str(email).lower(), at) if email and at is not None else None


def parse_withdrawal(raw: RawResponse, rules: ProgramRules, tz: str = "Asia/Jerusalem") -> Withdrawal | None:
    """An answer that says "do not contact me" with a readable email and time: a withdrawal, else None.

    :func:`parse_mentee` sets such an answer aside (it is no application); this reads what it does mean.
    """
    f = _Fields(raw.answers, rules.intake.columns, rules.intake.max_text_length)
    if f.parsed("consent_contact", parse_bool, None, required=False) is not False:
        return None
    submitted_at = f.parsed("timestamp", lambda s: parse_timestamp(s, tz), None) if f.has("timestamp") else (
        raw.submitted_at)
    email = f.parsed("email", parse_email, "")
    if f.reasons or submitted_at is None or not email:
        return None
    response_id = f.text("response_id", limit=200) or f"{raw.source}#{raw.ref}"
    return Withdrawal(response_id=response_id, submitted_at=submitted_at, email=email)


# Roster records use field names as keys; these are the other titles a mentor form or sheet may use.
MENTOR_COLUMNS: dict[str, str] = {
    **{k: k for k in ("name", "email", "role", "company", "expertise", "years", "career_stage", "languages",
                      "capacity", "availability", "active", "linkedin", "booking_url")},
    "full name": "name", "שם מלא": "name", "email address": "email", "אימייל": "email",
    "current role": "role", "תפקיד": "role", "חברה": "company", "topics": "expertise", "תחומי מומחיות": "expertise",
    "years of experience": "years", "שנות ניסיון": "years", "career stage": "career_stage",
    "preferred languages": "languages", "שפות": "languages", "mentees at once": "capacity",
    "weekly availability": "availability", "זמינות שבועית": "availability", "status": "active",
    "booking link": "booking_url", "booking url": "booking_url",
}

_ACTIVE = {"active": True, "available": True, "פעיל": True, "פעילה": True, "זמין": True, "זמינה": True,
           "paused": False, "unavailable": False, "inactive": False, "מושהה": False, "לא זמין": False}


def _active(text: str) -> bool:
    s = " ".join(text.split()).casefold()
    if s in _ACTIVE:
        return _ACTIVE[s]
    value = parse_bool(s)
    if value is None:
        raise ValueError("missing")
    return value


def _default_stage(years: int) -> int:
    return 1 if years < 2 else 2 if years < 5 else 3 if years < 10 else 4


def parse_mentor(raw: RawResponse, rules: ProgramRules) -> Mentor | SetAside:
    """Validate one roster record; capacity defaults to 1, active to True, career stage to one from years."""
    f = _Fields(raw.answers, MENTOR_COLUMNS, rules.intake.max_text_length)
    years = f.parsed("years", lambda s: parse_int(s, 0, 70), 0)
    data: dict[str, Any] = {
        "name": f.text("name", required=True, limit=rules.intake.max_name_length, collapse=True),
        "email": f.parsed("email", parse_email, ""),
        "role": f.text("role", limit=200),
        "company": f.text("company", limit=200),
        "expertise": f.parsed("expertise", lambda xs: parse_topics(xs, rules), [], items=True),
        "years": years,
        "career_stage": (f.parsed("career_stage", lambda s: parse_stage(s, rules), 0) if f.has("career_stage")
                         else _default_stage(years)),
        "languages": f.parsed("languages", lambda xs: parse_languages(xs, rules), [], items=True),
        "capacity": f.parsed("capacity", lambda s: parse_int(s, 0, 20), 1, required=False),
        "availability": f.parsed("availability", parse_availability, [], sep="; "),
        "active": f.parsed("active", _active, True, required=False),
        "linkedin": f.parsed("linkedin", parse_url, "", required=False),
        "booking_url": f.parsed("booking_url", parse_url, "", required=False),
    }
    if f.reasons:
        return SetAside(source=raw.source, ref=raw.ref, reasons=f.reasons)
    mentor = _build(Mentor, data, f.reasons)
    return mentor if mentor is not None else SetAside(source=raw.source, ref=raw.ref, reasons=f.reasons)


SURVEY_COLUMNS: dict[str, str] = {
    **{k: k for k in ("token", "timestamp", "satisfaction", "met", "still_in_touch", "adopted_idea", "free_text",
                      "consent_quote")},
    "חותמת זמן": "timestamp", "still in touch": "still_in_touch", "adopted an idea": "adopted_idea",
    "anything else?": "free_text", "comments": "free_text", "may we quote you?": "consent_quote",
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
        "satisfaction": f.parsed("satisfaction", lambda s: parse_int(s, 1, 5), 1),
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

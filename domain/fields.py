"""The one set of field parsers: intake, the roster and ``mentorflow match`` read every field through these.

Each parser raises ValueError with a message that names the problem, never the person's text (at most a
position, e.g. "item 2 of 3"). Text is checked for what it is — length, control characters, a name with
nothing visible in it — and escaped where it is written (``spreadsheet_cell`` for CSV); ``<`` or a leading
``+`` in an answer is not a problem.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email
from pydantic import ValidationError

from domain.memo import PerObject
from domain.models import PARSED_EMAILS, WEEKDAY_NAMES, Weekday, WeeklyWindow
from domain.rules import AvailabilityRules, ProgramRules, SchedulingRules
from domain.topics import TopicMapper, hebrew_forms, normalize

# --- validation errors ------------------------------------------------------------------------------------------


def format_errors(exc: ValidationError) -> list[str]:
    """'field: message' per pydantic error, never the input value (it may be personal data)."""
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        out.append(msg if not loc and ":" in msg else f"{loc or 'record'}: {msg}")
    return out


# --- lists and text ---------------------------------------------------------------------------------------------

_SPLIT = re.compile(r"[,;\n]+")


def split_items(value: str | Sequence[str] | None) -> list[str]:
    """A list answer: a real list (JSON, Forms checkboxes) or text joined by ',', ';' or newlines."""
    if value is None:
        return []
    parts = [str(v) for v in value] if not isinstance(value, str) else _SPLIT.split(value)
    return [p.strip() for p in parts if p.strip()]


# Unicode's control characters (category Cc) except tab, newline and carriage return, which answers use.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def text_problem(value: str, limit: int, *, name: bool = False) -> str | None:
    """What is wrong with a free-text answer (too long, control characters, nothing visible), or None."""
    if len(value) > limit:
        return f"too long ({len(value)} characters, at most {limit})"
    if _CONTROL.search(value):
        return "contains control characters"
    if (
        name
        and value.strip()
        and not any(not c.isspace() and unicodedata.category(c) not in ("Cf", "Mn", "Me") for c in value)
    ):
        return "has no visible characters"
    return None


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: str) -> str:
    """A CSV cell a spreadsheet will show as text: a leading = + - @ tab or CR gets an apostrophe in front."""
    return "'" + value if value.startswith(_FORMULA_START) else value


# --- yes/no, email, numbers, links ------------------------------------------------------------------------------

_TRUE = {
    "yes",
    "y",
    "true",
    "1",
    "on",
    "checked",
    "x",
    "✓",
    "כן",
    "agree",
    "i agree",
    "מאשר",
    "מאשרת",
    "מאשר/ת",
    "מסכים",
    "מסכימה",
    "מסכים/ה",
    "active",
    "available",
    "פעיל",
    "פעילה",
    "זמין",
    "זמינה",
}
_FALSE = {
    "no",
    "n",
    "false",
    "0",
    "off",
    "unchecked",
    "לא",
    "don't",
    "do not",
    "paused",
    "unavailable",
    "inactive",
    "מושהה",
    "לא זמין",
    "לא זמינה",
}
_AGREE_WORDS = ("agree", "consent", "allow", "yes", "מאשר", "מסכים", "מסכימה", "כן")


def parse_bool(text: str) -> bool | None:
    """A yes/no answer (English, Hebrew, a checkbox's label, a roster status word); None when empty."""
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
    s = text.strip().removeprefix("mailto:")
    if not s:
        raise ValueError("missing")
    try:
        return validate_email(s, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise ValueError("not a valid address") from None


def parsed_emails(*emails: str | None) -> dict[str, frozenset[str]]:
    """The validation context that spares a model a second check of addresses :func:`parse_email` returned
    (``domain.models.Email``): only ASCII ones, which the model's ``EmailStr`` would return unchanged."""
    return {PARSED_EMAILS: frozenset(e for e in emails if e and e.isascii())}


def parse_int(text: str, lo: int, hi: int) -> int:
    """A whole number within ``lo``–``hi``."""
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
    """An http(s) link, or '' when empty."""
    s = text.strip()
    if s and not re.match(r"^https?://[^\s<>\"']+$", s, re.IGNORECASE):
        raise ValueError("not an http(s) link")
    return s


# --- dates ------------------------------------------------------------------------------------------------------

_GMT = re.compile(r"\s*(?:GMT|UTC)\s*([+-])(\d{1,2})(?::?(\d{2}))?\s*$", re.IGNORECASE)
_YEAR_FIRST = (
    "%Y/%m/%d %I:%M:%S %p",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %I:%M %p",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
)
_MONTH_FIRST = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M")
_DAY_FIRST = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M")
FUTURE_TOLERANCE = timedelta(minutes=10)  # clocks of form services and this machine may differ a little


def parse_timestamp(text: str, tz: str, *, day_first: bool = False, now: datetime | None = None) -> datetime:
    """A form export's timestamp as an aware datetime; naive times are in ``tz``.

    Accepts ISO 8601 and Google Forms' exports ("2026/11/20 10:15:32 AM GMT+2", "11/20/2026 10:15:32").
    Slashed dates are read day-first when ``day_first`` (a Hebrew form's export) or when the month-first reading
    is impossible. With ``now``, a time in the future (beyond a few minutes) is an error.
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
        slashed = (_DAY_FIRST + _MONTH_FIRST) if day_first else (_MONTH_FIRST + _DAY_FIRST)
        for fmt in _YEAR_FIRST + slashed:
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
    if now is not None and parsed > now + FUTURE_TOLERANCE:
        raise ValueError("in the future (a wrong clock or a mistyped date)")
    return parsed


# --- languages --------------------------------------------------------------------------------------------------

# The one language table: code → English name, Hebrew name, other spellings people write.
LANGUAGES: dict[str, tuple[str, ...]] = {
    "he": ("Hebrew", "עברית", "ivrit"),
    "en": ("English", "אנגלית", "אנגלי"),
    "ar": ("Arabic", "ערבית", "العربية"),
    "ru": ("Russian", "רוסית", "русский"),
    "fr": ("French", "צרפתית", "français"),
    "es": ("Spanish", "ספרדית", "español"),
    "am": ("Amharic", "אמהרית"),
    "de": ("German", "גרמנית", "deutsch"),
    "uk": ("Ukrainian", "אוקראינית", "українська"),
    "yi": ("Yiddish", "יידיש"),
}


def language_index(rules: ProgramRules) -> Mapping[str, str]:
    """Every accepted spelling (code, the program's label, common names; case-folded) → code; built once per
    set of rules (the rules are immutable; it was rebuilt for every answer read).

    Languages of the table beyond the program's own are accepted too: an Arabic speaker waits for a mentor
    who speaks Arabic ("no active mentor speaks Arabic") rather than being set aside.
    """
    return _language_indexes(rules)


def _language_index(rules: ProgramRules) -> dict[str, str]:
    index: dict[str, str] = {}
    for code, names in LANGUAGES.items():
        for spelling in (code, *names):
            index[spelling.strip().casefold()] = code
    for code, label in rules.languages.items():
        for spelling in (code, label):
            index[spelling.strip().casefold()] = code
    return index


_language_indexes: PerObject[ProgramRules, Mapping[str, str]] = PerObject(
    lambda rules: MappingProxyType(_language_index(rules))
)


def _which(bad: list[int], total: int) -> str:
    where = ", ".join(str(i) for i in bad[:5]) + (", …" if len(bad) > 5 else "")
    return f"item {where} of {total}" if total > 1 else "the answer"


def parse_languages(items: list[str], rules: ProgramRules) -> list[str]:
    """Language codes in the given order (codes, labels or common names), duplicates dropped."""
    index = language_index(rules)
    if not items:
        raise ValueError("missing")
    bad = [n for n, i in enumerate(items, start=1) if i.strip().casefold() not in index]
    if bad:
        raise ValueError(
            f"{_which(bad, len(items))}: not a language this program knows (e.g. {', '.join(rules.languages)})"
        )
    return list(dict.fromkeys(index[i.strip().casefold()] for i in items))


# --- topics and stages ------------------------------------------------------------------------------------------


def parse_topics(items: list[str], mapper: TopicMapper) -> list[str]:
    """Topic keys in ranked order, each item read as a topic (key, label, alias, spelling variant).

    For a mentee's ranked choices every item must name a topic; a mentor's free text goes through
    ``TopicMapper.map_line`` instead, which keeps what maps to nothing.
    """
    if not items:
        raise ValueError("missing")
    found = [mapper.map_phrase(i) for i in items]
    bad = [n for n, keys in enumerate(found, start=1) if not keys]
    if bad:
        raise ValueError(f"{_which(bad, len(items))}: not a topic of the program (see the topic list in the form)")
    return list(dict.fromkeys(k for keys in found for k in keys))


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


# --- availability -----------------------------------------------------------------------------------------------

DAYS: dict[str, Weekday] = {n.casefold(): day for day, names in WEEKDAY_NAMES.items() for n in names}
_WORD_DAYS = {k: v for k, v in DAYS.items() if len(k) > 1}  # single Hebrew letters only in structured answers
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


def _structured(chunk: str, where: str) -> list[WeeklyWindow]:
    """'Tue 18:00-20:00' or 'ראשון 9-11, 20:30-22': a day, then time ranges separated by ','."""
    head = _DAY_PREFIX.match(chunk)
    if head is None or head.group(1).casefold() not in DAYS:
        raise ValueError(f"{where} does not start with a day of the week (e.g. 'Tue 18:00-20:00')")
    day = DAYS[head.group(1).casefold()]
    ranges = [r.strip() for r in head.group(2).split(",") if r.strip()]
    if not ranges:
        raise ValueError(f"{where} has no time range after the day (e.g. 'Tue 18:00-20:00')")
    out = []
    for rng in ranges:
        m = _RANGE.match(rng)
        if m is None:
            raise ValueError(f"{where} has a time range that is not like 18:00-20:00")
        start, end = _clock(m.group(1), m.group(2)), _clock(m.group(3), m.group(4))
        if start is None or end is None:
            raise ValueError(f"{where} has an hour outside 00:00-24:00")
        if end <= start:
            raise ValueError(f"{where} has a time range that ends before it starts")
        out.append(WeeklyWindow(day=day, start=start, end=end))
    return out


# Free text: "weekday evenings", "כל ערב", "Sun–Thu 18–21", "ימי שלישי בערב", "mornings before 9".
# Without a day, an answer means the program's weekdays (Sunday–Thursday by default).
_WEEKEND_WORDS = ("weekend", "weekends", 'סופ"ש', "סופש", "סוף שבוע", "סופי שבוע")
_DAY_RANGE = re.compile(r"([a-zא-ת]+'?)\s*(?:-|to|until|through|עד)\s*([a-zא-ת]+'?)")
_HOUR = r"(\d{1,2})(?:[:.](\d{2}))?\s*(am|pm)?"
_TIME_RANGE = re.compile(rf"{_HOUR}\s*(?:-|to|until|till|and|עד|ל-?)\s*{_HOUR}")
_BEFORE = re.compile(rf"(?:before|until|till|by|לפני|עד)\s*-?\s*{_HOUR}")
_AFTER = re.compile(rf"(?:after|from|since|אחרי|החל מ-?|מ-?)\s*-?\s*{_HOUR}")
_TIME_WORDS = {
    "before",
    "until",
    "till",
    "by",
    "after",
    "from",
    "since",
    "between",
    "at",
    "לפני",
    "עד",
    "אחרי",
    "בין",
    "מ",
    "החל",
}
_UNKNOWN_DAY = re.compile(r"^([^\W\d_]+)\.?\s*:?\s*\d")


def _day(word: str) -> Weekday | None:
    """The day a word names, also with Hebrew prefixes ("ובחמישי") or a geresh ("ה׳")."""
    return next((DAYS[f] for f in hebrew_forms(word) if f in DAYS), None)


def _hour(h: str, m: str | None, ampm: str | None, pm_hint: bool) -> time | None:
    hour = int(h)
    if (ampm == "pm" and hour < 12) or (ampm is None and pm_hint and 1 <= hour < 12):
        hour += 12
    if ampm == "am" and hour == 12:
        hour = 0
    return _clock(str(hour), m)


def _free_days(s: str, words: list[str], rules: AvailabilityRules) -> list[Weekday] | None:
    for m in _DAY_RANGE.finditer(s):
        lo, hi = _day(m[1]), _day(m[2])
        if lo is not None and hi is not None:
            order = [Weekday.SUN, *(Weekday(d) for d in range(1, 7))]  # the Israeli week starts on Sunday
            a, b = order.index(lo), order.index(hi)
            return order[a : b + 1] if a <= b else order[a:] + order[: b + 1]
    named = [d for w in words if len(w.rstrip("'")) > 1 and (d := _day(w)) is not None]
    if named:
        return list(dict.fromkeys(named))
    if any(w in s for w in _WEEKEND_WORDS):
        return [Weekday.FRI, Weekday.SAT]
    return None


def _free_chunk(chunk: str, rules: AvailabilityRules) -> list[WeeklyWindow] | None:
    """Windows from one free-text piece, or None when it names neither a part of day nor a time."""
    s = normalize(chunk)
    words = re.findall(r"[a-zא-ת\"']+", s)
    forms = {v for w in words for v in hebrew_forms(w)}
    part = next(
        (
            p
            for p in rules.parts_of_day.values()  # one-word names by form, longer ones as written
            if any(hebrew_forms(normalize(n))[0] in forms or (" " in n and normalize(n) in s) for n in p.names)
        ),
        None,
    )
    pm_hint = part is not None and part.bounds[0].hour >= 12
    span = rules.open_hours * 60
    lo: time | None = None
    hi: time | None = None
    if m := _TIME_RANGE.search(s):
        lo, hi = _hour(m[1], m[2], m[3] or m[6], pm_hint), _hour(m[4], m[5], m[6], pm_hint)
    elif m := _BEFORE.search(s):
        hi = _hour(m[1], m[2], m[3], pm_hint)
        if hi is not None:  # "mornings before 9": from the part's start, or a few hours before
            lo = _at(_minutes(hi) - span)
            lo = min(part.bounds[0], lo) if part and part.bounds[0] < hi else lo
    elif m := _AFTER.search(s):
        lo = _hour(m[1], m[2], m[3], pm_hint)
        if lo is not None:  # "evenings after 8": to the part's end, or a few hours after
            hi = part.bounds[1] if part and part.bounds[1] > lo else _at(_minutes(lo) + span)
    elif part is not None:
        lo, hi = part.bounds
    else:
        return None
    if lo is None or hi is None or hi <= lo:
        raise ValueError("has a time range that is not a time of day (e.g. 18-21, or 'evenings')")
    days = _free_days(s, words, rules) or list(rules.weekdays)
    return [WeeklyWindow(day=d, start=lo, end=hi) for d in days]


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _at(minutes: int) -> time:
    """The time of day ``minutes`` after midnight, kept inside the day."""
    m = min(max(minutes, 0), 23 * 60 + 59)
    return time(m // 60, m % 60)


DEFAULT_AVAILABILITY: AvailabilityRules = ProgramRules.model_fields["availability"].default


def parse_availability(text: str, rules: AvailabilityRules | None = None) -> list[WeeklyWindow]:
    """Weekly windows from "Tue 18:00-20:00; Thu 19-21", "יום שלישי 18-20", or free text such as "weekday
    evenings", "כל ערב", "Sun–Thu 18–21" or "mornings before 9" (parts of day and weekdays from ``rules``).

    Pieces are separated by ';' or newlines; in a structured piece a ',' separates further time ranges of the
    same day. Raises ValueError saying which piece could not be read (by position, without quoting the answer).
    """
    rules = rules or DEFAULT_AVAILABILITY
    part_names = {n.casefold() for p in rules.parts_of_day.values() for n in p.names}
    windows: list[WeeklyWindow] = []
    chunks = [c.strip() for c in re.split(r"[;\n]+", text) if c.strip()]
    for n, chunk in enumerate(chunks, start=1):
        where = f"piece {n} of {len(chunks)}" if len(chunks) > 1 else "the answer"
        try:
            windows += _structured(chunk, where)
            continue
        except ValueError as exc:
            structured = exc
        no_day = str(structured).startswith(f"{where} does not start with a day")
        head = _UNKNOWN_DAY.match(normalize(chunk))
        if no_day and head is not None and head[1] not in part_names | _TIME_WORDS:
            raise structured  # "Funday 9-10": a day this program does not know, not free text
        try:
            free = _free_chunk(chunk, rules)
        except ValueError as exc:
            raise (structured if not no_day else ValueError(f"{where} {exc}")) from None
        if free is None:
            if not no_day:
                raise structured
            raise ValueError(
                f"{where} names no day, part of day or time (e.g. 'Tue 18:00-20:00' or 'weekday evenings')"
            )
        windows += free
    if not windows:
        raise ValueError("no time window given")
    return sorted(set(windows), key=lambda w: (w.day, w.start, w.end))


def meetable_problem(windows: list[WeeklyWindow], rules: SchedulingRules) -> str | None:
    """Why no meeting could ever be placed in these windows (Shabbat only, too short), or None.

    Saturday is closed and Friday meetings end by ``rules.eve_cutoff``, as in ``domain.scheduling``.
    """
    need = rules.meeting_minutes
    usable = []
    for w in windows:
        if w.day == Weekday.SAT:
            continue
        end = min(w.end, rules.eve_cutoff) if w.day == Weekday.FRI else w.end
        if end > w.start:
            usable.append((end.hour * 60 + end.minute) - (w.start.hour * 60 + w.start.minute))
    if not usable:
        return "only on Shabbat (Friday evening or Saturday), when no meetings are held"
    if max(usable) < need:
        return f"no window is long enough for a {need}-minute meeting"
    return None

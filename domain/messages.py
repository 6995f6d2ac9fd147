"""Every program message, rendered from Jinja2 templates as (subject, text, html).

Templates live in ``config/templates/``: ``<kind>.<lang>.txt.j2`` holds the ``subject`` and ``body`` blocks of
the plain-text part, ``<kind>.<lang>.html.j2`` the HTML part (autoescaped). Hebrew is the default language;
names, emails and URLs inside text are isolated as left-to-right runs (``<bdi>`` in HTML, U+2068/U+2069 in
text). Rendering is pure: every date and link comes in as an argument.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from domain.matching.explain import match_reasons
from domain.models import HE_WEEKDAYS, DigestIssue, Match, Meeting, MenteeApplication, Mentor, Role
from domain.report import ReportDoc
from domain.rules import ProgramRules
from domain.selfservice import FixNote, SelfServiceLink

LANGUAGES = ("he", "en")


class Rendered(NamedTuple):
    subject: str
    text: str
    html: str


def isolate(value: object) -> str:
    """Wrap a left-to-right run (name, email, URL) in Unicode first-strong isolates for plain text."""
    return f"\u2068{value}\u2069"


def safe_url(value: object) -> str:
    """The URL if it is http(s), else an empty string (no ``javascript:`` links in our mail)."""
    s = str(value).strip()
    return s if s.lower().startswith(("https://", "http://")) else ""


def pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}%"


def template_env(directory: Path | None = None) -> Environment:
    """The Jinja2 environment of the program's templates; build it once and pass it to the render functions."""
    if directory is None:
        from config import TEMPLATES_DIR

        directory = TEMPLATES_DIR
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # The templates ship with the code and are loaded once per process, like it: no file check per message.
        auto_reload=False,
    )
    env.filters.update(isolate=isolate, safe_url=safe_url, pct=pct)
    return env


def pick_language(preferred: Iterable[str], default: str = "he") -> str:
    """The first of the person's languages that has templates, else ``default``."""
    return next((code for code in preferred if code in LANGUAGES), default if default in LANGUAGES else "he")


def when(start: datetime, end: datetime, tz: str, language: str) -> str:
    """A meeting's time in the program's time zone, e.g. "יום שלישי, 24.11.2026, 18:00–19:00 (שעון ישראל)"."""
    zone = ZoneInfo(tz)
    s, e = start.astimezone(zone), end.astimezone(zone)
    if language == "he":
        zone_label = "שעון ישראל" if tz == "Asia/Jerusalem" else tz
        return f"{HE_WEEKDAYS[s.weekday()]}, {s:%d.%m.%Y}, {s:%H:%M}–{e:%H:%M} ({zone_label})"
    return f"{s:%A}, {s.day} {s:%B %Y}, {s:%H:%M}–{e:%H:%M} ({tz})"


def _render(env: Environment, kind: str, language: str, context: dict[str, Any]) -> Rendered:
    language = language if language in LANGUAGES else "he"
    context = {"lang": language, "dir": "rtl" if language == "he" else "ltr", **context}
    text_tmpl = env.get_template(f"{kind}.{language}.txt.j2")
    ctx = text_tmpl.new_context(context)
    subject = " ".join("".join(text_tmpl.blocks["subject"](ctx)).split())
    text = "".join(text_tmpl.blocks["body"](text_tmpl.new_context(context))).strip() + "\n"
    html = env.get_template(f"{kind}.{language}.html.j2").render(context)
    return Rendered(subject=subject, text=text, html=html)


# --- invitations ---------------------------------------------------------------------------------------------


def render_invitation(
    env: Environment,
    *,
    role: Role,
    meeting: Meeting,
    match: Match,
    application: MenteeApplication,
    mentor: Mentor,
    rules: ProgramRules,
    tz: str,
    language: str | None = None,
    nudge: bool = False,
    links: Sequence[SelfServiceLink] = (),
) -> Rendered:
    """The first-meeting invitation to one side (``role``): who, when (local time), video link, accessibility
    needs, why this match, and the mentor's booking link. Language: the recipient's first supported one.

    For a mentor who takes bookings by link (template ``booking``) there is no time: the mentee is asked to
    book through the link, the mentor is told who will book; ``nudge`` renders the mentee's one reminder.
    """
    if language is None:
        preferred = application.languages if role is Role.MENTEE else mentor.languages
        language = pick_language(preferred, rules.digest.language)
    context: dict[str, Any] = {
        "program": rules.name_in(language),
        "role": role.value,
        "mentee": {
            "name": application.name,
            "email": str(application.email),
            "topics": [rules.topic_label(t, language) for t in application.topics],
            "stage": rules.career_stages[application.career_stage]
            if application.career_stage < len(rules.career_stages)
            else str(application.career_stage),
            "goals": application.goals,
        },
        "mentor": {
            "name": mentor.name,
            "email": str(mentor.email or ""),
            "role": mentor.role,
            "company": mentor.company,
            "linkedin": safe_url(mentor.linkedin),
            "booking_url": safe_url(mentor.booking_url),
        },
        "booking": mentor.scheduling == "booking_link",
        "when": when(meeting.start, meeting.end, tz, language),
        "video_link": safe_url(meeting.video_link),
        "mode": meeting.mode,
        "accessibility_needs": meeting.accessibility_needs or application.accessibility_needs,
        "reasons": invitation_reasons(match, application, mentor, rules, language),
    }
    context["nudge"] = nudge
    context["links"] = [link.model_dump() for link in links]
    return _render(env, "booking" if context["booking"] else "invitation", language, context)


def invitation_reasons(
    match: Match, application: MenteeApplication, mentor: Mentor, rules: ProgramRules, language: str
) -> list[str]:
    """Why this match, in the mail's language (the stored reasons are the lead's English ones)."""
    wanted = application.continue_with
    continuity = wanted is not None and str(wanted).casefold() == mentor.key
    return match_reasons(rules, application, mentor, list(match.shared_windows), continuity, language)


# --- surveys -------------------------------------------------------------------------------------------------


def survey_url(rules: ProgramRules, token: str) -> str:
    """Where a survey is answered: the rules' template with the token filled in."""
    return rules.followup.survey_url_template.format(token=token)


def render_survey(
    env: Environment,
    *,
    kind: Literal["survey", "reminder"],
    role: Role,
    name: str,
    other_name: str,
    meeting_start: datetime,
    token: str,
    rules: ProgramRules,
    tz: str,
    language: str = "he",
    links: Sequence[SelfServiceLink] = (),
) -> Rendered:
    """The short follow-up survey invitation (or its one reminder) to one side of a match, with that side's
    self-service links."""
    context = {
        "program": rules.name_in(language),
        "reminder": kind == "reminder",
        "role": role.value,
        "name": name,
        "other_name": other_name,
        "meeting_date": _day(meeting_start, tz, language),
        "survey_url": safe_url(survey_url(rules, token)),
        "links": [link.model_dump() for link in links],
    }
    return _render(env, "survey", language, context)


def render_ended(
    env: Environment,
    *,
    role: Role,
    name: str,
    other_name: str,
    meeting_start: datetime | None,
    rules: ProgramRules,
    tz: str,
    language: str = "he",
    links: Sequence[SelfServiceLink] = (),
) -> Rendered:
    """To one side of a match that ended: the meeting is cancelled; the mentee will be matched again. With that
    side's self-service ``links`` (withdraw or pause; a mentor's pause or capacity)."""
    context = {
        "program": rules.name_in(language),
        "role": role.value,
        "name": name,
        "other_name": other_name,
        "meeting_date": _day(meeting_start, tz, language) if meeting_start is not None else "",
        "links": [link.model_dump() for link in links],
    }
    return _render(env, "ended", language, context)


# --- mentees and mentors know where they stand -----------------------------------------------------------------


def render_ack(
    env: Environment,
    *,
    name: str,
    wait_days: int | None,
    links: Sequence[SelfServiceLink],
    rules: ProgramRules,
    language: str = "he",
) -> Rendered:
    """The acknowledgment of an application: received, what happens next, the usual wait (when the program has
    a history), and the self-service links (withdraw, pause)."""
    context = {
        "program": rules.name_in(language),
        "role": "mentee",
        "name": name,
        "wait_days": wait_days,
        "links": [link.model_dump() for link in links],
    }
    return _render(env, "ack", language, context)


def render_fixit(env: Environment, note: FixNote, rules: ProgramRules) -> Rendered:
    """What to fix in an answer that was set aside, in plain words per field, with the form's link."""
    context = {
        "program": rules.name_in(note.language),
        "name": note.name,
        "fields": note.fields,
        "form_url": safe_url(rules.self_service.form_url),
    }
    return _render(env, "fixit", note.language, context)


def render_self_service(
    env: Environment,
    *,
    role: Role,
    action: str,
    name: str,
    until: date | None,
    capacity: int | None,
    rules: ProgramRules,
    language: str = "he",
) -> Rendered:
    """The confirmation of a self-service action (withdrawn, paused until, capacity, could not reach)."""
    context = {
        "program": rules.name_in(language),
        "role": role.value,
        "action": action,
        "name": name,
        "until": "" if until is None else (f"{until:%d.%m.%Y}" if language == "he" else f"{until.day} {until:%B %Y}"),
        "capacity": capacity,
    }
    return _render(env, "selfservice", language, context)


def _day(instant: datetime, tz: str, language: str) -> str:
    d = instant.astimezone(ZoneInfo(tz))
    return f"{HE_WEEKDAYS[d.weekday()]} {d:%d.%m.%Y}" if language == "he" else f"{d:%A} {d.day} {d:%B %Y}"


# --- digest --------------------------------------------------------------------------------------------------


def render_digest(
    env: Environment, issue: DigestIssue, rules: ProgramRules, unsubscribe_url: str = "", erase_url: str = ""
) -> Rendered:
    """The newsletter issue, key points first, in ``issue.language``; with the reader's one-click unsubscribe
    link and their "erase my data" link at the end when given."""
    return _render(
        env,
        "digest",
        issue.language,
        {
            "program": rules.name_in(issue.language),
            "issue": issue,
            "start": issue.period_start.strftime("%d.%m.%Y"),
            "end": issue.period_end.strftime("%d.%m.%Y"),
            "unsubscribe_url": unsubscribe_url,
            "erase_url": erase_url,
        },
    )


# --- the lead's weekly report --------------------------------------------------------------------------------


def render_lead_report(env: Environment, doc: ReportDoc, program: str) -> Rendered:
    """The lead's weekly report (built by :func:`domain.report.build_report`) as email, in its language."""
    return _render(env, "report", doc.language, {"program": program, "doc": doc})

"""The newsletter digest: what happened in a period, as a DigestIssue (rendering is in domain.messages)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.followup import survey_summary
from domain.models import DigestIssue, SurveyAnswer
from domain.rules import ProgramRules

MAX_QUOTES = 3
MAX_QUOTE_LENGTH = 280


def digest_period(
    now: datetime, last_end: datetime | None, period_days: int, tz: str
) -> tuple[datetime, datetime] | None:
    """The next complete period ending at today's local midnight, or None while it is not complete yet."""
    zone = ZoneInfo(tz)
    end = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    start = last_end.astimezone(zone) if last_end else end - timedelta(days=period_days)
    if end - start < timedelta(days=period_days):
        return None
    return start, end


def issue_period(
    now: datetime,
    last_end: datetime | None,
    waiting: tuple[datetime, datetime] | None,
    period_days: int,
    tz: str,
) -> tuple[datetime, datetime] | None:
    """The period of the issue to deal with now. An issue previewed earlier and still waiting for its release (the
    lead's approval, or the end of its quiet period) comes first: composing a longer one each week instead would
    replace the preview the lead approved, and restart the quiet period for ever. Else the next complete period."""
    if waiting is not None and (last_end is None or waiting[0] >= last_end):
        return waiting
    return digest_period(now, last_end, period_days, tz)


def display_name(full_name: str) -> str:
    """The first name only: enough to welcome someone in a public newsletter."""
    parts = full_name.split()
    return parts[0] if parts else ""


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_QUOTE_LENGTH else text[: MAX_QUOTE_LENGTH - 1].rstrip() + "…"


def build_digest(
    *,
    period_start: date,
    period_end: date,
    language: str,
    new_mentor_names: Iterable[str],
    matches_made: int,
    meetings_held: int,
    answers: Iterable[SurveyAnswer],
    requested_topics: Iterable[list[str]],
    waiting_topics: Iterable[list[str]],
    mentor_expertise: Iterable[list[str]],
    rules: ProgramRules,
) -> DigestIssue:
    """Assemble a digest issue.

    ``requested_topics``: each mentee request of the period (topic keys) → the top topics.
    ``waiting_topics``: each waiting mentee's topics; ``mentor_expertise``: each active mentor's topics.
    A topic is in demand (a call for mentors) when at least ``call_for_mentors_min_waiting`` mentees wait
    for it and they outnumber the active mentors who cover it. Quotes come only from answers with
    ``consent_quote``; mentors are welcomed by first name.
    """
    items = sorted(answers, key=lambda a: (a.submitted_at, a.match_id, a.role.value))
    summary = survey_summary(items)
    label = lambda key: rules.topic_label(key, language)  # noqa: E731

    requested = Counter(t for topics in requested_topics for t in dict.fromkeys(topics))
    waiting = Counter(t for topics in waiting_topics for t in dict.fromkeys(topics))
    covered = Counter(t for topics in mentor_expertise for t in dict.fromkeys(topics))
    min_waiting = rules.digest.call_for_mentors_min_waiting
    in_demand = sorted(
        ((t, n) for t, n in waiting.items() if n >= min_waiting and n > covered[t]),
        key=lambda tn: (-tn[1], covered[tn[0]], tn[0]),
    )
    top = sorted(requested.items(), key=lambda tn: (-tn[1], tn[0]))[: rules.digest.top_topics]
    # The same words from two people are one quote.
    quotes = list(dict.fromkeys(_quote(a.free_text) for a in items if a.consent_quote and a.free_text.strip()))
    quotes = quotes[:MAX_QUOTES]

    def _float(key: str) -> float | None:
        value = summary[key]
        return None if value is None else float(value)

    return DigestIssue(
        period_start=period_start,
        period_end=period_end,
        language=language,
        new_mentors=[n for n in (display_name(x) for x in new_mentor_names) if n],
        matches_made=matches_made,
        meetings_held=meetings_held,
        answers=len(items),
        satisfaction_avg=_float("satisfaction_avg"),
        satisfied_pct=_float("satisfied_pct"),
        in_touch_pct=_float("in_touch_pct"),
        adopted_pct=_float("adopted_pct"),
        topics_in_demand=[(label(t), n) for t, n in in_demand],
        top_topics=[(label(t), n) for t, n in top],
        quotes=quotes,
    )

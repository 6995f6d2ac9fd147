"""Follow-up after the first meeting: survey links, what is due when, flags for the lead, the indicators."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from domain.models import AwareDatetime, FollowupFlag, Frozen, Meeting, Role, SurveyAnswer
from domain.rules import FollowupRules

# --- survey tokens -------------------------------------------------------------------------------------------

_ROLE_CODE = {Role.MENTEE: "e", Role.MENTOR: "r"}
_CODE_ROLE = {v: k for k, v in _ROLE_CODE.items()}
_TOKEN = re.compile(r"^(\d{1,12})\.([er])\.([A-Za-z0-9_-]{16})$")


def _signature(match_id: int, role: Role, secret: str) -> str:
    mac = hmac.new(secret.encode(), f"mentorflow-survey:{match_id}:{role.value}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:12]).decode()


def survey_token(match_id: int, role: Role, secret: str) -> str:
    """A short URL-safe token naming a match and a side, signed with HMAC-SHA256 (e.g. ``42.e.Xy…``)."""
    if not secret:
        raise ValueError("the survey token secret is empty")
    return f"{match_id}.{_ROLE_CODE[role]}.{_signature(match_id, role, secret)}"


def read_survey_token(token: str, secret: str) -> tuple[int, Role] | None:
    """The (match id, role) a token was made for, or None when it is malformed or not signed with ``secret``."""
    m = _TOKEN.match(token.strip())
    if m is None or not secret:
        return None
    match_id, role = int(m.group(1)), _CODE_ROLE[m.group(2)]
    if not hmac.compare_digest(m.group(3), _signature(match_id, role, secret)):
        return None
    return match_id, role


# --- what is due ---------------------------------------------------------------------------------------------


SurveyKind = Literal["survey", "reminder"]


class SurveySent(Frozen):
    """A survey or reminder that went out (as the store keeps it)."""

    match_id: int
    role: Role
    kind: SurveyKind
    at: AwareDatetime


class SurveyDue(Frozen):
    """Send this survey (or its one reminder) now."""

    match_id: int
    role: Role
    kind: SurveyKind


class FollowupPlan(Frozen):
    """What a follow-up run should do."""

    due: list[SurveyDue] = Field(default_factory=list)
    closed: list[int] = Field(default_factory=list, description="matches whose follow-up is over (answered or expired)")


def followup_actions(meetings: Iterable[Meeting], answers: Iterable[SurveyAnswer], sent: Iterable[SurveySent],
                     now: datetime, rules: FollowupRules) -> FollowupPlan:
    """Per match and side: the survey is due ``survey_after_days`` after the meeting ends; one reminder is due
    ``reminder_after_days`` after an unanswered survey; a side is settled once it answered or
    ``close_after_days`` passed since its survey, and a match closes when both sides are settled.
    """
    answered = {(a.match_id, a.role) for a in answers}
    sent_at = {(s.match_id, s.role, s.kind): s.at for s in sent}
    due: list[SurveyDue] = []
    closed: list[int] = []
    for meeting in sorted(meetings, key=lambda m: m.match_id):
        settled = 0
        for role in (Role.MENTEE, Role.MENTOR):
            key = (meeting.match_id, role)
            survey_at = sent_at.get((*key, "survey"))
            if key in answered:
                settled += 1
            elif survey_at is None:
                if meeting.end + timedelta(days=rules.survey_after_days) <= now:
                    due.append(SurveyDue(match_id=meeting.match_id, role=role, kind="survey"))
            elif now >= survey_at + timedelta(days=rules.close_after_days):
                settled += 1
            elif (*key, "reminder") not in sent_at and now >= survey_at + timedelta(days=rules.reminder_after_days):
                due.append(SurveyDue(match_id=meeting.match_id, role=role, kind="reminder"))
        if settled == 2:
            closed.append(meeting.match_id)
    return FollowupPlan(due=due, closed=closed)


# --- assessment ----------------------------------------------------------------------------------------------


def assess(match_id: int, answers: list[SurveyAnswer], rules: FollowupRules, *,
           closed: bool = False) -> tuple[bool | None, list[FollowupFlag]]:
    """Did the pair meet (None when nobody said), and what the lead should look at.

    Flags: ``no_show`` when either side says they did not meet, ``low_score`` at or below ``rules.low_score``,
    ``no_answer`` when the follow-up is ``closed`` and a side never answered. Details name roles, not people.
    """
    mine = [a for a in answers if a.match_id == match_id]
    flags: list[FollowupFlag] = []
    missed = sorted(a.role.value for a in mine if not a.met)
    if missed:
        flags.append(FollowupFlag(match_id=match_id, kind="no_show",
                                  detail=f"{' and '.join(missed)} said they did not meet"))
    low = sorted((a.role.value, a.satisfaction) for a in mine if a.satisfaction <= rules.low_score)
    if low:
        flags.append(FollowupFlag(match_id=match_id, kind="low_score",
                                  detail=", ".join(f"{role} rated {score}/5" for role, score in low)))
    if closed:
        silent = [r.value for r in (Role.MENTEE, Role.MENTOR) if r not in {a.role for a in mine}]
        if silent:
            flags.append(FollowupFlag(match_id=match_id, kind="no_answer",
                                      detail=f"no survey answer from the {' and '.join(silent)}"))
    met = None if not mine else not missed
    return met, flags


def _pct(flags: list[bool]) -> float | None:
    return round(100 * sum(flags) / len(flags), 1) if flags else None


def survey_summary(answers: Iterable[SurveyAnswer]) -> dict[str, float | int | None]:
    """The field guide's indicators over ``answers``: count, average satisfaction, and % satisfied (≥4),
    met, still in touch and adopted an idea. Percentages are 0–100 with one decimal; None without answers.
    """
    items = list(answers)
    return {
        "answers": len(items),
        "satisfaction_avg": round(sum(a.satisfaction for a in items) / len(items), 2) if items else None,
        "satisfied_pct": _pct([a.satisfaction >= 4 for a in items]),
        "met_pct": _pct([a.met for a in items]),
        "in_touch_pct": _pct([a.still_in_touch for a in items]),
        "adopted_pct": _pct([a.adopted_idea for a in items]),
    }

"""Follow-up after the first meeting: survey links, what is due when, flags for the lead, the indicators."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from domain.links import LinkClaims, LinkRefused, sign_link, verify_link
from domain.models import AwareDatetime, FollowupFlag, Frozen, Meeting, Role, SetAside, SurveyAnswer
from domain.rules import FollowupRules

# --- survey tokens -------------------------------------------------------------------------------------------

SURVEY = "survey"
NO_LONGER_IN_TOUCH = "the follow-up says they are no longer in touch"  # why a match ends at completion
# why the program ends a match whose first meeting did not happen (the mentee goes back to the waitlist, first)
DID_NOT_MEET = "the survey says they did not meet: the mentee is matched again"
# why the program ends a match whose mentor left the roster before the first meeting (the mentee is matched again)
MENTOR_LEFT = "the mentor left the program before the first meeting: the mentee is matched again"


def survey_token(match_id: int, role: Role, secret: str, expires: datetime) -> str:
    """A signed survey link token for one side of a match, valid until ``expires`` (see :mod:`domain.links`)."""
    return sign_link(LinkClaims(purpose=SURVEY, subject=role.value, match_id=match_id, expires=expires), secret)


def read_survey_link(token: str, secret: str) -> LinkClaims | None:
    """The claims of a survey token signed with ``secret`` (expired ones included: the answer's time decides)."""
    try:
        claims = verify_link(token, secret, SURVEY)
    except LinkRefused:
        return None
    if claims.match_id is None or claims.subject not in {r.value for r in Role}:
        return None
    return claims


def read_survey_token(token: str, secret: str) -> tuple[int, Role] | None:
    """The (match id, role) a token was made for, or None when it is malformed or not signed with ``secret``."""
    claims = read_survey_link(token, secret)
    if claims is None or claims.match_id is None:
        return None
    return claims.match_id, Role(claims.subject)


class LinkedAnswer(Frozen):
    """A valid survey answer with the link it came through and where it was read (for the lead's report)."""

    answer: SurveyAnswer
    link: LinkClaims
    source: str
    ref: str


def screen_survey_answers(
    items: Iterable[LinkedAnswer],
    stored: Iterable[SurveyAnswer],
    ended: Iterable[int],
    created: Mapping[int, datetime] | None = None,
    valid_days: int | None = None,
) -> tuple[list[SurveyAnswer], list[SetAside]]:
    """Which answers may change the store: a link acts once, before it expires, and only for a live match.

    An answer is set aside when it was given after its link expired, when its match has ended (or does not
    exist), or when its link was already used: an answer for the same match and side is stored with another
    time, or an earlier one in this batch came through the same link. The stored answer read again passes
    (the store keeps it as it is), so re-reading a form is harmless. With ``created`` (match id → when it was
    made) and ``valid_days``, a link issued before its match existed is refused too: it was made for an earlier,
    erased match that had the same id (SQLite may reuse the highest id after a deletion).
    """
    made = dict(created or {})
    kept_at = {(a.match_id, a.role): a.submitted_at for a in stored}
    gone = set(ended)
    admitted: list[SurveyAnswer] = []
    refused: list[SetAside] = []
    for item in sorted(items, key=lambda i: i.answer.submitted_at):
        a = item.answer
        key = (a.match_id, a.role)
        reason = None
        if a.submitted_at > item.link.expires:
            reason = "token: the survey link had expired when this answer was given"
        elif a.match_id in gone or (
            valid_days is not None
            and a.match_id in made
            and item.link.expires - timedelta(days=valid_days) < made[a.match_id] - timedelta(minutes=5)
        ):
            reason = "token: the match of this survey link has ended (or does not exist)"
        elif key in kept_at and kept_at[key] != a.submitted_at:
            reason = "token: this survey link was already used; the first answer stands"
        if reason:
            refused.append(SetAside(source=item.source, ref=item.ref, reasons=[reason]))
            continue
        kept_at[key] = a.submitted_at
        admitted.append(a)
    return admitted, refused


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


def followup_actions(
    meetings: Iterable[Meeting],
    answers: Iterable[SurveyAnswer],
    sent: Iterable[SurveySent],
    now: datetime,
    rules: FollowupRules,
) -> FollowupPlan:
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


def assess(
    match_id: int, answers: list[SurveyAnswer], rules: FollowupRules, *, closed: bool = False
) -> tuple[bool | None, list[FollowupFlag]]:
    """Did the pair meet (None when nobody said), and what the lead should decide about.

    Flags, only for what needs a human decision: ``no_show`` when either side says they did not meet,
    ``low_score`` at or below ``rules.low_score`` from a side that met. Details name roles, not people. A side
    that never answered (the follow-up ``closed`` after the reminder) is no flag: the follow-up closes quietly
    and the weekly report counts it (:func:`closed_unanswered`); ``closed`` is kept for callers that pass it.
    """
    mine = [a for a in answers if a.match_id == match_id]
    flags: list[FollowupFlag] = []
    missed = sorted(a.role.value for a in mine if not a.met)
    if missed:
        flags.append(
            FollowupFlag(match_id=match_id, kind="no_show", detail=f"{' and '.join(missed)} said they did not meet")
        )
    # a score from someone who says they did not meet rates no meeting: the no-show flag covers it
    low = sorted(
        (a.role.value, a.satisfaction)
        for a in mine
        if a.met and a.satisfaction is not None and a.satisfaction <= rules.low_score
    )
    if low:
        flags.append(
            FollowupFlag(
                match_id=match_id, kind="low_score", detail=", ".join(f"{role} rated {score}/5" for role, score in low)
            )
        )
    met = None if not mine else not missed
    return met, flags


def settle_no_shows(
    flags: Iterable[FollowupFlag], request_of: Mapping[int, int], rematched_before: Iterable[int]
) -> tuple[list[int], list[FollowupFlag]]:
    """The no-shows the program settles by itself: (matches to end and re-queue, flags left for the lead).

    A first meeting that did not happen needs no human to decide the next step: the match ends (the mentor's
    place frees, the meeting's sides are told) and the mentee goes back to the waitlist with their waiting time
    kept, so the next match run gives them another mentor first (:data:`DID_NOT_MEET`). Only a request that was
    already re-matched after a no-show (``rematched_before``: request ids) is the lead's to judge: the no-show
    flag stays for it, and the match is left as it is.
    """
    again = set(rematched_before)
    end: list[int] = []
    left: list[FollowupFlag] = []
    for f in flags:
        if f.kind == "no_show" and f.match_id in request_of and request_of[f.match_id] not in again:
            end.append(f.match_id)
        else:
            left.append(f)
    return sorted(set(end)), left


def settle_departures(
    open_matches: Mapping[int, str], met: Iterable[int], left_now: Iterable[str]
) -> tuple[list[int], list[FollowupFlag]]:
    """What the program does about mentors gone from the roster: (matches to end and re-queue, flags for the lead).

    ``open_matches``: the open matches of every mentor no longer in the roster (match id → mentor key); ``met``:
    those whose first meeting already took place; ``left_now``: the mentors who left since the last roster read.
    A match whose first meeting is still ahead (or was never planned) needs no human: the mentor left the
    program, so the match ends, the meeting is cancelled and the mentee is matched again first, as after a
    no-show. A relationship that already met may go on outside the program; that is the lead's to know, in one
    flag per mentor (on their first such match, naming the others), raised once, when the mentor leaves.
    """
    met, left_now = set(met), set(left_now)
    end = sorted(m for m in open_matches if m not in met)
    ongoing: dict[str, list[int]] = {}
    for match_id in sorted(m for m in open_matches if m in met):
        ongoing.setdefault(open_matches[match_id], []).append(match_id)
    flags = [
        FollowupFlag(
            match_id=ids[0],
            kind="mentor_left",
            detail="the mentor is no longer in the roster"
            + (f"; their other ongoing matches: {', '.join(map(str, ids[1:]))}" if ids[1:] else ""),
        )
        for mentor, ids in sorted(ongoing.items())
        if mentor in left_now
    ]
    return end, flags


def low_scores_for_lead(
    flags: Iterable[FollowupFlag], answers: Iterable[SurveyAnswer], mentor_of: Mapping[int, str], low_score: int
) -> list[FollowupFlag]:
    """Keep a ``low_score`` flag only where it asks for a human judgement; other flags pass unchanged.

    One low rating without a word of explanation is a figure (the weekly report's satisfaction), not something
    the lead can act on. It is the lead's when the low rater wrote a comment (someone has to read it), or when
    it is a pattern: the mentor was rated low by this match's mentee and by a mentee of an earlier match. A
    mentor's own low rating of a match is not a rating of the mentor: it is no part of a pattern (a comment
    with it still makes it the lead's).
    """
    answers = list(answers)
    first_low: dict[int, datetime] = {}  # match -> its mentee's first low rating of the mentor, having met
    commented: set[int] = set()
    for a in answers:
        if a.met and a.satisfaction is not None and a.satisfaction <= low_score:
            if a.role is Role.MENTEE:
                first_low[a.match_id] = min(first_low.get(a.match_id, a.submitted_at), a.submitted_at)
            if a.free_text.strip():
                commented.add(a.match_id)
    kept: list[FollowupFlag] = []
    for f in flags:
        if f.kind != "low_score" or f.match_id in commented:
            kept.append(f)
            continue
        mentor, at = mentor_of.get(f.match_id), first_low.get(f.match_id)
        earlier = [
            m
            for m, t in first_low.items()
            if m != f.match_id and mentor is not None and mentor_of.get(m) == mentor and at is not None and t < at
        ]
        if earlier:
            kept.append(
                f.model_copy(
                    update={"detail": f"{f.detail}; match {min(earlier)} of the same mentor was rated low too"}
                )
            )
    return kept


def closed_unanswered(
    sent: Iterable[SurveySent], answers: Iterable[SurveyAnswer], since: datetime, until: datetime, rules: FollowupRules
) -> int:
    """Surveys whose follow-up closed in [since, until) without an answer (``close_after_days`` after the survey):
    counted in the weekly report instead of a flag each."""
    answered = {(a.match_id, a.role) for a in answers}
    wait = timedelta(days=rules.close_after_days)
    return sum(
        s.kind == "survey" and (s.match_id, s.role) not in answered and since <= s.at + wait < until for s in sent
    )


def _pct(flags: list[bool]) -> float | None:
    return round(100 * sum(flags) / len(flags), 1) if flags else None


def survey_summary(answers: Iterable[SurveyAnswer]) -> dict[str, float | int | None]:
    """The field guide's indicators over ``answers``: count, average satisfaction, and % satisfied (≥4),
    met, still in touch and adopted an idea. Percentages are 0–100 with one decimal; None without answers.
    """
    items = list(answers)
    scores = [a.satisfaction for a in items if a.satisfaction is not None]  # partial answers skip it
    return {
        "answers": len(items),
        "satisfaction_avg": round(sum(scores) / len(scores), 2) if scores else None,
        "satisfied_pct": _pct([s >= 4 for s in scores]),
        "met_pct": _pct([a.met for a in items]),
        "in_touch_pct": _pct([a.still_in_touch for a in items]),
        "adopted_pct": _pct([a.adopted_idea for a in items]),
    }

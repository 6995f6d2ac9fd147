"""Booking-link matches: the mentor publishes their own slots, so no calendar event is made.

The mentee's match email carries the booking link; the match keeps a placeholder first meeting dated
``booking_nudge_after_days`` after that email (the day a meeting is expected by), so the follow-up survey,
its answer "we met" (→ met) or "we did not" (→ no-show flag) work exactly as for invited meetings. Until a
survey answer says they met: one nudge to the mentee on that day, then a flag for the lead
``booking_flag_after_days`` later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from pydantic import Field

from domain.models import FollowupFlag, Frozen, Meeting, Role, SurveyAnswer
from domain.rules import FollowupRules

BOOKING_EVENT_PREFIX = "booking-"


def booking_event_id(match_id: int) -> str:
    """The placeholder meeting's id: never a calendar id (those are base32hex, without a dash)."""
    return f"{BOOKING_EVENT_PREFIX}{match_id}"


def is_booking_meeting(meeting: Meeting) -> bool:
    """Whether a first meeting is a booking-link placeholder (no calendar event behind it)."""
    return meeting.event_id.startswith(BOOKING_EVENT_PREFIX)


def booking_meeting(match_id: int, sent_at: datetime, rules: FollowupRules, accessibility_needs: str = "") -> Meeting:
    """The placeholder first meeting of a booking-link match whose email went out at ``sent_at``."""
    expected = sent_at + timedelta(days=rules.booking_nudge_after_days)
    return Meeting(
        match_id=match_id,
        start=expected,
        end=expected,
        event_id=booking_event_id(match_id),
        video_link="",
        accessibility_needs=accessibility_needs,
    )


class BookingPlan(Frozen):
    """What a booking follow-up run should do."""

    nudges: list[int] = Field(default_factory=list, description="match ids whose mentee gets the one nudge now")
    flags: list[FollowupFlag] = Field(default_factory=list)


def booking_actions(
    meetings: Iterable[Meeting],
    answers: Iterable[SurveyAnswer],
    nudged: Mapping[int, datetime],
    now: datetime,
    rules: FollowupRules,
) -> BookingPlan:
    """Per booking-link match with no answer saying they met: the nudge once it is due, then the flag.

    ``nudged`` maps match id → when its nudge was sent (from the ledger). Any side's answer that they met
    ends it; an answer that they did not is the survey's no-show flag, not this one.
    """
    met = {a.match_id for a in answers if a.met}
    answered = {a.match_id for a in answers if a.role is Role.MENTEE}
    plan = BookingPlan()
    for meeting in meetings:
        mid = meeting.match_id
        if not is_booking_meeting(meeting) or mid in met or now < meeting.start:
            continue
        if mid not in nudged:
            if mid not in answered:
                plan.nudges.append(mid)
        elif now >= nudged[mid] + timedelta(days=rules.booking_flag_after_days):
            plan.flags.append(
                FollowupFlag(
                    match_id=mid,
                    kind="no_booking",
                    detail=f"no meeting reported {rules.booking_flag_after_days} days after the nudge to book",
                )
            )
    return plan

"""Booking-link matches: the placeholder first meeting, one nudge, then a flag; the emails that carry the link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from config.rules import load_rules
from domain.booking import booking_actions, booking_meeting, is_booking_meeting
from domain.keys import NudgeKey, parse_key
from domain.messages import render_invitation, template_env
from domain.models import Match, Meeting, MenteeApplication, Mentor, Role, SurveyAnswer, Weekday, WeeklyWindow
from domain.rules import FollowupRules

ROOT = Path(__file__).resolve().parent.parent
RULES = FollowupRules(booking_nudge_after_days=7, booking_flag_after_days=5)
SENT = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
MEETING = booking_meeting(5, SENT, RULES)


def day(n: float) -> datetime:
    return SENT + timedelta(days=n)


def answer(met: bool, role: Role = Role.MENTEE) -> SurveyAnswer:
    return SurveyAnswer(
        match_id=5, role=role, submitted_at=day(9), satisfaction=4, met=met, still_in_touch=met, adopted_idea=False
    )


def test_the_placeholder_meeting_is_due_when_the_nudge_is_and_never_a_calendar_id() -> None:
    assert MEETING.start == MEETING.end == day(7)
    assert is_booking_meeting(MEETING) and "-" in MEETING.event_id
    invited = Meeting(match_id=5, start=day(3), end=day(3), event_id="abc123", video_link="")
    assert not is_booking_meeting(invited)
    assert booking_actions([invited], [], {}, day(30), RULES).nudges == []


def test_one_nudge_when_due_then_a_flag_after_it() -> None:
    assert booking_actions([MEETING], [], {}, day(6.9), RULES).nudges == []
    assert booking_actions([MEETING], [], {}, day(7), RULES).nudges == [5]
    nudged = {5: day(7)}
    assert booking_actions([MEETING], [], nudged, day(8), RULES) == booking_actions([], [], {}, day(8), RULES)
    late = booking_actions([MEETING], [], nudged, day(12), RULES)
    assert late.nudges == [] and [(f.match_id, f.kind) for f in late.flags] == [(5, "no_booking")]


def test_a_meeting_reported_ends_the_nudging() -> None:
    assert booking_actions([MEETING], [answer(True, Role.MENTOR)], {}, day(7), RULES).nudges == []
    assert booking_actions([MEETING], [answer(True)], {5: day(7)}, day(20), RULES).flags == []
    # "we did not meet" before the nudge: no nudge (the survey's no-show flag tells the lead)
    assert booking_actions([MEETING], [answer(False)], {}, day(7), RULES).nudges == []


def test_nudge_key_round_trips() -> None:
    assert str(NudgeKey(match_id=5)) == "nudge:5" and parse_key("nudge:5") == NudgeKey(match_id=5)


def _pair() -> tuple[Match, MenteeApplication, Mentor]:
    mentor = Mentor(
        name="נועה",
        booking_url="https://calendly.com/noa/30min",
        expertise=["python"],
        career_stage=3,
        languages=["he"],
        capacity=1,
        scheduling="booking_link",
        contact_kind="booking_link",
    )
    app = MenteeApplication(
        response_id="r1",
        submitted_at=SENT,
        name="דנה",
        email="dana@example.org",
        languages=["he"],
        topics=["python"],
        career_stage=1,
        consent_contact=True,
        availability=[WeeklyWindow(day=Weekday.TUE, start="18:00", end="20:00")],
    )
    match = Match(
        id=5,
        request_id=1,
        mentor_email=mentor.key,
        score=3.0,
        reasons=["shared: Python"],
        shared_windows=[],
        created_at=SENT,
    )
    return match, app, mentor


def test_the_mentee_gets_the_link_and_the_reasons_in_hebrew_and_the_nudge_differs() -> None:
    rules = load_rules(ROOT / "config" / "program.yaml")
    env = template_env()
    match, app, mentor = _pair()
    first = render_invitation(
        env,
        role=Role.MENTEE,
        meeting=MEETING,
        match=match,
        application=app,
        mentor=mentor,
        rules=rules,
        tz="Asia/Jerusalem",
    )
    assert "https://calendly.com/noa/30min" in first.text and 'href="https://calendly.com/noa/30min"' in first.html
    assert "נושאים משותפים: פייתון" in first.text  # the reasons, in the mentee's language
    assert "מתי:" not in first.text and 'dir="rtl"' in first.html and "מנטור/ית" in first.text
    nudge = render_invitation(
        env,
        role=Role.MENTEE,
        meeting=MEETING,
        match=match,
        application=app,
        mentor=mentor,
        rules=rules,
        tz="Asia/Jerusalem",
        nudge=True,
    )
    assert nudge.subject != first.subject and "תזכורת" in nudge.subject
    assert "https://calendly.com/noa/30min" in nudge.text
    told = render_invitation(
        env,
        role=Role.MENTOR,
        meeting=MEETING,
        match=match,
        application=app,
        mentor=mentor.model_copy(update={"email": "noa@example.org"}),
        rules=rules,
        tz="Asia/Jerusalem",
        language="en",
    )
    assert "will book a first meeting with you" in told.text and "dana@example.org" in told.text

"""The program's invariants over its lifetime (issue #10), on the embedded defaults without a Prefect server.

Tasks are called through ``.fn`` with the services handed in, so each test is quick and exercises the code
that the flows run.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config.settings import Settings
from domain.models import (
    Meeting,
    MenteeApplication,
    Mentor,
    ProposedMatch,
    RawResponse,
    RequestStatus,
    ScoreBreakdown,
    Weekday,
    WeeklyWindow,
)
from mentorflow.bootstrap import Services, build_services, use_services

TZ = ZoneInfo("Asia/Jerusalem")
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=TZ)  # a Sunday
TUE = WeeklyWindow(day=Weekday.TUE, start=time(18), end=time(20))


@pytest.fixture
def svc(data_dir: Path) -> Iterator[Services]:
    services = build_services(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    with use_services(services):
        yield services


def application(email: str, rid: str = "", at: datetime = NOW, consent: bool = True) -> MenteeApplication:
    return MenteeApplication(
        response_id=rid or f"r-{email}",
        submitted_at=at,
        name="Dana",
        email=email,
        languages=["he"],
        topics=["python"],
        career_stage=1,
        availability=[TUE],
        consent_contact=consent,
    )


def mentor(email: str = "avi@example.org", capacity: int = 3) -> Mentor:
    return Mentor(
        email=email,
        name="Avi",
        expertise=["python"],
        years=10,
        career_stage=3,
        languages=["he"],
        capacity=capacity,
        availability=[TUE],
    )


def proposal(request_id: int, mentor_email: str = "avi@example.org") -> ProposedMatch:
    return ProposedMatch(
        request_id=request_id,
        mentor_email=mentor_email,
        score=4.0,
        breakdown=ScoreBreakdown(topics=3, availability=1),
        reasons=["shared: Python"],
        shared_windows=[TUE],
    )


def request_ids(svc: Services, *emails: str, at: datetime = NOW) -> list[int]:
    """Take these mentees' answers in; their request ids, in order."""
    with svc.store.unit_of_work() as uow:
        uow.requests.save_applications([application(e) for e in emails], at)
        by_email = {str(r.application.email): r.id for r in uow.requests.all()}
    return [by_email[e] for e in emails]


def approved(svc: Services, *pairs: tuple[int, str], at: datetime = NOW) -> list[int]:
    with svc.store.unit_of_work() as uow:
        return uow.matches.approve([proposal(rid, m) for rid, m in pairs], "lead", at)


# --- invariant 1 ------------------------------------------------------------------------------------------------


def test_a_mentor_is_never_booked_into_two_first_meetings_at_once(svc: Services) -> None:
    from tasks.invites import invite_matches

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor()], NOW)
    a, b = request_ids(svc, "dana@example.org", "noa@example.org")
    m1, m2 = approved(svc, (a, "avi@example.org"), (b, "avi@example.org"))
    batch = invite_matches.fn([m1, m2], NOW)  # one batch: both are planned in parallel threads
    assert not batch.failed and [o.status for o in batch.outcomes] == ["scheduled", "scheduled"]
    with svc.store.unit_of_work() as uow:
        one, two = uow.matches.meeting(m1), uow.matches.meeting(m2)
    assert one is not None and two is not None
    assert one.end <= two.start or two.end <= one.start, "the local calendar must see the program's own meetings"


# --- invariant 2 ------------------------------------------------------------------------------------------------


def _complete_follow_up(svc: Services, match_id: int, at: datetime) -> None:
    """Walk a match's request through its first meeting and a closed follow-up (the survey's part is over)."""
    with svc.store.unit_of_work() as uow:
        request = uow.requests.of_match(match_id)
        for status in (RequestStatus.SCHEDULED, RequestStatus.MET, RequestStatus.COMPLETED):
            uow.requests.transition(request.id, status, "followup", "", at)


def test_capacity_stays_taken_after_the_follow_up_closes_until_the_relationship_ends(svc: Services) -> None:
    from tasks.matching import propose

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor(capacity=1)], NOW)
    [a] = request_ids(svc, "dana@example.org")
    [m] = approved(svc, (a, "avi@example.org"))
    _complete_follow_up(svc, m, NOW + timedelta(days=17))
    request_ids(svc, "noa@example.org", at=NOW + timedelta(days=18))
    three_weeks = propose.fn(NOW + timedelta(days=21))
    assert three_weeks.matches == [], "a completed follow-up is not the end of the relationship"
    length = svc.rules.matching.relationship_days
    later = propose.fn(NOW + timedelta(days=length + 1))
    assert [str(p.mentor_email) for p in later.matches] == ["avi@example.org"]


def test_a_relationship_the_follow_up_says_is_over_frees_the_place(svc: Services) -> None:
    from domain.followup import FollowupPlan
    from domain.models import Role, SurveyAnswer
    from tasks.followup import assess_meetings

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor(capacity=1)], NOW)
    [a] = request_ids(svc, "dana@example.org")
    [m] = approved(svc, (a, "avi@example.org"))
    with svc.store.unit_of_work() as uow:
        uow.requests.transition(a, RequestStatus.SCHEDULED, "invite", "", NOW)
        start = NOW + timedelta(days=2)
        from domain.models import Meeting

        uow.matches.plan_meeting(
            Meeting(match_id=m, start=start, end=start + timedelta(hours=1), event_id="abcdef12345", video_link="")
        )
        uow.followup.add_survey_answers(
            [
                SurveyAnswer(
                    match_id=m,
                    role=role,
                    submitted_at=NOW + timedelta(days=6),
                    satisfaction=4,
                    met=True,
                    still_in_touch=False,
                    adopted_idea=True,
                )
                for role in (Role.MENTEE, Role.MENTOR)
            ]
        )
    assess_meetings.fn(FollowupPlan(closed=[m]), NOW + timedelta(days=7))
    with svc.store.unit_of_work() as uow:
        assert uow.requests.get(a).status is RequestStatus.COMPLETED
        assert uow.matches.mentor_load(NOW) == {}


def _met_or_not(svc: Services, m: int, request_id: int, met: bool, day: int) -> None:
    from domain.models import Meeting, Role, SurveyAnswer

    with svc.store.unit_of_work() as uow:
        uow.requests.transition(request_id, RequestStatus.SCHEDULED, "invite", "", NOW)
        start = NOW + timedelta(days=day)
        uow.matches.plan_meeting(
            Meeting(match_id=m, start=start, end=start + timedelta(hours=1), event_id=f"ev{m}x1234567", video_link="")
        )
        uow.followup.add_survey_answers(
            [
                SurveyAnswer(
                    match_id=m,
                    role=Role.MENTEE,
                    submitted_at=start + timedelta(days=4),
                    satisfaction=None,
                    met=met,
                    still_in_touch=met,
                    adopted_idea=False,
                )
            ]
        )


def test_only_an_unfinished_no_show_ending_makes_follow_up_due(svc: Services) -> None:
    """The pipeline's due-check (issue #12) counts the no-show endings follow-up would finish (a cancel or an
    email to a side not done), not every no-show ever: a finished ending is no work."""
    from domain.followup import FollowupPlan
    from tasks.followup import assess_meetings

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor(capacity=1)], NOW)
    [a] = request_ids(svc, "dana@example.org")
    [m] = approved(svc, (a, "avi@example.org"))
    _met_or_not(svc, m, a, met=False, day=2)
    assert assess_meetings.fn(FollowupPlan(), NOW + timedelta(days=7)).rematched == [m]
    with svc.store.unit_of_work() as uow:
        assert uow.stages.unfinished_no_show_endings() == 0, "both sides told: nothing left to finish"
        uow.ledger.finish(f"ended:{m}:mentor", "uncertain", NOW + timedelta(days=7))
    with svc.store.unit_of_work() as uow:
        assert uow.stages.unfinished_no_show_endings() == 1, "the mentor's email is not done: follow-up finishes it"


def test_a_pair_that_did_not_meet_is_matched_again_by_the_program_and_a_second_no_show_is_flagged(
    svc: Services,
) -> None:
    """issue #10 (the lead's minutes): a no-show was a flag, then the lead's end-match; the follow-up now ends the
    match itself (place freed, both sides told), the mentee waits first for a new mentor, and only a second
    no-show of the same mentee reaches the lead."""
    from domain.followup import DID_NOT_MEET, FollowupPlan
    from tasks.followup import assess_meetings

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor(capacity=1), mentor("noa@example.org", capacity=1)], NOW)
    [a] = request_ids(svc, "dana@example.org")
    [m] = approved(svc, (a, "avi@example.org"))
    _met_or_not(svc, m, a, met=False, day=2)
    first = assess_meetings.fn(FollowupPlan(), NOW + timedelta(days=7))
    assert first.rematched == [m] and first.new_flags == []
    with svc.store.unit_of_work() as uow:
        assert uow.requests.get(a).status is RequestStatus.PENDING, "back on the waitlist"
        assert uow.matches.mentor_load(NOW) == {}, "the place is free"
        assert [x.id for x in uow.matches.ended_for(DID_NOT_MEET)] == [m]
        told = {e.key for e in uow.ledger.entries("ended:")}
    assert len(told) == 2, "both sides are told"
    [m2] = approved(svc, (a, "noa@example.org"), at=NOW + timedelta(days=8))
    _met_or_not(svc, m2, a, met=False, day=10)
    second = assess_meetings.fn(FollowupPlan(), NOW + timedelta(days=15))
    assert second.rematched == [] and [(f.match_id, f.kind) for f in second.new_flags] == [(m2, "no_show")]
    with svc.store.unit_of_work() as uow:
        assert uow.requests.get(a).status is RequestStatus.SCHEDULED, "the lead decides this time"


# --- invariant 3 ------------------------------------------------------------------------------------------------


def test_a_pair_the_lead_turned_down_is_never_proposed_or_approved_again(svc: Services) -> None:
    from domain.approval import LeadDecision, apply_decision
    from domain.models import MatchResult
    from mentorflow.lead import save_decision
    from tasks.matching import propose

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor("avi@example.org"), mentor("ben@example.org")], NOW)
    [a] = request_ids(svc, "dana@example.org")
    batch = MatchResult(matches=[proposal(a, "avi@example.org")], waitlist=[])
    ok, no = apply_decision(batch, LeadDecision(action="approve_except", except_requests=[a]))
    with svc.store.unit_of_work() as uow:
        save_decision(uow, batch, ok, no, "lead", NOW)
    again = propose.fn(NOW + timedelta(days=1))
    assert [str(p.mentor_email) for p in again.matches] == ["ben@example.org"]
    # ... nor approved by any door (a time-out, an older batch)
    assert approved(svc, (a, "avi@example.org"), at=NOW + timedelta(days=2)) == []
    with svc.store.unit_of_work() as uow:
        assert uow.requests.get(a).refused_mentors == ["avi@example.org"]


def test_request_ids_typed_under_except_are_not_approved_while_the_action_says_approve_all() -> None:
    from domain.approval import LeadDecision, apply_decision
    from domain.models import MatchResult

    batch = MatchResult(matches=[proposal(1), proposal(2, "ben@example.org")], waitlist=[])
    ok, no = apply_decision(batch, LeadDecision(action="approve_all", except_requests=[2]))
    assert [p.request_id for p in ok] == [1] and list(no) == [2]


# --- invariant 5 ------------------------------------------------------------------------------------------------


def test_re_reading_an_answer_whose_request_completed_never_opens_a_request_again(svc: Services) -> None:
    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor()], NOW)
    first, second = (
        application("dana@example.org", rid="r1"),
        application("dana@example.org", rid="r2", at=NOW + timedelta(hours=1)),
    )
    with svc.store.unit_of_work() as uow:
        uow.requests.save_applications([first, second], NOW)
        [req] = uow.requests.all()
    [m] = approved(svc, (req.id, "avi@example.org"))
    _complete_follow_up(svc, m, NOW + timedelta(days=20))
    for answers in ([first], [second], [first, second]):  # the local inbox is read again as new
        with svc.store.unit_of_work() as uow:
            counts = uow.requests.save_applications(answers, NOW + timedelta(days=30))
            assert counts["created"] == 0
    with svc.store.unit_of_work() as uow:
        assert [r.id for r in uow.requests.all()] == [req.id]
    # a new answer of the same person is a new application
    with svc.store.unit_of_work() as uow:
        assert uow.requests.save_applications([application("dana@example.org", rid="r3")], NOW)["created"] == 1


# --- invariant 4 ------------------------------------------------------------------------------------------------


def raw_answer(rid: str, at: str, consent: str, email: str = "dana@example.org") -> RawResponse:
    return RawResponse(
        source="json:mentees.json",
        ref=rid,
        answers={
            "Response ID": rid,
            "Timestamp": at,
            "Full name": "Dana Levi",
            "Email address": email,
            "Preferred languages": ["Hebrew"],
            "Topics (most important first)": ["Python"],
            "Career stage": "Junior",
            "Weekly availability": "Tue 18:00-20:00",
            "May we contact you?": consent,
        },
    )


def test_a_later_answer_withdrawing_consent_cancels_the_request_and_its_match(svc: Services) -> None:
    from connectors.base import IntakeBatch
    from tasks.intake import save_applications
    from tasks.invites import list_matches_to_invite

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor()], NOW)
    save_applications.fn(
        IntakeBatch(responses=[raw_answer("r1", "2026-11-20T10:00:00+02:00", "Yes")], watermark=None), NOW
    )
    with svc.store.unit_of_work() as uow:
        [req] = uow.requests.all()
    [m] = approved(svc, (req.id, "avi@example.org"))
    report = save_applications.fn(
        IntakeBatch(responses=[raw_answer("r2", "2026-11-23T10:00:00+02:00", "No")], watermark=None),
        NOW + timedelta(days=1),
    )
    assert report.set_aside == [], "a withdrawal is an answer, not a mistake for the lead to fix"
    with svc.store.unit_of_work() as uow:
        after = uow.requests.get(req.id)
        assert after.status is RequestStatus.CANCELED
        assert after.timeline[-1].actor == "mentee"
        assert not uow.matches.get(m).active
        assert uow.matches.mentor_load() == {}
    assert list_matches_to_invite.fn() == []


def test_an_edit_withdrawing_consent_under_a_new_email_cancels_the_request_it_opened(svc: Services) -> None:
    from connectors.base import IntakeBatch
    from tasks.intake import save_applications

    first = raw_answer("r1", "2026-11-20T10:00:00+02:00", "Yes")
    save_applications.fn(IntakeBatch(responses=[first], watermark=None), NOW)
    edit = raw_answer("r1", "2026-11-23T10:00:00+02:00", "No", email="dana.new@example.org")  # same response
    save_applications.fn(IntakeBatch(responses=[edit], watermark=None), NOW + timedelta(days=1))
    with svc.store.unit_of_work() as uow:
        [req] = uow.requests.all()
    assert req.status is RequestStatus.CANCELED


# --- invariant 7 ------------------------------------------------------------------------------------------------


def test_what_the_lead_sees_is_what_is_open_now(svc: Services, data_dir: Path) -> None:
    import yaml
    from typer.testing import CliRunner

    from connectors.base import IntakeBatch
    from mentorflow.cli import app
    from tasks.intake import save_applications, sync_roster

    broken = raw_answer("r1", "2026-11-20T10:00:00+02:00", "Yes")
    broken = broken.model_copy(update={"answers": {**broken.answers, "Weekly availability": "whenever"}})
    save_applications.fn(IntakeBatch(responses=[broken], watermark=None), NOW)
    with svc.store.unit_of_work() as uow:
        assert len(uow.reporting.status_report().set_aside) == 1
    fixed = raw_answer("r2", "2026-11-21T10:00:00+02:00", "Yes")
    save_applications.fn(IntakeBatch(responses=[broken, fixed], watermark=None), NOW + timedelta(days=1))
    with svc.store.unit_of_work() as uow:
        assert uow.reporting.status_report().set_aside == [], "the person fixed their answer"

    # a mentor gone from the roster is deactivated and their open match, which already met, flagged; a flag
    # marked done goes away
    sync_roster.fn(NOW)
    with svc.store.unit_of_work() as uow:
        [req] = uow.requests.all()
        leaving = uow.roster.mentors(active_only=True)[0]
    [m] = approved(svc, (req.id, str(leaving.email)))
    with svc.store.unit_of_work() as uow:
        start = NOW + timedelta(hours=12)
        uow.matches.plan_meeting(
            Meeting(match_id=m, start=start, end=start + timedelta(hours=1), event_id=f"ev{m}x1234567", video_link="")
        )
    roster = data_dir / "mentors.yaml"

    records = yaml.safe_load(roster.read_text(encoding="utf-8"))
    kept = [r for r in records if str(r["email"]).lower() != str(leaving.email).lower()]
    roster.write_text(yaml.safe_dump(kept, allow_unicode=True), encoding="utf-8")
    sync_roster.fn(NOW + timedelta(days=1))
    with svc.store.unit_of_work() as uow:
        assert str(leaving.email) not in {str(x.email) for x in uow.roster.mentors(active_only=True)}
        [flag] = uow.reporting.status_report().flags
        assert uow.matches.many([m])[m].active, "a relationship that met is the lead's to judge"
    assert flag.match_id == m and flag.kind == "mentor_left"
    result = CliRunner().invoke(app, ["flags", "done", str(flag.id)], env={"MENTORFLOW_DATA_DIR": str(data_dir)})
    assert result.exit_code == 0 and "done" in result.output
    sync_roster.fn(NOW + timedelta(days=2))
    with svc.store.unit_of_work() as uow:
        assert uow.reporting.status_report().flags == []


def test_a_mentor_gone_before_the_first_meeting_ends_the_match_and_the_mentee_is_matched_again(
    svc: Services, data_dir: Path
) -> None:
    """Invariant 8 when the mentor leaves the roster: no flag for the lead (it was one per match), the meeting is
    cancelled, the mentee is told and queued again first; the mentor, gone, is not written to. A second read
    (as after a crash between the roster's commit and the ending) ends nothing twice."""
    import yaml

    from connectors.base import Presence
    from domain.followup import MENTOR_LEFT
    from tasks.intake import sync_roster
    from tasks.invites import invite_matches

    sync_roster.fn(NOW)
    [a] = request_ids(svc, "dana@example.org")
    with svc.store.unit_of_work() as uow:
        leaving = uow.roster.mentors(active_only=True)[0]
        waited_since = uow.requests.get(a).waiting_since
    [m] = approved(svc, (a, str(leaving.email)))
    assert invite_matches.fn([m], NOW).outcomes[0].status == "scheduled"
    with svc.store.unit_of_work() as uow:
        meeting = uow.matches.meeting(m)
    assert meeting is not None and meeting.start > NOW + timedelta(days=2), "ahead of both roster reads"
    roster = data_dir / "mentors.yaml"
    records = yaml.safe_load(roster.read_text(encoding="utf-8"))
    kept = [r for r in records if str(r["email"]).lower() != str(leaving.email).lower()]
    roster.write_text(yaml.safe_dump(kept, allow_unicode=True), encoding="utf-8")

    for day in (1, 2):
        sync_roster.fn(NOW + timedelta(days=day))
    with svc.store.unit_of_work() as uow:
        assert uow.reporting.status_report().flags == []
        assert not uow.matches.many([m])[m].active and uow.matches.ended_for(MENTOR_LEFT)[0].id == m
        again = uow.requests.get(a)
        assert uow.ledger.keys("ended:") == {f"ended:{m}:mentee"}, "the mentee is told once; the mentor is gone"
    assert again.status is RequestStatus.PENDING and again.waiting_since == waited_since
    assert svc.connectors.calendar.lookup(meeting.event_id) is Presence.ABSENT


# --- invariant 6 ------------------------------------------------------------------------------------------------


def test_statuses_are_set_where_they_happen_and_show_prints_the_whole_request(svc: Services, data_dir: Path) -> None:
    from typer.testing import CliRunner

    from connectors.base import IntakeBatch
    from mentorflow.cli import app
    from tasks.intake import save_applications

    first = raw_answer("r1", "2026-11-20T10:00:00+02:00", "Yes")
    broken = raw_answer("r2", "2026-11-21T10:00:00+02:00", "Yes")
    broken = broken.model_copy(update={"answers": {**broken.answers, "Weekly availability": "whenever"}})
    save_applications.fn(IntakeBatch(responses=[first, broken], watermark=None), NOW)
    with svc.store.unit_of_work() as uow:
        [req] = uow.requests.all()
    assert req.status is RequestStatus.NEEDS_INFO, "a later answer that must be completed"
    completed = raw_answer("r3", "2026-11-22T08:00:00+02:00", "Yes")
    save_applications.fn(IntakeBatch(responses=[first, broken, completed], watermark=None), NOW)
    with svc.store.unit_of_work() as uow:
        assert uow.requests.get(req.id).status is RequestStatus.PENDING

    env = {"MENTORFLOW_DATA_DIR": str(data_dir)}
    result = CliRunner().invoke(app, ["reject", str(req.id), "--note", "outside the program's scope"], env=env)
    assert result.exit_code == 0, result.output
    shown = CliRunner().invoke(app, ["show", str(req.id)], env=env)
    assert shown.exit_code == 0, shown.output
    assert "Request 1: rejected" in shown.output
    assert "pending -> rejected by lead: outside the program's scope" in shown.output
    assert "needs_info -> pending by intake" in shown.output


# --- invariant 8 ------------------------------------------------------------------------------------------------


def test_ending_a_match_cancels_the_meeting_tells_both_sides_and_requeues_the_mentee(
    svc: Services, data_dir: Path
) -> None:
    from typer.testing import CliRunner

    from connectors.base import Presence
    from mentorflow.cli import app

    a, m = _met(svc)
    with svc.store.unit_of_work() as uow:
        meeting = uow.matches.meeting(m)
        waited_since = uow.requests.get(a).waiting_since
    assert meeting is not None and svc.connectors.calendar.lookup(meeting.event_id) is Presence.DONE

    env = {"MENTORFLOW_DATA_DIR": str(data_dir)}
    result = CliRunner().invoke(
        app,
        ["end-match", str(m), "--reason", "mentor moved abroad", "--by", "mentor", "--as-of", "2026-11-22T10:00"],
        env=env,
    )
    assert result.exit_code == 0 and "cancelled" in result.output, result.output
    assert svc.connectors.calendar.lookup(meeting.event_id) is Presence.ABSENT
    with svc.store.unit_of_work() as uow:
        assert uow.ledger.keys("ended:") == {f"ended:{m}:mentee", f"ended:{m}:mentor"}
        again = uow.requests.get(a)
        assert uow.matches.mentor_load() == {}
    assert again.status is RequestStatus.PENDING and again.waiting_since == waited_since
    assert again.timeline[-1].actor == "mentor"
    texts = []
    for path in (data_dir / "outbox").rglob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        texts.append(f"{message['subject']}\n{body.get_content() if body else ''}")
    ended = [t for t in texts if "הסתיימה" in t]
    assert len(ended) == 2, "both sides are told, in Hebrew"
    assert any("המקום שלך בתור נשמר" in t for t in ended)


def test_a_relationship_ended_after_the_first_meeting_queues_the_mentee_again(svc: Services) -> None:
    """Invariant 8 after they met: a side stopped early, so the mentee waits for a new mentor, their time kept."""
    from tasks.lifecycle import end_relationship

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor()], NOW)
    [a] = request_ids(svc, "dana@example.org")
    [m] = approved(svc, (a, "avi@example.org"))
    with svc.store.unit_of_work() as uow:
        uow.requests.transition(a, RequestStatus.SCHEDULED, "invite", "", NOW)
        uow.requests.transition(a, RequestStatus.MET, "followup", "survey says they met", NOW)
        waited_since = uow.requests.get(a).waiting_since
    assert end_relationship(svc, m, "mentor stopped answering", "lead", NOW) is not None
    with svc.store.unit_of_work() as uow:
        again = uow.requests.get(a)
        assert uow.matches.mentor_load() == {}
    assert again.status is RequestStatus.PENDING and again.waiting_since == waited_since
    assert (again.timeline[-1].from_status, again.timeline[-1].actor) == (RequestStatus.MET, "lead")


def test_a_paused_mentor_gets_no_invitation_at_the_next_run(svc: Services) -> None:
    from tasks.invites import list_matches_to_invite

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor()], NOW)
    [a] = request_ids(svc, "dana@example.org")
    approved(svc, (a, "avi@example.org"))
    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor().model_copy(update={"active": False})], NOW + timedelta(hours=1))
    assert list_matches_to_invite.fn() == []


def _met(svc: Services) -> tuple[int, int]:
    """A mentee and a mentor matched and invited (the meeting on Tuesday evening); (request id, match id)."""
    from tasks.invites import invite_matches

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor()], NOW)
    [a] = request_ids(svc, "dana@example.org")
    [m] = approved(svc, (a, "avi@example.org"))
    assert invite_matches.fn([m], NOW).outcomes[0].status == "scheduled"
    return a, m


def test_a_mentor_paused_in_the_roster_gets_no_survey_until_they_are_back(svc: Services) -> None:
    """Invariant 4 (short simulation, check 4): a paused mentor was sent the follow-up survey and reminder."""
    from domain.models import Role
    from tasks.followup import plan_followup

    _a, m = _met(svc)
    with svc.store.unit_of_work() as uow:
        meeting = uow.matches.meeting(m)
        uow.roster.sync([mentor().model_copy(update={"active": False})], NOW + timedelta(hours=1))
    assert meeting is not None
    after = meeting.end + timedelta(days=svc.rules.followup.survey_after_days, hours=1)
    due = {(d.match_id, d.role) for d in plan_followup.fn(after).due}
    assert due == {(m, Role.MENTEE)}, "the mentee is surveyed, the paused mentor is not"
    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor()], after)
    due = {(d.match_id, d.role) for d in plan_followup.fn(after).due}
    assert (m, Role.MENTOR) in due, "back in the roster: their survey goes out"


def test_ending_a_match_writes_to_nobody_without_consent_and_a_rerun_finishes_what_failed(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invariants 4 and 8: a paused mentor is not told of the ending; a send that failed for good is finished by
    running end-match again (it used to answer "no active match" and leave the mentee untold)."""
    from connectors.base import MailUnavailable
    from tasks import lifecycle
    from tasks.lifecycle import end_relationship

    _a, m = _met(svc)
    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor().model_copy(update={"active": False})], NOW + timedelta(hours=1))
    monkeypatch.setattr(lifecycle, "RETRY_PAUSES", (0.0,))
    mailer = svc.connectors.mailer
    real_send = mailer.send
    monkeypatch.setattr(mailer, "send", lambda *a, **k: (_ for _ in ()).throw(MailUnavailable("503")))
    first = end_relationship(svc, m, "mentor moved abroad", "mentor", NOW + timedelta(hours=2))
    assert first is not None and [k for k, _ in first.failed] == [f"ended:{m}:mentee"]
    assert any(k.startswith("cancel:") for k in first.outcomes), "the cancel went ahead of the failed email"
    monkeypatch.setattr(mailer, "send", real_send)
    again = end_relationship(svc, m, "mentor moved abroad", "mentor", NOW + timedelta(hours=3))
    assert again is not None and again.failed == [] and f"ended:{m}:mentee" in again.outcomes
    with svc.store.unit_of_work() as uow:
        assert uow.ledger.keys("ended:") == {f"ended:{m}:mentee"}, "the paused mentor is not written to"
    assert end_relationship(svc, m, "again", "lead", NOW + timedelta(hours=4)) is None


def test_an_ending_killed_before_its_effects_is_finished_by_the_next_run(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invariant 8 through a kill: the ending's commit records its effects as intended, so a process killed right
    after it (before any cancel or email was even tried) leaves them for the next run, which does each once.
    Before, nothing of the ending was in the ledger, and the rerun found "no ending left unfinished"."""
    from connectors.base import Presence
    from domain.followup import MENTOR_LEFT
    from tasks import lifecycle
    from tasks.lifecycle import end_relationship

    _a, m = _met(svc)
    with svc.store.unit_of_work() as uow:
        meeting = uow.matches.meeting(m)
    assert meeting is not None
    later = NOW + timedelta(hours=1)

    def killed(*args: object, **kwargs: object) -> None:
        raise SystemExit("killed")

    real_render = lifecycle.render_ended
    monkeypatch.setattr(lifecycle, "render_ended", killed)  # the first thing after the commit, before any effect
    with pytest.raises(SystemExit):
        end_relationship(svc, m, MENTOR_LEFT, "roster", later)
    monkeypatch.setattr(lifecycle, "render_ended", real_render)
    with svc.store.unit_of_work() as uow:
        assert not uow.matches.many([m])[m].active, "the ending itself was committed"
        assert uow.matches.unfinished_endings(MENTOR_LEFT) == [m]
        assert uow.ledger.keys("ended:") == set()
    again = end_relationship(svc, m, MENTOR_LEFT, "roster", later + timedelta(minutes=15))
    assert again is not None and again.failed == []
    assert svc.connectors.calendar.lookup(meeting.event_id) is Presence.ABSENT
    with svc.store.unit_of_work() as uow:
        assert uow.ledger.keys("ended:") == {f"ended:{m}:mentee", f"ended:{m}:mentor"}
        assert uow.matches.unfinished_endings(MENTOR_LEFT) == []
    assert end_relationship(svc, m, MENTOR_LEFT, "roster", later + timedelta(minutes=30)) is None


def test_an_intended_effect_no_longer_called_for_is_dropped(svc: Services) -> None:
    """An ending's effect intended and never tried, whose reason went (the meeting's time passed before the rerun
    came), is dropped, not left unfinished for ever (the rerun would be called on every run)."""
    from domain.followup import MENTOR_LEFT
    from tasks.lifecycle import end_relationship

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor()], NOW)
    [a] = request_ids(svc, "dana@example.org")
    [m] = approved(svc, (a, "avi@example.org"))
    start = NOW + timedelta(days=2)
    with svc.store.unit_of_work() as uow:
        uow.matches.plan_meeting(
            Meeting(match_id=m, start=start, end=start + timedelta(hours=1), event_id="evgone1234567", video_link="")
        )
        uow.matches.end(m, MENTOR_LEFT, "roster", NOW)
        uow.ledger.intend({"cancel:evgone1234567": "cancel"}, NOW)  # as a killed ending leaves it
    with svc.store.unit_of_work() as uow:
        assert uow.matches.unfinished_endings(MENTOR_LEFT) == [m]
    assert end_relationship(svc, m, MENTOR_LEFT, "roster", start + timedelta(hours=2)) is None
    with svc.store.unit_of_work() as uow:
        assert uow.matches.unfinished_endings(MENTOR_LEFT) == []

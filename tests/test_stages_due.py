"""Which pipeline stages have anything to do (domain.pipeline): a stage with work is never skipped."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.approval import ApprovalPlan, WaitingProposal
from domain.models import MatchResult, ProposedMatch, ScoreBreakdown, Unmatched
from domain.pipeline import (
    StageFacts,
    StagesDue,
    followup_due_in_store,
    invite_due,
    match_would_change,
    stages_due,
)

TZ = "Asia/Jerusalem"
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=ZoneInfo(TZ))
MIDNIGHT = datetime(2026, 11, 22, tzinfo=ZoneInfo(TZ))
PERIOD = 14


def facts(**changes: Any) -> StageFacts:
    """Nothing due: no request waiting, nothing to invite or follow up, the digest and the report done."""
    quiet: dict[str, Any] = {
        "pending_requests": 0,
        "waiting_batches": 0,
        "matches_to_invite": 0,
        "calendar_reads_replies": False,
        "upcoming_meetings": 0,
        "started_meetings": 0,
        "followup_surveys_sent": 0,
        "no_show_endings": 0,
        "survey_rows": 0,
        "released_copies": 0,
        "digest_last_end": MIDNIGHT - timedelta(days=3),
        "digest_waiting": None,
        "report_sent_today": True,
    }
    return StageFacts(**(quiet | changes))


def due(**changes: Any) -> StagesDue:
    return stages_due(facts(**changes), NOW, PERIOD, TZ)


def test_nothing_due_skips_every_stage_after_intake() -> None:
    assert due() == StagesDue(match=False, invite=False, followup=False, digest=False, report=False)


@pytest.mark.parametrize(
    ("change", "stage"),
    [
        ({"pending_requests": 1}, "match"),  # waitlisted requests are re-planned every run
        ({"waiting_batches": 1}, "match"),  # a batch waiting for the lead may time out
        ({"matches_to_invite": 1}, "invite"),
        ({"calendar_reads_replies": True, "upcoming_meetings": 1}, "invite"),  # declines to read
        ({"started_meetings": 1}, "followup"),  # surveys, booking nudges fall due from the meeting on
        ({"followup_surveys_sent": 1}, "followup"),  # reminders and closing are time-based
        ({"no_show_endings": 1}, "followup"),  # an unfinished ending is finished by a later run
        ({"survey_rows": 1}, "followup"),  # answers to take in, or set aside again for the lead
        ({"survey_rows": None}, "followup"),  # the source was not read (or could not be): run
        ({"released_copies": 1}, "digest"),
        ({"digest_waiting": (MIDNIGHT - timedelta(days=3), MIDNIGHT)}, "digest"),  # a preview waits for release
        ({"digest_last_end": MIDNIGHT - timedelta(days=PERIOD)}, "digest"),  # a period just completed
        ({"digest_last_end": None}, "digest"),  # never an issue yet
        ({"report_sent_today": False}, "report"),
    ],
)
def test_each_kind_of_work_makes_its_stage_due(change: dict[str, Any], stage: str) -> None:
    result = due(**change).model_dump()
    assert result[stage] is True
    assert [s for s, is_due in result.items() if is_due] == [stage], "only the stage the fact is about"


def test_calendar_without_replies_reads_no_declines() -> None:
    assert not due(upcoming_meetings=5).invite  # local calendar: invite has nothing to read


def test_what_match_approves_is_invited_in_the_same_run() -> None:
    assert invite_due(facts(), approved=2)
    assert not invite_due(facts(), approved=0)


def test_survey_source_is_read_only_when_the_store_does_not_decide() -> None:
    assert not followup_due_in_store(facts(survey_rows=None))
    assert followup_due_in_store(facts(started_meetings=1, survey_rows=None))


def test_a_digest_period_not_complete_yet_is_not_due() -> None:
    assert not due(digest_last_end=MIDNIGHT - timedelta(days=PERIOD - 1)).digest


# --- a match run that would change nothing; a digest preview still waiting for the lead ----------------------

HOURS = 48
PAIR = ProposedMatch(request_id=1, mentor_email="m@example.org", score=3.0, breakdown=ScoreBreakdown(), reasons=["x"])
WAITS = Unmatched(request_id=2, reason="no mentor shares a language")


def plan(now: list[ProposedMatch] | None = None, ask: list[ProposedMatch] | None = None) -> ApprovalPlan:
    """A plan approving ``now``, asking the lead about ``ask``; request 2 waits, for the reason stored."""
    return ApprovalPlan(
        actor="auto-threshold",
        approve_now=MatchResult(matches=now or [], waitlist=[WAITS]),
        ask_lead=MatchResult(matches=ask or [], waitlist=[WAITS]),
    )


def batch(result: MatchResult, age_hours: float = 1) -> WaitingProposal:
    return WaitingProposal(id=1, flow_run_id="run", created_at=NOW - timedelta(hours=age_hours), result=result)


STORED = {2: WAITS.reason}


def changes(p: ApprovalPlan, waiting: list[WaitingProposal], reasons: dict[int, str] = STORED) -> bool:
    return match_would_change(p, waiting, reasons, NOW, HOURS)


def test_a_match_run_that_would_change_nothing_is_skipped_and_one_with_work_runs() -> None:
    assert not changes(plan(), [])  # nobody can be paired now, each waits for the reason recorded
    assert not changes(plan(ask=[PAIR]), [batch(plan(ask=[PAIR]).ask_lead)]), "the same batch already waits"
    assert due(pending_requests=3, match_idle=True) == due(), "idle: match is skipped"
    assert due(pending_requests=3, match_idle=False).match


@pytest.mark.parametrize(
    ("plan_", "waiting", "reasons", "why"),
    [
        (plan(now=[PAIR]), [], STORED, "a pair approved at once (time freed a place, a mentor joined)"),
        (plan(), [], {2: "an older reason"}, "another reason why someone waits is recorded"),
        (plan(), [], {}, "a request not noted yet"),
        (plan(ask=[PAIR]), [], STORED, "a new batch for the lead"),
        (plan(ask=[PAIR]), [batch(MatchResult(matches=[], waitlist=[WAITS]))], STORED, "another batch"),
        (plan(), [batch(plan(ask=[PAIR]).ask_lead)], STORED, "a batch no longer possible is retired"),
        (plan(ask=[PAIR]), [batch(plan(ask=[PAIR]).ask_lead, age_hours=HOURS)], STORED, "the lead's time ran out"),
    ],
)
def test_each_change_a_match_run_would_make_makes_it_due(
    plan_: ApprovalPlan, waiting: list[WaitingProposal], reasons: dict[int, str], why: str
) -> None:
    assert changes(plan_, waiting, reasons), why


WAITING = (MIDNIGHT - timedelta(days=3), MIDNIGHT)  # begins where the last issue ended


def test_a_preview_waiting_for_the_lead_is_not_due_until_its_release() -> None:
    assert not due(digest_waiting=WAITING, digest_waiting_release="wait", digest_preview_mailed=True).digest
    assert due(digest_waiting=WAITING, digest_waiting_release="send", digest_preview_mailed=True).digest, (
        "approved by the lead, or its quiet period over: sent by this run"
    )
    assert due(digest_waiting=WAITING, digest_waiting_release="wait", digest_preview_mailed=False).digest, (
        "the preview's mail to the lead is not done yet"
    )
    assert due(digest_waiting=WAITING, digest_waiting_release="skip", digest_preview_mailed=True).digest
    assert due(digest_waiting=WAITING, digest_preview_mailed=True).digest, "release unknown: run"

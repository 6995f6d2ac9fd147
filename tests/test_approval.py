"""The lead approves matches: pure decision rules, and the match flow in lead mode (store-held batches)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config.settings import Settings
from domain.approval import LeadDecision, apply_decision, split_for_approval
from domain.models import MatchResult, ProposedMatch, RequestStatus, ScoreBreakdown, Unmatched, Weekday, WeeklyWindow
from mentorflow.bootstrap import build_services, use_services

TZ = ZoneInfo("Asia/Jerusalem")
DAY0 = datetime(2026, 11, 22, 9, 0, tzinfo=TZ)
WINDOW = WeeklyWindow(day=Weekday.TUE, start=time(18), end=time(20))


def proposal(request_id: int, score: float) -> ProposedMatch:
    return ProposedMatch(request_id=request_id, mentor_email=f"m{request_id}@example.org", score=score,
                         breakdown=ScoreBreakdown(topics=score), reasons=["shared: Python"], shared_windows=[WINDOW])


BATCH = MatchResult(matches=[proposal(1, 9.0), proposal(2, 4.0), proposal(3, 6.5)],
                    waitlist=[Unmatched(request_id=4, reason="no mentor shares a language")])


def test_threshold_approves_high_scores_and_leaves_the_rest_for_the_lead() -> None:
    auto, ask = split_for_approval(BATCH, 6.5)
    assert [m.request_id for m in auto] == [1, 3]
    assert [m.request_id for m in ask.matches] == [2]
    assert ask.waitlist == BATCH.waitlist
    assert split_for_approval(BATCH, None) == ([], BATCH)


@pytest.mark.parametrize(
    ("decision", "approved", "rejected"),
    [
        (LeadDecision(), [1, 2, 3], []),
        (LeadDecision(action="approve_except", except_requests=[2], note="ask about goals"), [1, 3], [2]),
        (LeadDecision(action="reject_all", note="wait for new mentors"), [], [1, 2, 3]),
    ],
)
def test_decisions(decision: LeadDecision, approved: list[int], rejected: list[int]) -> None:
    ok, no = apply_decision(BATCH, decision)
    assert [m.request_id for m in ok] == approved
    assert sorted(no) == rejected
    assert all(note == (decision.note or "turned down by the lead") for note in no.values())


@pytest.mark.usefixtures("prefect_server")
def test_lead_mode_holds_the_batch_until_the_lead_answers(data_dir: Path) -> None:
    from flows.intake import intake
    from flows.match import decide_waiting, match

    services = build_services(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    with use_services(services):
        intake(DAY0)
        held = match(DAY0, approval="lead")
        assert held.awaiting_lead == held.proposed > 0 and held.approved == 0
        store = services.store
        assert store.requests(RequestStatus.APPROVED) == []
        [batch] = store.waiting_proposals()
        turned_down = batch.result.matches[0].request_id

        # a second run proposes again: the old batch is superseded, never decided twice
        again = match(DAY0 + timedelta(hours=1), approval="lead")
        assert again.awaiting_lead == held.awaiting_lead
        [batch] = store.waiting_proposals()

        answer = decide_waiting(LeadDecision(action="approve_except", except_requests=[turned_down],
                                             note="needs a mentor in Haifa"), DAY0 + timedelta(hours=2))
        assert "approved" in answer
        assert decide_waiting(LeadDecision(), DAY0 + timedelta(hours=3)) == "No batch is waiting for approval."
    assert len(store.requests(RequestStatus.APPROVED)) == held.proposed - 1
    left = store.request(turned_down)
    assert left.status is RequestStatus.PENDING
    assert "needs a mentor in Haifa" in left.wait_reason


@pytest.mark.usefixtures("prefect_server")
def test_an_unanswered_batch_is_approved_after_the_timeout(data_dir: Path) -> None:
    from flows.intake import intake
    from flows.match import match

    services = build_services(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    hours = services.rules.matching.approval_timeout_hours
    with use_services(services):
        intake(DAY0)
        held = match(DAY0, approval="lead")
        assert services.store.requests(RequestStatus.APPROVED) == []
        match(DAY0 + timedelta(hours=hours - 1), approval="lead")  # not yet: proposes again, still waiting
        assert services.store.requests(RequestStatus.APPROVED) == []
        later = match(DAY0 + timedelta(hours=2 * hours), approval="lead")
    approved = services.store.requests(RequestStatus.APPROVED)
    assert len(approved) == held.proposed
    assert all(any(c.actor == "timeout" for c in r.timeline) for r in approved)
    assert later.awaiting_lead == 0

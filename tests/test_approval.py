"""The lead approves matches: pure decision rules, and the match flow in lead mode (store-held batches)."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from pathlib import Path
from time import monotonic, sleep
from zoneinfo import ZoneInfo

import pytest

from config.settings import Settings
from domain.approval import (
    LeadDecision,
    WaitingProposal,
    apply_decision,
    plan_approval,
    resumed_batch,
    split_for_approval,
    timed_out,
)
from domain.models import (
    MatchResult,
    MentoringRequest,
    ProposedMatch,
    RequestStatus,
    ScoreBreakdown,
    Unmatched,
    Weekday,
    WeeklyWindow,
)
from mentorflow.bootstrap import Services, build_services, use_services

TZ = ZoneInfo("Asia/Jerusalem")
DAY0 = datetime(2026, 11, 22, 9, 0, tzinfo=TZ)
WINDOW = WeeklyWindow(day=Weekday.TUE, start=time(18), end=time(20))


def approved_requests(services: Services) -> list[MentoringRequest]:
    with services.store.unit_of_work() as uow:
        return uow.requests.all(RequestStatus.APPROVED)


def proposal(request_id: int, score: float) -> ProposedMatch:
    return ProposedMatch(
        request_id=request_id,
        mentor_email=f"m{request_id}@example.org",
        score=score,
        breakdown=ScoreBreakdown(topics=score),
        reasons=["shared: Python"],
        shared_windows=[WINDOW],
    )


def every_pair_to_the_lead(data_dir: Path, monkeypatch: pytest.MonkeyPatch | None = None) -> Settings:
    """Settings whose lead mode asks about every pair (no auto-approval of confident ones, the shipped default),
    so that a test sees the whole batch wait; with ``monkeypatch`` a served run reads the same rules."""
    import yaml

    from config import CONFIG_DIR

    rules = yaml.safe_load((CONFIG_DIR / "program.yaml").read_text(encoding="utf-8"))
    rules["matching"]["auto_approve_min_score"] = None
    path = data_dir / "program-ask-all.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    if monkeypatch is not None:
        monkeypatch.setenv("MENTORFLOW_RULES_PATH", str(path))
    return Settings(data_dir=data_dir, rules_path=path, _env_file=None)  # type: ignore[call-arg]


BATCH = MatchResult(
    matches=[proposal(1, 9.0), proposal(2, 4.0), proposal(3, 6.5)],
    waitlist=[Unmatched(request_id=4, reason="no mentor shares a language")],
)


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


def test_auto_mode_approves_all_and_lead_mode_asks_below_the_threshold() -> None:
    result = MatchResult(
        matches=[proposal(1, 4.0), proposal(2, 2.0)],
        waitlist=[Unmatched(request_id=3, reason="no mentor shares a language")],
    )
    auto = plan_approval(result, "auto", 3.0)
    assert auto.actor == "auto" and auto.approve_now == result and auto.ask_lead.matches == []
    lead = plan_approval(result, "lead", 3.0)
    assert lead.actor == "auto-threshold"
    assert [m.request_id for m in lead.approve_now.matches] == [1] and lead.approve_now.waitlist == result.waitlist
    assert [m.request_id for m in lead.ask_lead.matches] == [2]
    assert plan_approval(result, "lead", None).approve_now.matches == []


def test_a_resumed_run_decides_its_own_batch_and_stale_ones_time_out() -> None:
    empty = MatchResult(matches=[], waitlist=[])
    old = WaitingProposal(id=1, flow_run_id="run-a", created_at=DAY0, result=empty)
    new = WaitingProposal(id=2, flow_run_id="run-b", created_at=DAY0 + timedelta(hours=47), result=empty)
    assert resumed_batch([old, new], "run-b") == new
    assert resumed_batch([old, new], "run-c") is None
    assert timed_out([old, new], DAY0 + timedelta(hours=48), 48) == [old]
    assert timed_out([old, new], DAY0 + timedelta(hours=47, minutes=59), 48) == []


def approved_events(by: str, wait: float = 30.0) -> list[int]:
    """The counts of ``mentorflow.matches.approved`` events from ``mentorflow.match`` sent by ``by``."""
    from prefect import get_client

    from tasks.events import MATCHES_APPROVED

    deadline = monotonic() + wait
    while True:  # the server stores incoming events in batches, a few seconds apart
        with get_client(sync_client=True) as client:
            answer = client.request(
                "POST",
                "/events/filter",
                json={"filter": {"event": {"name": [MATCHES_APPROVED]}, "resource": {"id": ["mentorflow.match"]}}},
            )
        counts = [e["payload"]["count"] for e in answer.json()["events"] if e["payload"].get("by") == by]
        if counts or monotonic() > deadline:
            return counts
        sleep(0.5)


def test_a_batch_whose_pairs_a_later_run_could_not_propose_again_is_never_approved_on_time_out(
    data_dir: Path,
) -> None:
    """issue #10, found by the simulator (seed 2, invariant 2): a batch waited for the lead; the next run re-planned
    its mentees, the proposed mentor's place was gone (taken by a newcomer approved at once), the run asked
    nothing new, so the old batch stayed waiting and was approved on time-out: four mentees for a capacity of
    three. A run that asks the lead nothing now retires the batches still waiting."""
    from flows.intake import intake
    from flows.match import match

    services = build_services(every_pair_to_the_lead(data_dir))
    hours = services.rules.matching.approval_timeout_hours
    with use_services(services):
        intake(DAY0)
        held = match(DAY0, approval="lead")
        assert held.awaiting_lead > 0
        with services.store.unit_of_work() as uow:  # every place is gone before the next run
            full = [m.model_copy(update={"capacity": 0}) for m in uow.roster.mentors()]
            uow.roster.sync(full, DAY0 + timedelta(hours=1))
        again = match(DAY0 + timedelta(hours=2), approval="lead")
        assert again.proposed == 0
        with services.store.unit_of_work() as uow:
            assert uow.matches.waiting_proposals() == []
        match(DAY0 + timedelta(hours=2 * hours), approval="lead")
    assert approved_requests(services) == [], "nothing approved for mentors who have no place"


@pytest.mark.usefixtures("prefect_server")
def test_lead_mode_holds_the_batch_until_the_lead_answers(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL

    from flows.intake import intake
    from flows.match import match
    from mentorflow.lead import decide_waiting

    services = build_services(every_pair_to_the_lead(data_dir))
    with use_services(services):
        intake(DAY0)
        held = match(DAY0, approval="lead")
        assert held.awaiting_lead == held.proposed > 0 and held.approved == 0
        store = services.store
        with store.unit_of_work() as uow:
            assert uow.requests.all(RequestStatus.APPROVED) == []
            [batch] = uow.matches.waiting_proposals()
        turned_down = batch.result.matches[0].request_id

        # a second run proposes again: the old batch is superseded, never decided twice
        again = match(DAY0 + timedelta(hours=1), approval="lead")
        assert again.awaiting_lead == held.awaiting_lead
        with store.unit_of_work() as uow:
            [batch] = uow.matches.waiting_proposals()

        monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))  # as the lead's shell has it
        answer = decide_waiting(
            store,
            LeadDecision(action="approve_except", except_requests=[turned_down], note="needs a mentor in Haifa"),
            DAY0 + timedelta(hours=2),
        )
        assert "approved" in answer
        # the CLI's approval starts invite within minutes, as the form's does: the event invite's trigger expects
        assert approved_events(by="lead") == [held.proposed - 1]
        assert decide_waiting(store, LeadDecision(), DAY0 + timedelta(hours=3)) == "No batch is waiting for approval."
    with store.unit_of_work() as uow:
        assert len(uow.requests.all(RequestStatus.APPROVED)) == held.proposed - 1
        left = uow.requests.get(turned_down)
    assert left.status is RequestStatus.PENDING
    assert "needs a mentor in Haifa" in left.wait_reason


@pytest.mark.usefixtures("prefect_server")
def test_an_unanswered_batch_is_approved_after_the_timeout(data_dir: Path) -> None:
    from flows.intake import intake
    from flows.match import match

    services = build_services(every_pair_to_the_lead(data_dir))
    hours = services.rules.matching.approval_timeout_hours
    with use_services(services):
        intake(DAY0)
        held = match(DAY0, approval="lead")
        assert approved_requests(services) == []
        match(DAY0 + timedelta(hours=hours - 1), approval="lead")  # not yet: proposes again, still waiting
        assert approved_requests(services) == []
        later = match(DAY0 + timedelta(hours=2 * hours), approval="lead")
    approved = approved_requests(services)
    assert len(approved) == held.proposed
    assert all(any(c.actor == "timeout" for c in r.timeline) for r in approved)
    assert later.awaiting_lead == 0


@pytest.mark.usefixtures("prefect_server")
def test_a_deployed_match_run_suspends_frees_its_worker_and_resumes_with_the_leads_answer(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real thing: a served deployment suspends for the lead; resuming with the form's input re-runs it."""
    import asyncio
    import threading
    import time as clock

    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.flow_runs import resume_flow_run
    from prefect.input.run_input import keyset_from_paused_state
    from prefect.runner import Runner
    from prefect.settings import PREFECT_API_URL

    from flows.intake import intake
    from flows.match import match

    monkeypatch.setenv("MENTORFLOW_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))
    services = build_services(every_pair_to_the_lead(data_dir, monkeypatch))
    with use_services(services):
        intake(DAY0)

    runner = Runner(name="approval-test", query_seconds=1, limit=2, pause_on_shutdown=False)
    runner.add_flow(match, name="approval-test")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(runner.start(),), daemon=True)
    thread.start()

    def state_of(run_id):  # type: ignore[no-untyped-def]
        with get_client(sync_client=True) as client:
            return client.read_flow_run(run_id).state

    def wait_for(predicate, what: str, seconds: float = 120):  # type: ignore[no-untyped-def]
        deadline = clock.monotonic() + seconds
        while clock.monotonic() < deadline:
            if predicate():
                return
            clock.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}")

    try:
        run = run_deployment(
            "match/approval-test", parameters={"as_of": DAY0.isoformat(), "approval": "lead"}, timeout=0
        )
        wait_for(lambda: state_of(run.id).is_paused(), "the run to suspend")
        assert state_of(run.id).name == "Suspended", "suspended (process gone), not paused (process held)"
        with services.store.unit_of_work() as uow:
            [batch] = uow.matches.waiting_proposals()
        assert batch.flow_run_id == str(run.id)
        # the form the lead sees: in the program's language (Hebrew), explaining its choices, listing the batch
        keyset = keyset_from_paused_state(state_of(run.id))
        with get_client(sync_client=True) as client:
            text = json.loads(client.read_flow_run_input(run.id, keyset["description"]))
            schema = json.loads(client.read_flow_run_input(run.id, keyset["schema"]))
        assert text.startswith('<div dir="rtl">') and f"אצווה {batch.id}" in text and "`reject_all`" in text
        assert all(f"| {m.request_id} |" in text for m in batch.result.matches)
        assert schema["properties"]["action"]["title"] == "פעולה"
        assert approved_requests(services) == []
        turned_down = batch.result.matches[0].request_id

        resume_flow_run(
            run.id, run_input={"action": "approve_except", "except_requests": [turned_down], "note": "lead will call"}
        )
        wait_for(lambda: state_of(run.id).is_final(), "the resumed run to finish")
        assert state_of(run.id).is_completed()
    finally:
        asyncio.run_coroutine_threadsafe(runner.astop(), loop).result(timeout=30)
        thread.join(timeout=30)

    with services.store.unit_of_work() as uow:
        assert uow.matches.waiting_proposals() == []
        turned_down_reason = uow.requests.get(turned_down).wait_reason
    approved = approved_requests(services)
    assert len(approved) == len(batch.result.matches) - 1
    assert all(any(c.actor == "lead" for c in r.timeline) for r in approved)
    assert turned_down_reason.endswith("lead will call")


@pytest.mark.usefixtures("prefect_server")
def test_an_ended_match_frees_the_mentor_and_the_mentee_is_matched_again_elsewhere(data_dir: Path) -> None:
    from typer.testing import CliRunner

    from flows.intake import intake
    from flows.match import match
    from mentorflow.cli import app

    services = build_services(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    with use_services(services):
        intake(DAY0)
        match(DAY0, approval="auto")
    store = services.store
    with store.unit_of_work() as uow:
        request = uow.requests.all(RequestStatus.APPROVED)[0]
        [match_id] = [m for m in uow.matches.to_invite() if uow.matches.get(m).request_id == request.id]
        first_mentor = str(uow.matches.get(match_id).mentor_email)
        load_before = uow.matches.mentor_load().get(first_mentor, 0)

    result = CliRunner().invoke(
        app, ["end-match", str(match_id), "--reason", "mentor moved abroad"], env={"MENTORFLOW_DATA_DIR": str(data_dir)}
    )
    assert result.exit_code == 0 and "ended" in result.output
    with store.unit_of_work() as uow:
        assert uow.matches.mentor_load().get(first_mentor, 0) == load_before - 1
        again = uow.requests.get(request.id)
    assert again.status is RequestStatus.PENDING and again.previous_mentors == [first_mentor]
    assert again.waiting_since == request.waiting_since, "keeps its place in the queue"

    with use_services(services):
        match(DAY0 + timedelta(days=1), approval="auto")
    with store.unit_of_work() as uow:
        invited = uow.matches.many(uow.matches.to_invite())
    [rematched] = [m for m in invited.values() if m.request_id == request.id]
    assert str(rematched.mentor_email) != first_mentor


@pytest.mark.usefixtures("prefect_server")
def test_a_run_suspended_for_a_batch_is_closed_when_the_batch_is_superseded_answered_elsewhere_or_timed_out(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Invariant 3 (issue #10's bullets): a second match run replaced the waiting batch and resuming the older run
    applied the lead's answer to a batch they never saw; `mentorflow approve` left the suspended UI run waiting (a
    later Resume approved what the CLI refused); an unanswered approval ended as a red Failed run. Now a superseded
    run is Cancelled, a CLI-answered one and a timed-out one Completed: no form is left to decide later."""
    from prefect import flow as prefect_flow
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL
    from prefect.states import Suspended

    from flows.intake import intake
    from flows.match import match
    from mentorflow.lead import decide_waiting

    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))

    @prefect_flow(name="match-stand-in")
    def stand_in() -> None:
        """A match run of a deployment, suspended for the lead's form (made here without a worker)."""

    def suspended_run() -> str:
        with get_client(sync_client=True) as client:
            return str(client.create_flow_run(stand_in, state=Suspended(pause_key="match-approval")).id)

    def state_of(run_id: str) -> str:
        from uuid import UUID

        with get_client(sync_client=True) as client:
            state = client.read_flow_run(UUID(run_id)).state
        assert state is not None
        return state.type.value

    def suspend_for_the_waiting_batch(run_id: str) -> None:
        with services.store.unit_of_work() as uow:
            [batch] = uow.matches.waiting_proposals()
            uow.matches.save_proposal(batch.result, run_id, batch.created_at)  # this run keeps (and waits for) it

    services = build_services(every_pair_to_the_lead(data_dir))
    hours = services.rules.matching.approval_timeout_hours
    with use_services(services):
        intake(DAY0)
        match(DAY0, approval="lead")
        older = suspended_run()
        suspend_for_the_waiting_batch(older)
        assert state_of(older) == "PAUSED"
        match(DAY0 + timedelta(hours=1), approval="lead")  # a newer batch supersedes the older run's
        assert state_of(older) == "CANCELLED", "the superseded run's form can no longer decide"

        unanswered = suspended_run()
        suspend_for_the_waiting_batch(unanswered)
        match(DAY0 + timedelta(hours=1 + hours), approval="lead")  # the next run approves it after the time-out
        assert state_of(unanswered) == "COMPLETED", "timed out: Completed, not Failed"

        answered = suspended_run()
        with services.store.unit_of_work() as uow:
            uow.matches.save_proposal(MatchResult(matches=[], waitlist=[]), answered, DAY0 + timedelta(hours=50))
        decide_waiting(services.store, LeadDecision(), DAY0 + timedelta(hours=51))
        assert state_of(answered) == "COMPLETED", "answered with `mentorflow approve`: the UI run is closed"


def test_the_approval_form_speaks_the_leads_language_and_cannot_approve_the_exceptions() -> None:
    from domain.approval import ProposalLine, decision_form, form_description

    hebrew, english = decision_form("he"), decision_form("en")
    assert hebrew.model_json_schema()["properties"]["except_requests"]["title"] == "חוץ מ (מספרי בקשות)"
    assert english.model_json_schema()["properties"]["note"]["title"] == "Note"
    # the form's default action stays "approve all": ids typed under "except" still mean "not these"
    answer = hebrew.model_validate({"except_requests": [7]})
    assert isinstance(answer, LeadDecision) and answer.action == "approve_except"
    lines = [ProposalLine(request_id=7, mentee="Dana | <b>x</b>", mentor="Avi", score=0.81, reasons=["Python"])]
    text = form_description("he", 3, lines, 48)
    assert text.startswith('<div dir="rtl">') and "48 שעות" in text and "| 7 |" in text
    assert "<b>" not in text and "Dana \\| " in text  # people's text is escaped in the markdown
    assert not form_description("en", 3, lines, 48).startswith("<div")

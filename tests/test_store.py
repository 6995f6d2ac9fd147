"""The store and its ledger, on SQLite and on PostgreSQL (same tests, both engines)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, update

from connectors.base import MailError, OutcomeUnknown, Presence
from domain.models import (
    IllegalTransition,
    Meeting,
    MenteeApplication,
    Mentor,
    ProposedMatch,
    RequestStatus,
    Role,
    ScoreBreakdown,
    SetAside,
    SurveyAnswer,
    Weekday,
    WeeklyWindow,
)
from store.ledger import LedgerEntry, Outcome, do_once
from store.tables import RequestRow
from store.uow import Store

T0 = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
TUE = WeeklyWindow(day=Weekday.TUE, start=time(18), end=time(20))


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "sqlite":
        return Store.open(request.getfixturevalue("store_url"))
    url = request.getfixturevalue("postgres_url")
    s = Store.open(url)
    _wipe(s)
    return s


def _wipe(store: Store) -> None:
    from store.tables import Base

    with store.unit_of_work() as uow:
        for table in reversed(Base.metadata.sorted_tables):
            uow.session.execute(table.delete())


def app(email: str = "dana@example.org", at: datetime = T0, goals: str = "", rid: str = "r1") -> MenteeApplication:
    return MenteeApplication(
        response_id=rid,
        submitted_at=at,
        name="Dana",
        email=email,
        languages=["he"],
        topics=["python"],
        career_stage=1,
        goals=goals,
        availability=[TUE],
        consent_contact=True,
    )


def mentor(email: str = "avi@example.org", capacity: int = 2) -> Mentor:
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


def save(store: Store, *apps: MenteeApplication, now: datetime = T0) -> dict[str, int]:
    """One intake batch in its own unit of work; the counts it reports."""
    with store.unit_of_work() as uow:
        return dict(uow.requests.save_applications(list(apps), now))


def one(counts: dict[str, int]) -> str:
    """The single outcome of a one-answer batch."""
    [outcome] = [k for k, n in counts.items() if n]
    return outcome


def test_second_submission_updates_the_open_request(store: Store) -> None:
    assert one(save(store, app())) == "created"
    assert one(save(store, app())) == "unchanged"
    later = app(at=T0 + timedelta(hours=1), goals="open source", rid="r2")
    assert one(save(store, later, now=T0 + timedelta(hours=1))) == "updated"
    older = app(at=T0 - timedelta(hours=1), goals="stale", rid="r0")
    assert one(save(store, older, now=T0 + timedelta(hours=2))) == "unchanged"
    with store.unit_of_work() as uow:
        [req] = uow.requests.all()
    assert req.application.goals == "open source"
    assert [c.note for c in req.timeline] == ["application received", "application updated by a later answer"]


def test_answers_in_one_batch_count_as_they_would_one_by_one(store: Store) -> None:
    later = app(at=T0 + timedelta(hours=1), goals="open source", rid="r2")
    older = app(at=T0 - timedelta(hours=1), goals="stale", rid="r0")
    other = app("noa@example.org", rid="r9")
    # oldest first: the older answer opens the request, the first updates it, the later one again
    assert save(store, later, app(), older, other, app()) == {"created": 2, "updated": 2, "unchanged": 1}
    with store.unit_of_work() as uow:
        dana, noa = uow.requests.all()
    assert dana.application.goals == "open source" and dana.application.response_id == "r2"
    assert [c.note for c in dana.timeline] == ["application received"] + ["application updated by a later answer"] * 2
    assert noa.application.email == "noa@example.org"


def test_email_is_matched_case_insensitively(store: Store) -> None:
    save(store, app("Dana@Example.org"))
    save(store, app("dana@example.org", at=T0 + timedelta(minutes=5), goals="x"))
    with store.unit_of_work() as uow:
        assert len(uow.requests.all()) == 1


def test_an_edit_that_changes_the_email_updates_the_same_request(store: Store) -> None:
    assert one(save(store, app())) == "created"
    edit = app("dana.new@example.org", at=T0 + timedelta(hours=1), goals="edited")  # same response id
    assert one(save(store, edit, now=T0 + timedelta(hours=1))) == "updated"
    assert one(save(store, app("noa@example.org", rid="r2"))) == "created"  # another response: another request
    with store.unit_of_work() as uow:
        dana, noa = uow.requests.all()
        assert list(uow.requests.open_of(["dana.new@example.org", "dana@example.org"])) == ["dana.new@example.org"]
    assert (dana.application.email, dana.application.goals) == ("dana.new@example.org", "edited")
    assert [c.note for c in dana.timeline] == ["application received", "application updated by a later answer"]
    assert noa.application.email == "noa@example.org"


def test_an_answer_and_its_edit_with_a_new_email_in_one_batch_open_one_request(store: Store) -> None:
    edit = app("dana.new@example.org", at=T0 + timedelta(hours=1))
    assert save(store, edit, app()) == {"created": 1, "updated": 1, "unchanged": 0}
    with store.unit_of_work() as uow:
        [req] = uow.requests.all()
    assert req.application.email == "dana.new@example.org"
    # the old address no longer names the request: a new answer from it is a new request
    assert one(save(store, app(at=T0 + timedelta(hours=2), rid="r3"), now=T0 + timedelta(hours=2))) == "created"


def test_an_edit_with_a_new_email_of_an_answer_whose_request_is_over_opens_nothing(store: Store) -> None:
    save(store, app())
    with store.unit_of_work() as uow:
        [req] = uow.requests.all()
        uow.requests.transition(req.id, RequestStatus.CANCELED, "mentee", "withdrew", T0)
    edit = app("dana.new@example.org", at=T0 + timedelta(hours=1))
    assert one(save(store, edit, now=T0 + timedelta(hours=1))) == "unchanged"  # invariant 5
    with store.unit_of_work() as uow:
        assert [r.status for r in uow.requests.all()] == [RequestStatus.CANCELED]


def test_lifecycle_is_enforced_and_recorded(store: Store) -> None:
    save(store, app())
    with store.unit_of_work() as uow:
        [req] = uow.requests.all()
        with pytest.raises(IllegalTransition):
            uow.requests.transition(req.id, RequestStatus.MET, "test", "", T0)
        uow.requests.transition(req.id, RequestStatus.CANCELED, "lead", "moved abroad", T0)
        assert uow.requests.get(req.id).status is RequestStatus.CANCELED
    # a closed request does not block a new answer of the same person; the old answer read again is not new
    later = T0 + timedelta(days=30)
    assert one(save(store, app(at=later), now=later)) == "unchanged"
    assert one(save(store, app(at=later, rid="r2"), now=later)) == "created"


def test_last_weeks_waitlist_is_read_back_from_the_timeline(store: Store) -> None:
    save(store, app(), app("noa@example.org", rid="r2"))  # both waiting since T0
    save(store, app("yael@example.org", rid="r3"), now=T0 + timedelta(days=3))
    with store.unit_of_work() as uow:
        dana, noa, _ = sorted(uow.requests.all(), key=lambda r: r.id)
        uow.requests.transition(dana.id, RequestStatus.APPROVED, "lead", "", T0 + timedelta(days=2))
        uow.requests.transition(noa.id, RequestStatus.CANCELED, "mentee", "", T0 + timedelta(days=5))
    with store.unit_of_work() as uow:
        assert uow.requests.waiting_at(T0 - timedelta(days=1)) == []
        assert uow.requests.waiting_at(T0 + timedelta(days=1)) == [T0, T0]
        assert sorted(uow.requests.waiting_at(T0 + timedelta(days=4))) == [T0, T0 + timedelta(days=3)]
        assert uow.requests.waiting_at(T0 + timedelta(days=6)) == [T0 + timedelta(days=3)]


def test_match_lifecycle_load_and_history(store: Store) -> None:
    save(store, app())
    with store.unit_of_work() as uow:
        uow.roster.sync([mentor()], T0)
        [req] = uow.requests.all()
        [match_id] = uow.matches.approve([proposal(req.id)], "auto", T0)
    with store.unit_of_work() as uow:
        assert uow.matches.approve([proposal(req.id)], "auto", T0) == []  # already matched: left alone
        assert uow.matches.mentor_load() == {"avi@example.org": 1}
        assert uow.matches.to_invite() == [match_id]
        meeting = Meeting(
            match_id=match_id,
            start=T0 + timedelta(days=3),
            end=T0 + timedelta(days=3, hours=1),
            event_id="abcdef12345",
            video_link="https://meet.example.org/x",
        )
        assert uow.matches.plan_meeting(meeting) == meeting
    with store.unit_of_work() as uow:
        moved = meeting.model_copy(update={"start": T0 + timedelta(days=9)})
        assert uow.matches.plan_meeting(moved).start == meeting.start  # a rerun keeps the first plan
        uow.matches.mark_scheduled(match_id, "file.ics", T0)
        uow.matches.mark_scheduled(match_id, "file.ics", T0)
        assert uow.requests.get(req.id).status is RequestStatus.SCHEDULED
        assert uow.matches.to_invite() == []
    # a cancelled match frees the mentor and sends the mentee back, remembering the former mentor
    with store.unit_of_work() as uow:
        assert uow.matches.end(match_id, "mentor declined", "invite", T0)
    with store.unit_of_work() as uow:
        again = uow.requests.get(req.id)
        assert again.status is RequestStatus.PENDING
        assert again.previous_mentors == ["avi@example.org"]
        assert uow.matches.mentor_load() == {}


def test_waitlist_and_set_aside_are_kept_once(store: Store) -> None:
    save(store, app())
    bad = [SetAside(source="file:x.csv", ref="row 3", reasons=["email: not a valid address"])]
    with store.unit_of_work() as uow:
        [req] = uow.requests.all()
        uow.requests.note_waiting({req.id: "no mentor shares a language"}, T0)
        assert uow.requests.record_set_aside(bad + bad, "mentee", T0) == 1
    with store.unit_of_work() as uow:
        assert uow.requests.record_set_aside(bad, "mentee", T0 + timedelta(hours=1)) == 0
        report = uow.reporting.status_report()
    assert report.waiting == [(req.id, "no mentor shares a language")]
    assert [(s.ref, s.reasons) for s in report.set_aside] == [("row 3", ["email: not a valid address"])]
    assert report.set_aside[0].last_seen_at == T0 + timedelta(hours=1)
    assert report.requests_by_status["pending"] == 1


def test_survey_answers_keep_the_newest_per_match_and_role(store: Store) -> None:
    save(store, app())
    with store.unit_of_work() as uow:
        uow.roster.sync([mentor()], T0)
        [match_id] = uow.matches.approve([proposal(uow.requests.all()[0].id)], "auto", T0)
    first = SurveyAnswer(
        match_id=match_id,
        role=Role.MENTEE,
        submitted_at=T0,
        satisfaction=3,
        met=True,
        still_in_touch=True,
        adopted_idea=False,
    )
    with store.unit_of_work() as uow:
        assert uow.followup.add_survey_answers([first, first]) == 1
    newer = first.model_copy(update={"submitted_at": T0 + timedelta(hours=1), "satisfaction": 5})
    with store.unit_of_work() as uow:
        assert uow.followup.add_survey_answers([newer, first]) == 1
        [kept] = uow.followup.survey_answers()
        assert kept.satisfaction == 5
        unknown = first.model_copy(update={"match_id": 999})
        assert uow.followup.add_survey_answers([unknown]) == 0


def test_roster_sync_adds_updates_and_keeps(store: Store) -> None:
    with store.unit_of_work() as uow:
        assert uow.roster.sync([mentor(), mentor("noa@example.org")], T0) == (2, 0)
    with store.unit_of_work() as uow:
        assert uow.roster.sync([mentor(capacity=3)], T0) == (0, 1)  # noa absent: kept
        assert [m.capacity for m in uow.roster.mentors()] == [3, 2]


def test_datetimes_come_back_aware_in_utc(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.requests.set_watermark("src", "w0", T0)
        uow.requests.set_watermark("src", "w1", datetime(2026, 11, 22, 9, 0, tzinfo=UTC))
    save(store, app())
    with store.unit_of_work() as uow:
        [req] = uow.requests.all()
        assert uow.requests.watermark("src") == "w1"
    assert req.created_at == T0 and req.created_at.tzinfo is not None


# --- the ledger ---------------------------------------------------------------------------------------


class Effect:
    """A side effect with state: how often it really happened, and what lookup can tell."""

    def __init__(self, presence_known: bool = True) -> None:
        self.performed = 0
        self.presence_known = presence_known
        self.fail_with: Exception | None = None

    def perform(self) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        self.performed += 1
        return f"ref-{self.performed}"

    def lookup(self) -> Presence:
        if not self.presence_known:
            return Presence.UNKNOWN
        return Presence.DONE if self.performed else Presence.ABSENT


def ledger(store: Store, key: str) -> LedgerEntry | None:
    with store.unit_of_work() as uow:
        return uow.ledger.get(key)


def test_do_once_performs_once_and_skips_after(store: Store) -> None:
    e = Effect()
    assert do_once(store, "k", "mail", e.perform, e.lookup, T0) is Outcome.PERFORMED
    assert do_once(store, "k", "mail", e.perform, e.lookup, T0) is Outcome.ALREADY_DONE
    assert e.performed == 1
    entry = ledger(store, "k")
    assert entry is not None and entry.status == "done" and entry.provider_ref == "ref-1"


def test_a_known_failure_is_retried_later(store: Store) -> None:
    e = Effect()
    e.fail_with = MailError("rejected")
    with pytest.raises(MailError):
        do_once(store, "k", "mail", e.perform, e.lookup, T0)
    assert ledger(store, "k").status == "failed"  # type: ignore[union-attr]
    e.fail_with = None
    assert do_once(store, "k", "mail", e.perform, e.lookup, T0) is Outcome.PERFORMED
    assert e.performed == 1


def test_a_crash_after_the_effect_is_found_by_lookup_not_repeated(store: Store) -> None:
    e = Effect()

    def perform_then_die() -> str:
        e.perform()
        raise SystemExit("killed")  # the process dies before recording the outcome

    with pytest.raises(SystemExit):
        do_once(store, "k", "event", perform_then_die, e.lookup, T0)
    assert ledger(store, "k").status == "pending"  # type: ignore[union-attr]
    assert do_once(store, "k", "event", e.perform, e.lookup, T0) is Outcome.FOUND_DONE
    assert e.performed == 1


def test_a_crash_before_the_effect_performs_on_rerun(store: Store) -> None:
    e = Effect()

    def die() -> str:
        raise SystemExit("killed")

    with pytest.raises(SystemExit):
        do_once(store, "k", "event", die, e.lookup, T0)
    assert do_once(store, "k", "event", e.perform, e.lookup, T0) is Outcome.PERFORMED
    assert e.performed == 1


def test_unknown_outcome_with_a_blind_provider_waits_for_the_lead(store: Store) -> None:
    e = Effect(presence_known=False)
    e.fail_with = OutcomeUnknown("timeout after sending")
    with pytest.raises(OutcomeUnknown):
        do_once(store, "k", "mail", e.perform, e.lookup, T0)
    e.fail_with = None
    assert do_once(store, "k", "mail", e.perform, e.lookup, T0) is Outcome.UNCERTAIN
    assert do_once(store, "k", "mail", e.perform, e.lookup, T0) is Outcome.UNCERTAIN
    assert e.performed == 0
    with store.unit_of_work() as uow:
        assert uow.reporting.status_report().uncertain_keys == ["k"]
        assert uow.ledger.release("k", T0)
    assert do_once(store, "k", "mail", e.perform, e.lookup, T0) is Outcome.PERFORMED
    assert e.performed == 1


def _ledger_in_every_state(store: Store, prefix: str) -> None:
    """One key per status, each after one attempt that left a token (``tok``) on it."""
    with store.unit_of_work() as uow:
        for status in ("pending", "failed", "done", "uncertain"):
            uow.ledger.begin(f"{prefix}{status}", "mail", T0)
            uow.ledger.finish(f"{prefix}{status}", status, T0, provider_ref="tok", error="e")  # type: ignore[arg-type]


def test_begin_many_claims_new_keys_and_gives_pending_and_failed_ones_a_new_attempt(store: Store) -> None:
    _ledger_in_every_state(store, "k-")
    later = T0 + timedelta(hours=1)
    keys = ["k-new", "k-pending", "k-failed", "k-done", "k-uncertain", "k-new"]
    with store.unit_of_work() as uow:
        before = uow.ledger.begin_many(keys, "mail", later)
    assert set(before) == set(keys)
    assert (before["k-new"].status, before["k-new"].attempts, before["k-new"].updated_at) == ("pending", 0, later)
    for status in ("pending", "failed", "done", "uncertain"):
        entry = before[f"k-{status}"]
        assert (entry.status, entry.attempts, entry.provider_ref, entry.updated_at) == (status, 1, "tok", T0)
    after = {k: ledger(store, k) for k in keys}
    assert all(e is not None for e in after.values())
    got = {k: (e.status, e.attempts, e.provider_ref, e.updated_at) for k, e in after.items() if e is not None}
    assert got == {
        "k-new": ("pending", 1, "", later),
        "k-pending": ("pending", 2, "tok", later),  # a token still in flight: the next send settles it
        "k-failed": ("pending", 2, "", later),  # known not sent: its token goes
        "k-done": ("done", 1, "tok", T0),
        "k-uncertain": ("uncertain", 1, "tok", T0),
    }
    with store.unit_of_work() as uow:
        uow.ledger.finish_many([("k-new", "ref-new"), ("k-failed", "ref-failed")], later)
    for key, ref in (("k-new", "ref-new"), ("k-failed", "ref-failed")):
        entry = ledger(store, key)
        assert entry is not None and (entry.status, entry.provider_ref, entry.error) == ("done", ref, "")
    pending = ledger(store, "k-pending")
    assert pending is not None and pending.status == "pending"


def test_begin_many_and_finish_many_take_the_same_statements_for_5_or_50(store: Store) -> None:
    counts = []
    for n in (5, 50):
        for i in range(n):
            _ledger_in_every_state(store, f"n{n}-{i}-")
        keys = [f"n{n}-{i}-{s}" for i in range(n) for s in ("new", "pending", "failed", "done", "uncertain")]
        with statements(store) as begun, store.unit_of_work() as uow:
            uow.ledger.begin_many(keys, "mail", T0)
        with statements(store) as finished, store.unit_of_work() as uow:
            uow.ledger.finish_many([(k, "ref") for k in keys if k.endswith(("new", "failed"))], T0)
        counts.append((len(begun), len(finished)))
    assert counts[0] == counts[1], counts


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    Store.open(url)
    store = Store.open(url)
    assert store.install_id() == store.install_id()


def test_meetings_held_count_by_meeting_date_once_confirmed(store: Store) -> None:
    save(store, app())
    start = T0 + timedelta(days=3)
    week = (T0, T0 + timedelta(days=7))
    with store.unit_of_work() as uow:
        uow.roster.sync([mentor()], T0)
        [req] = uow.requests.all()
        [match_id] = uow.matches.approve([proposal(req.id)], "auto", T0)
        uow.matches.plan_meeting(
            Meeting(
                match_id=match_id, start=start, end=start + timedelta(hours=1), event_id="abcdef12345", video_link=""
            )
        )
        uow.matches.mark_scheduled(match_id, "", T0)
        assert uow.matches.meetings_held(*week) == 0, "not held until a survey says so"
        uow.requests.transition(req.id, RequestStatus.MET, "followup", "survey says they met", T0 + timedelta(days=20))
        assert uow.matches.meetings_held(*week) == 1, "counted in the week it took place, not when confirmed"
        assert uow.matches.meetings_held(T0 + timedelta(days=14), T0 + timedelta(days=28)) == 0


# --- units of work: what belongs together commits together ---------------------------------------------


def test_an_exception_inside_a_unit_of_work_leaves_nothing_of_it(store: Store) -> None:
    bad = [SetAside(source="file:x.csv", ref="row 3", reasons=["email: not a valid address"])]
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        uow.requests.save_applications([app(), app("noa@example.org", rid="r2")], T0)
        uow.requests.record_set_aside(bad, "mentee", T0)
        uow.requests.set_watermark("src", "w1", T0)
        raise RuntimeError("the run dies before the batch is done")
    with store.unit_of_work() as uow:
        assert uow.requests.all() == []
        assert uow.requests.watermark("src") is None
        assert uow.reporting.status_report().set_aside == []


def test_a_lead_decision_that_fails_halfway_leaves_the_proposal_waiting(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from domain.models import MatchResult
    from store.requests import RequestRepository
    from tasks.matching import save_decision

    save(store, app(), app("noa@example.org", rid="r2"))
    with store.unit_of_work() as uow:
        uow.roster.sync([mentor()], T0)
        dana, noa = uow.requests.all()
        batch = MatchResult(matches=[proposal(dana.id), proposal(noa.id)], waitlist=[])
        proposal_id = uow.matches.save_proposal(batch, "run-1", T0)

    def fail(*_: object) -> None:
        raise RuntimeError("the database went away mid-decision")

    monkeypatch.setattr(RequestRepository, "note_waiting", fail)
    decision = {"action": "approve_except", "except_requests": [noa.id], "note": ""}
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        save_decision(uow, batch, [proposal(dana.id)], {noa.id: ""}, "lead", T0, (proposal_id, decision))
    with store.unit_of_work() as uow:
        assert [p.id for p in uow.matches.waiting_proposals()] == [proposal_id]
        assert uow.requests.all(RequestStatus.APPROVED) == []
        assert uow.matches.mentor_load() == {}
    monkeypatch.undo()
    with store.unit_of_work() as uow:  # the same decision, now whole
        assert save_decision(uow, batch, [proposal(dana.id)], {noa.id: ""}, "lead", T0, (proposal_id, decision))
    with store.unit_of_work() as uow:
        assert uow.matches.waiting_proposals() == []
        assert [r.id for r in uow.requests.all(RequestStatus.APPROVED)] == [dana.id]
        assert uow.requests.get(noa.id).wait_reason == "proposal rejected by the lead"
        # decided once: a second answer to the same batch records nothing
        assert save_decision(uow, batch, [proposal(noa.id)], {}, "lead", T0, (proposal_id, decision)) is None


# --- set-based reads and writes: the number of statements does not grow with the batch ---------------


@contextmanager
def statements(store: Store) -> Iterator[list[str]]:
    """Every SQL statement sent to the database inside the block."""
    seen: list[str] = []

    def record(conn: object, cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def batch(n: int, start: int = 0, at: datetime = T0) -> list[MenteeApplication]:
    return [app(f"m{i}@example.org", at=at, rid=f"r{i}") for i in range(start, start + n)]


def test_saving_applications_takes_the_same_statements_for_5_or_50(store: Store) -> None:
    counts = []
    for n, start in ((5, 0), (50, 100)):
        fresh = batch(n, start)
        with statements(store) as new_ones, store.unit_of_work() as uow:
            uow.requests.save_applications(fresh, T0)
        later = [a.model_copy(update={"goals": "new goals", "submitted_at": T0 + timedelta(hours=1)}) for a in fresh]
        with statements(store) as updates, store.unit_of_work() as uow:
            assert uow.requests.save_applications(later + fresh, T0)["updated"] == n
        counts.append((len(new_ones), len(updates)))
    assert counts[0] == counts[1], counts


def test_listing_requests_and_approving_take_the_same_statements_for_5_or_50(store: Store) -> None:
    with store.unit_of_work() as uow:
        uow.roster.sync([mentor(capacity=20)], T0)
    counts = []
    for n, start in ((5, 0), (50, 100)):
        with store.unit_of_work() as uow:
            uow.requests.save_applications(batch(n, start), T0)
            ids = [r.id for r in uow.requests.all(RequestStatus.PENDING)]
        with statements(store) as approving, store.unit_of_work() as uow:
            assert len(uow.matches.approve([proposal(i) for i in ids], "auto", T0)) == n
        with statements(store) as listing, store.unit_of_work() as uow:
            approved = uow.requests.all(RequestStatus.APPROVED)
            assert len(approved) == n and all(len(r.timeline) == 2 for r in approved)
        with store.unit_of_work() as uow:  # ended matches are remembered as earlier mentors
            for m in uow.matches.many(uow.matches.to_invite()).values():
                uow.matches.end(m.id, "test", "lead", T0)
        with store.unit_of_work() as uow:
            assert all(r.previous_mentors == ["avi@example.org"] for r in uow.requests.all(RequestStatus.PENDING))
            uow.session.execute(update(RequestRow).values(status="canceled", is_open=False))
        counts.append((len(approving), len(listing)))
    assert counts[0] == counts[1], counts


# --- the facts the program needs, in their own tables (migration 0002 carries old ledgers over) -------


def test_migration_0002_carries_surveys_sent_and_reschedules_over_from_the_ledger(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import text

    from store.db import alembic_config, engine_for

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = engine_for(url)
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        at = "2026-11-22 07:00:00.000000"
        conn.execute(
            text(
                "INSERT INTO requests (id, mentee_email, is_open, status, application, response_id, "
                "created_at, updated_at, waiting_since, wait_reason) VALUES (1, 'a@example.org', 1, "
                "'scheduled', '{}', 'r1', :at, :at, :at, '')"
            ),
            {"at": at},
        )
        conn.execute(
            text(
                "INSERT INTO matches (id, request_id, mentor_email, score, reasons, breakdown, "
                "shared_windows, created_at, active, ended_reason) VALUES (7, 1, 'm@example.org', 1.0, "
                "'[]', '{}', '[]', :at, 1, '')"
            ),
            {"at": at},
        )
        conn.execute(
            text(
                'INSERT INTO meetings (match_id, event_id, start, "end", video_link, link, '
                "accessibility_needs) VALUES (7, 'e7', :at, :at, '', '', '')"
            ),
            {"at": at},
        )
        for key, status in [
            ("survey:7:mentee", "done"),
            ("survey:7:mentor", "failed"),
            ("reminder:7:mentee", "done"),
            ("reschedule:7:1", "done"),
            ("reschedule:7:2", "done"),
            ("invite:7:mentee", "done"),
            ("survey:99:mentee", "done"),
        ]:
            conn.execute(
                text(
                    "INSERT INTO ledger (key, kind, status, attempts, created_at, updated_at, provider_ref, "
                    "error) VALUES (:k, 'x', :s, 1, :at, :at, '', '')"
                ),
                {"k": key, "s": status, "at": at},
            )
    store = Store.open(url)
    with store.unit_of_work() as uow:
        sent = uow.followup.surveys_sent()
        assert sorted((s.match_id, s.role.value, s.kind) for s in sent) == [
            (7, "mentee", "reminder"),
            (7, "mentee", "survey"),
        ]
        assert all(s.at == T0 for s in sent)
        assert uow.matches.reschedules(7) == 2
        uow.matches.move_meeting(7, T0, T0 + timedelta(hours=1))
        assert uow.matches.reschedules(7) == 3


def test_a_mentor_without_email_is_kept_and_matched_by_their_booking_key(store: Store) -> None:
    link = Mentor(
        name="Noa",
        booking_url="https://calendly.com/noa/30min",
        expertise=["python"],
        career_stage=3,
        languages=["he"],
        capacity=1,
        scheduling="booking_link",
        contact_kind="booking_link",
    )
    save(store, app())
    with store.unit_of_work() as uow:
        assert uow.roster.sync([link, mentor()], T0) == (2, 0)
        [req] = uow.requests.all()
        [match_id] = uow.matches.approve([proposal(req.id, link.key)], "auto", T0)
    with store.unit_of_work() as uow:
        assert uow.roster.sync([link], T0) == (0, 0)  # same key: the same mentor, unchanged
        assert uow.roster.get(uow.matches.get(match_id).mentor_email) == link
        assert uow.matches.mentor_load() == {"booking:calendly.com/noa/30min": 1}

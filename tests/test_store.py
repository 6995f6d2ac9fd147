"""The store and its ledger, on SQLite and on PostgreSQL (same tests, both engines)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

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
    Unmatched,
    Weekday,
    WeeklyWindow,
)
from store.ledger import Outcome, do_once
from store.repository import Store

T0 = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
TUE = WeeklyWindow(day=Weekday.TUE, start=time(18), end=time(20))


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        return Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    url = request.getfixturevalue("postgres_url")
    s = Store.open(url)
    _wipe(s)
    return s


def _wipe(store: Store) -> None:
    from store.tables import Base

    with store.session() as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(table.delete())


def app(email: str = "dana@example.org", at: datetime = T0, goals: str = "", rid: str = "r1") -> MenteeApplication:
    return MenteeApplication(
        response_id=rid, submitted_at=at, name="Dana", email=email, languages=["he"], topics=["python"],
        career_stage=1, goals=goals, availability=[TUE], consent_contact=True,
    )


def mentor(email: str = "avi@example.org", capacity: int = 2) -> Mentor:
    return Mentor(email=email, name="Avi", expertise=["python"], years=10, career_stage=3, languages=["he"],
                  capacity=capacity, availability=[TUE])


def proposal(request_id: int, mentor_email: str = "avi@example.org") -> ProposedMatch:
    return ProposedMatch(request_id=request_id, mentor_email=mentor_email, score=4.0,
                         breakdown=ScoreBreakdown(topics=3, availability=1), reasons=["shared: Python"],
                         shared_windows=[TUE])


def test_second_submission_updates_the_open_request(store: Store) -> None:
    assert store.upsert_application(app(), T0) == "created"
    assert store.upsert_application(app(), T0) == "unchanged"
    later = app(at=T0 + timedelta(hours=1), goals="open source", rid="r2")
    assert store.upsert_application(later, T0 + timedelta(hours=1)) == "updated"
    older = app(at=T0 - timedelta(hours=1), goals="stale", rid="r0")
    assert store.upsert_application(older, T0 + timedelta(hours=2)) == "unchanged"
    [req] = store.requests()
    assert req.application.goals == "open source"
    assert [c.note for c in req.timeline] == ["application received", "application updated by a later answer"]


def test_email_is_matched_case_insensitively(store: Store) -> None:
    store.upsert_application(app("Dana@Example.org"), T0)
    store.upsert_application(app("dana@example.org", at=T0 + timedelta(minutes=5), goals="x"), T0)
    assert len(store.requests()) == 1


def test_lifecycle_is_enforced_and_recorded(store: Store) -> None:
    store.upsert_application(app(), T0)
    [req] = store.requests()
    with pytest.raises(IllegalTransition):
        store.transition(req.id, RequestStatus.MET, "test", "", T0)
    store.transition(req.id, RequestStatus.CANCELED, "lead", "moved abroad", T0)
    assert store.request(req.id).status is RequestStatus.CANCELED
    # a closed request does not block a new one for the same person
    assert store.upsert_application(app(at=T0 + timedelta(days=30)), T0 + timedelta(days=30)) == "created"


def test_match_lifecycle_load_and_history(store: Store) -> None:
    store.sync_roster([mentor()], T0)
    store.upsert_application(app(), T0)
    [req] = store.requests()
    [match_id] = store.approve_matches([proposal(req.id)], "auto", T0)
    assert store.approve_matches([proposal(req.id)], "auto", T0) == []  # already matched: left alone
    assert store.mentor_load() == {"avi@example.org": 1}
    assert store.matches_to_invite() == [match_id]
    meeting = Meeting(match_id=match_id, start=T0 + timedelta(days=3), end=T0 + timedelta(days=3, hours=1),
                      event_id="abcdef12345", video_link="https://meet.example.org/x")
    assert store.plan_meeting(meeting) == meeting
    moved = meeting.model_copy(update={"start": T0 + timedelta(days=9)})
    assert store.plan_meeting(moved).start == meeting.start  # a rerun keeps the first plan
    store.mark_scheduled(match_id, "file.ics", T0)
    store.mark_scheduled(match_id, "file.ics", T0)
    assert store.request(req.id).status is RequestStatus.SCHEDULED
    assert store.matches_to_invite() == []
    # a cancelled match frees the mentor and sends the mentee back, remembering the former mentor
    store.end_match(match_id, "mentor declined", "invite", T0)
    again = store.request(req.id)
    assert again.status is RequestStatus.PENDING
    assert again.previous_mentors == ["avi@example.org"]
    assert store.mentor_load() == {}


def test_waitlist_and_set_aside_are_kept_once(store: Store) -> None:
    store.upsert_application(app(), T0)
    [req] = store.requests()
    store.record_waitlist([Unmatched(request_id=req.id, reason="no mentor shares a language")], T0)
    bad = [SetAside(source="file:x.csv", ref="row 3", reasons=["email: not a valid address"])]
    assert store.record_set_aside(bad, "mentee", T0) == 1
    assert store.record_set_aside(bad, "mentee", T0 + timedelta(hours=1)) == 0
    report = store.status_report()
    assert report.waiting == [(req.id, "no mentor shares a language")]
    assert [(s.ref, s.reasons) for s in report.set_aside] == [("row 3", ["email: not a valid address"])]
    assert report.requests_by_status["pending"] == 1


def test_survey_answers_keep_the_newest_per_match_and_role(store: Store) -> None:
    store.sync_roster([mentor()], T0)
    store.upsert_application(app(), T0)
    [match_id] = store.approve_matches([proposal(store.requests()[0].id)], "auto", T0)
    first = SurveyAnswer(match_id=match_id, role=Role.MENTEE, submitted_at=T0, satisfaction=3, met=True,
                         still_in_touch=True, adopted_idea=False)
    assert store.add_survey_answers([first, first]) == 1
    newer = first.model_copy(update={"submitted_at": T0 + timedelta(hours=1), "satisfaction": 5})
    assert store.add_survey_answers([newer, first]) == 1
    [kept] = store.survey_answers()
    assert kept.satisfaction == 5
    unknown = first.model_copy(update={"match_id": 999})
    assert store.add_survey_answers([unknown]) == 0


def test_datetimes_come_back_aware_in_utc(store: Store) -> None:
    store.set_watermark("src", "w1", datetime(2026, 11, 22, 9, 0, tzinfo=UTC) + timedelta(hours=0))
    store.upsert_application(app(), T0)
    [req] = store.requests()
    assert req.created_at == T0 and req.created_at.tzinfo is not None
    assert store.watermark("src") == "w1"


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


def test_do_once_performs_once_and_skips_after(store: Store) -> None:
    e = Effect()
    assert do_once(store, "k", "mail", e.perform, e.lookup, T0) is Outcome.PERFORMED
    assert do_once(store, "k", "mail", e.perform, e.lookup, T0) is Outcome.ALREADY_DONE
    assert e.performed == 1
    entry = store.ledger("k")
    assert entry is not None and entry.status == "done" and entry.provider_ref == "ref-1"


def test_a_known_failure_is_retried_later(store: Store) -> None:
    e = Effect()
    e.fail_with = MailError("rejected")
    with pytest.raises(MailError):
        do_once(store, "k", "mail", e.perform, e.lookup, T0)
    assert store.ledger("k").status == "failed"  # type: ignore[union-attr]
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
    assert store.ledger("k").status == "pending"  # type: ignore[union-attr]
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
    assert store.status_report().uncertain_keys == ["k"]
    assert store.ledger_release("k", T0)
    assert do_once(store, "k", "mail", e.perform, e.lookup, T0) is Outcome.PERFORMED
    assert e.performed == 1


def test_migrations_are_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    Store.open(url)
    store = Store.open(url)
    assert store.install_id() == store.install_id()


def test_meetings_held_count_by_meeting_date_once_confirmed(store: Store) -> None:
    store.sync_roster([mentor()], T0)
    store.upsert_application(app(), T0)
    [req] = store.requests()
    [match_id] = store.approve_matches([proposal(req.id)], "auto", T0)
    start = T0 + timedelta(days=3)
    store.plan_meeting(Meeting(match_id=match_id, start=start, end=start + timedelta(hours=1),
                               event_id="abcdef12345", video_link=""))
    store.mark_scheduled(match_id, "", T0)
    week = (T0, T0 + timedelta(days=7))
    assert store.meetings_held(*week) == 0, "not held until a survey says so"
    store.transition(req.id, RequestStatus.MET, "followup", "survey says they met", T0 + timedelta(days=20))
    assert store.meetings_held(*week) == 1, "counted in the week it took place, not the week it was confirmed"
    assert store.meetings_held(T0 + timedelta(days=14), T0 + timedelta(days=28)) == 0

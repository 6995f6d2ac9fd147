"""Mentees and mentors know where they stand (issue #11): acknowledgment, fix-it notes, self-service links.

On the embedded defaults (local outbox, answers files), tasks called through ``.fn``, no Prefect server.
"""

from __future__ import annotations

import csv
import email
import email.policy
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config.settings import Settings
from connectors.base import IntakeBatch
from domain.links import LinkClaims, person_key, sign_link
from domain.models import (
    MenteeApplication,
    Mentor,
    ProposedMatch,
    RawResponse,
    RequestStatus,
    Role,
    ScoreBreakdown,
    StatusChange,
    Weekday,
    WeeklyWindow,
)
from domain.rules import SelfServiceRules
from domain.selfservice import (
    Action,
    ActionRequest,
    action_token,
    read_action,
    screen_actions,
    self_service_links,
    typical_wait_days,
)
from mentorflow.bootstrap import Services, build_services, use_services

pytest_plugins = ["tests.emulators.fixtures"]

TZ = ZoneInfo("Asia/Jerusalem")
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=TZ)  # a Sunday
TUE = WeeklyWindow(day=Weekday.TUE, start=time(18), end=time(20))
SECRET = "a-test-secret-of-enough-length"
RULES = SelfServiceRules()


@pytest.fixture
def svc(data_dir: Path) -> Iterator[Services]:
    services = build_services(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    with use_services(services):
        yield services


def secret_of(svc: Services) -> str:
    return svc.settings.survey_token_secret.get_secret_value()


def application(mail: str, languages: tuple[str, ...] = ("he",)) -> MenteeApplication:
    return MenteeApplication(
        response_id=f"r-{mail}",
        submitted_at=NOW,
        name="Dana",
        email=mail,
        languages=list(languages),
        topics=["python"],
        career_stage=1,
        availability=[TUE],
        consent_contact=True,
    )


def mentor(mail: str = "avi@example.org", capacity: int = 3) -> Mentor:
    return Mentor(
        email=mail,
        name="Avi",
        expertise=["python"],
        years=10,
        career_stage=3,
        languages=["he"],
        capacity=capacity,
        availability=[TUE],
    )


def new_requests(svc: Services, *mails: str, at: datetime = NOW, languages: tuple[str, ...] = ("he",)) -> list[int]:
    with svc.store.unit_of_work() as uow:
        uow.requests.save_applications([application(m, languages) for m in mails], at)
        by_email = {str(r.application.email): r.id for r in uow.requests.all()}
    return [by_email[m] for m in mails]


def approve(svc: Services, request_id: int, mentor_email: str = "avi@example.org") -> int:
    p = ProposedMatch(
        request_id=request_id,
        mentor_email=mentor_email,
        score=4.0,
        breakdown=ScoreBreakdown(topics=3),
        reasons=["shared: Python"],
        shared_windows=[TUE],
    )
    with svc.store.unit_of_work() as uow:
        [match_id] = uow.matches.approve([p], "lead", NOW)
    return match_id


def outbox(svc: Services) -> list[EmailMessage]:
    paths = sorted((svc.settings.data_dir / "outbox").glob("*.eml"))
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in paths]  # type: ignore[misc]


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def token(svc: Services, role: Role, action: Action, person: str, target: int | None, days: int = 30) -> str:
    return action_token(role, action, person, secret_of(svc), NOW + timedelta(days=days), target)


def answer(svc: Services, name: str, rows: list[dict[str, str]]) -> None:
    """Write a self-service answers file as the local form export would be."""
    folder = svc.settings.self_service_inbox()
    folder.mkdir(exist_ok=True)
    with (folder / name).open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["token", "action", "timestamp", "until", "capacity", "reason"])
        writer.writeheader()
        for row in rows:
            writer.writerow({"until": "", "capacity": "", "reason": "", **row})


def at(days: float) -> str:
    return (NOW + timedelta(days=days)).isoformat()


# --- pure parts ----------------------------------------------------------------------------------------------


def _approved_after(days: float, n: int) -> object:
    from domain.models import MentoringRequest

    created = NOW - timedelta(days=30)
    return MentoringRequest(
        id=n,
        application=application(f"m{n}@example.org"),
        status=RequestStatus.APPROVED,
        created_at=created,
        updated_at=created,
        waiting_since=created,
        timeline=[
            StatusChange(
                at=created + timedelta(days=days),
                from_status=RequestStatus.PENDING,
                to_status=RequestStatus.APPROVED,
                actor="lead",
            )
        ],
    )


def test_the_typical_wait_is_the_median_of_recent_history_and_none_without_history() -> None:
    history = [_approved_after(d, n) for n, d in enumerate([2, 5, 20])]
    assert typical_wait_days(history, NOW, 90, 3) == 5
    assert typical_wait_days(history[:2], NOW, 90, 3) is None, "two approvals are no history to quote"
    assert typical_wait_days(history, NOW, 5, 1) is None, "approvals older than the window do not count"


def _raw(tok: str, action: str, when: str, **extra: str) -> RawResponse:
    return RawResponse(
        source="self-service:test.csv",
        ref="row 2",
        answers={"token": tok, "action": action, "timestamp": when, **extra},
    )


def test_a_link_acts_only_for_its_own_action_secret_and_time() -> None:
    claims = LinkClaims(purpose="mentee-withdraw", subject="p1", match_id=4, expires=NOW + timedelta(days=10))
    good = sign_link(claims, SECRET)
    ok = read_action(_raw(good, "mentee-withdraw", at(1)), SECRET, "Asia/Jerusalem", NOW + timedelta(days=2), RULES)
    assert isinstance(ok, ActionRequest) and (ok.action, ok.target, ok.person) == (Action.WITHDRAW, 4, "p1")
    for raw, why in [
        (_raw(good, "mentee-pause", at(1), until="2027-01-10"), "another action"),
        (_raw(sign_link(claims, "another-secret-entirely"), "mentee-withdraw", at(1)), "forged"),
        (_raw(good[:-3] + "abc", "mentee-withdraw", at(1)), "tampered"),
        (_raw(good, "mentee-withdraw", at(11)), "expired"),
        (_raw(good, "mentor-withdraw", at(1)), "no such action"),
    ]:
        got = read_action(raw, SECRET, "Asia/Jerusalem", NOW + timedelta(days=12), RULES)
        assert not isinstance(got, ActionRequest), why


def test_a_pause_needs_a_future_return_date_and_is_capped() -> None:
    tok = sign_link(
        LinkClaims(purpose="mentee-pause", subject="p1", match_id=4, expires=NOW + timedelta(days=10)), SECRET
    )
    past = read_action(_raw(tok, "mentee-pause", at(1), until="2026-11-01"), SECRET, "Asia/Jerusalem", NOW, RULES)
    assert not isinstance(past, ActionRequest)
    far = read_action(_raw(tok, "mentee-pause", at(0), until="2030-01-01"), SECRET, "Asia/Jerusalem", NOW, RULES)
    assert isinstance(far, ActionRequest) and far.until == date(2026, 11, 22) + timedelta(days=RULES.max_pause_days)


def test_a_link_acts_once_and_the_same_answer_read_again_is_no_replay() -> None:
    item = ActionRequest(
        token="t1",
        role=Role.MENTEE,
        action=Action.WITHDRAW,
        person="p",
        target=1,
        submitted_at=NOW,
        source="s",
        ref="r",
    )
    new, refused = screen_actions([item], {})
    assert new == [item] and refused == []
    assert screen_actions([item], {"t1": NOW}) == ([], []), "the stored answer read again changes nothing"
    later = item.model_copy(update={"submitted_at": NOW + timedelta(hours=1)})
    new, refused = screen_actions([later], {"t1": NOW})
    assert new == [] and len(refused) == 1


def test_links_are_per_person_and_action() -> None:
    links = self_service_links(Role.MENTEE, "p1", SECRET, NOW, RULES, request_id=3, match_id=None)
    assert [link.action for link in links] == [Action.WITHDRAW, Action.PAUSE], "no match: no 'could not reach'"
    mentor_links = self_service_links(Role.MENTOR, "p2", SECRET, NOW, RULES, match_id=8)
    assert [link.action for link in mentor_links] == [Action.PAUSE, Action.CAPACITY, Action.UNREACHABLE, Action.END]
    matched = self_service_links(Role.MENTEE, "p1", SECRET, NOW, RULES, request_id=3, match_id=8)
    assert [link.action for link in matched] == [Action.WITHDRAW, Action.PAUSE, Action.UNREACHABLE, Action.END]
    assert len({link.url for link in links + mentor_links + matched}) == 8, "the same request's links are the same"


# --- acknowledgment --------------------------------------------------------------------------------------------


def test_every_new_applicant_is_acknowledged_once_in_their_language(svc: Services) -> None:
    from tasks.selfservice import acknowledge_applications

    [he] = new_requests(svc, "dana@example.org")
    [en] = new_requests(svc, "noa@example.org", languages=("en",))
    report = acknowledge_applications.fn(NOW)
    assert (report.sent, report.wait_days) == (2, None)
    mails = {str(m["To"]): m for m in outbox(svc)}
    assert len(mails) == 2
    hebrew, english = text_of(mails["Dana <dana@example.org>"]), text_of(mails["Dana <noa@example.org>"])
    assert "קיבלנו את הבקשה" in hebrew and "אין לנו עדיין נתון" in hebrew
    assert "We received your request" in english and "cannot yet say how long" in english
    assert "action=mentee-withdraw" in english and "action=mentee-pause" in english
    assert "mentee-unreachable" not in english, "no match yet: nobody to be unreachable"
    again = acknowledge_applications.fn(NOW + timedelta(hours=1))
    assert again.sent == 0 and len(outbox(svc)) == 2, "each request is acknowledged once"
    with svc.store.unit_of_work() as uow:
        assert uow.ledger.keys("ack:") == {f"ack:{he}", f"ack:{en}"}


def test_the_acknowledgment_quotes_the_programs_own_typical_wait(svc: Services) -> None:
    from tasks.selfservice import acknowledge_applications

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor(capacity=10)], NOW - timedelta(days=20))
    old = new_requests(svc, "a@example.org", "b@example.org", "c@example.org", at=NOW - timedelta(days=20))
    for rid in old:
        with svc.store.unit_of_work() as uow:
            uow.matches.approve(
                [
                    ProposedMatch(
                        request_id=rid,
                        mentor_email="avi@example.org",
                        score=4,
                        breakdown=ScoreBreakdown(),
                        reasons=["x"],
                        shared_windows=[TUE],
                    )
                ],
                "lead",
                NOW - timedelta(days=16),
            )
    new_requests(svc, "dana@example.org", languages=("en",))
    report = acknowledge_applications.fn(NOW)
    assert report.wait_days == 4
    [mail] = [m for m in outbox(svc) if "dana@" in str(m["To"])]
    assert "usually taken about 4 days" in text_of(mail)


# --- fix-it notes ----------------------------------------------------------------------------------------------


def bad_answer(mail: str, consent: str = "yes", ref: str = "row 2", availability: str = "שבת") -> RawResponse:
    return RawResponse(
        source="csv:mentees.csv",
        ref=ref,
        answers={
            "Timestamp": "2026-11-21T10:00:00+02:00",
            "Full name": "Dana",
            "Email address": mail,
            "Preferred languages": "English",
            "Topics (most important first)": "Python",
            "Career stage": "1",
            "Weekly availability": availability,
            "May we contact you?": consent,
        },
    )


def test_an_answer_set_aside_is_told_what_to_fix_once_and_not_again_on_reread(svc: Services) -> None:
    from tasks.selfservice import send_fix_notes

    batch = IntakeBatch(
        watermark=None,
        responses=[
            bad_answer("dana@example.org"),
            bad_answer("nocontact@example.org", consent="no", ref="row 3"),
            bad_answer("not-an-email", ref="row 4"),
        ],
    )
    report = send_fix_notes.fn(batch, NOW)
    assert report.sent == 1
    [mail] = outbox(svc)
    assert str(mail["To"]) == "Dana <dana@example.org>"
    body = text_of(mail)
    assert "Availability" in body and "Shabbat" in body and RULES.form_url in body
    assert send_fix_notes.fn(batch, NOW + timedelta(hours=1)).sent == 0, "the same answer read again: no note"
    assert len(outbox(svc)) == 1
    edited = IntakeBatch(watermark=None, responses=[bad_answer("dana@example.org", availability="שבת 10-12")])
    assert send_fix_notes.fn(edited, NOW + timedelta(hours=2)).sent == 1, "a new answer, still wrong: a new note"


def test_no_fix_note_when_a_valid_answer_already_replaced_it(svc: Services) -> None:
    from tasks.selfservice import send_fix_notes

    new_requests(svc, "dana@example.org")  # submitted at NOW, after the bad answer of the day before
    assert send_fix_notes.fn(IntakeBatch(watermark=None, responses=[bad_answer("dana@example.org")]), NOW).sent == 0
    assert outbox(svc) == []


# --- self-service: mentees -------------------------------------------------------------------------------------


def mentee_person(svc: Services, mail: str) -> str:
    return person_key(mail, secret_of(svc))


def test_a_mentee_withdraws_through_the_link_once(svc: Services) -> None:
    from tasks.selfservice import take_self_service_actions

    [rid] = new_requests(svc, "dana@example.org")
    tok = token(svc, Role.MENTEE, Action.WITHDRAW, mentee_person(svc, "dana@example.org"), rid)
    answer(svc, "a.csv", [{"token": tok, "action": "mentee-withdraw", "timestamp": at(1), "reason": "found a job"}])
    report = take_self_service_actions.fn(NOW + timedelta(days=1))
    assert report.taken == {"withdrawn": 1} and report.confirmed == 1 and report.set_aside == []
    with svc.store.unit_of_work() as uow:
        request = uow.requests.get(rid)
    assert request.status is RequestStatus.CANCELED
    assert request.timeline[-1].actor == "mentee" and "self-service" in request.timeline[-1].note
    [mail] = outbox(svc)
    assert "בוטלה" in str(mail["Subject"])
    # the next run reads the same answer: nothing changes, nothing is sent again
    again = take_self_service_actions.fn(NOW + timedelta(days=2))
    assert again.taken == {} and again.confirmed == 0 and len(outbox(svc)) == 1


def test_a_matched_mentee_who_withdraws_frees_the_mentor_and_cancels_the_meeting(svc: Services) -> None:
    from tasks.invites import invite_matches
    from tasks.selfservice import take_self_service_actions

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor()], NOW)
    [rid] = new_requests(svc, "dana@example.org")
    match_id = approve(svc, rid)
    assert not invite_matches.fn([match_id], NOW).failed
    tok = token(svc, Role.MENTEE, Action.WITHDRAW, mentee_person(svc, "dana@example.org"), rid)
    answer(svc, "a.csv", [{"token": tok, "action": "mentee-withdraw", "timestamp": at(1)}])
    assert take_self_service_actions.fn(NOW + timedelta(days=1)).taken == {"withdrawn": 1}
    with svc.store.unit_of_work() as uow:
        assert uow.requests.get(rid).status is RequestStatus.CANCELED
        assert not uow.matches.get(match_id).active and uow.matches.mentor_load(NOW) == {}
        sent = uow.ledger.keys("")
    assert f"ended:{match_id}:mentor" in sent, "the mentor is told"
    assert f"ended:{match_id}:mentee" not in sent, "the mentee gets the confirmation, not an 'ended' mail"
    assert any(k.startswith("cancel:") for k in sent), "the meeting is cancelled in the calendar"
    assert any(k.startswith("selfservice:") for k in sent)


def test_a_replayed_forged_or_expired_link_changes_nothing(svc: Services) -> None:
    from tasks.selfservice import take_self_service_actions

    [rid, other] = new_requests(svc, "dana@example.org", "noa@example.org")
    person = mentee_person(svc, "dana@example.org")
    pause = token(svc, Role.MENTEE, Action.PAUSE, person, rid)
    answer(svc, "a.csv", [{"token": pause, "action": "mentee-pause", "timestamp": at(1), "until": "2027-01-10"}])
    assert take_self_service_actions.fn(NOW + timedelta(days=1)).taken == {"paused": 1}
    forged = sign_link(
        LinkClaims(purpose="mentee-withdraw", subject=person, match_id=rid, expires=NOW + timedelta(days=30)),
        "not-the-program-secret-at-all",
    )
    expired = token(svc, Role.MENTEE, Action.WITHDRAW, person, rid, days=1)
    stolen = token(svc, Role.MENTEE, Action.WITHDRAW, person, other)  # Dana's key, Noa's request
    answer(
        svc,
        "b.csv",
        [
            {"token": pause, "action": "mentee-pause", "timestamp": at(2), "until": "2027-03-01"},  # replay
            {"token": forged, "action": "mentee-withdraw", "timestamp": at(2)},
            {"token": expired, "action": "mentee-withdraw", "timestamp": at(2)},
            {"token": stolen, "action": "mentee-withdraw", "timestamp": at(2)},
        ],
    )
    report = take_self_service_actions.fn(NOW + timedelta(days=2))
    assert report.taken == {"not applied": 1}, "only the link of another request got as far as the store"
    reasons = sorted(r for s in report.set_aside for r in s.reasons)
    assert len(reasons) == 4 and any("already used" in r for r in reasons) and any("expired" in r for r in reasons)
    with svc.store.unit_of_work() as uow:
        assert uow.requests.get(rid).status is RequestStatus.PENDING
        assert uow.requests.get(other).status is RequestStatus.PENDING
        assert uow.self_service.paused_requests(NOW + timedelta(days=2)) == {
            rid: datetime(2027, 1, 10, tzinfo=TZ).astimezone(ZoneInfo("UTC"))
        }, "the replay did not move the return date"
    assert len(outbox(svc)) == 1, "only the genuine pause was confirmed"


def test_a_paused_mentee_is_not_matched_until_the_return_date(svc: Services) -> None:
    from tasks.matching import propose
    from tasks.selfservice import take_self_service_actions

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor()], NOW)
    [rid] = new_requests(svc, "dana@example.org")
    tok = token(svc, Role.MENTEE, Action.PAUSE, mentee_person(svc, "dana@example.org"), rid)
    answer(svc, "a.csv", [{"token": tok, "action": "mentee-pause", "timestamp": at(0.1), "until": "06/12/2026"}])
    assert take_self_service_actions.fn(NOW + timedelta(hours=3)).taken == {"paused": 1}
    with svc.store.unit_of_work() as uow:
        assert "paused until 2026-12-06" in uow.requests.get(rid).timeline[-1].note
    on_pause = propose.fn(NOW + timedelta(days=1))
    assert on_pause.matches == [] and [w.reason for w in on_pause.waitlist] == ["paused by the mentee until 2026-12-06"]
    assert [m.request_id for m in propose.fn(datetime(2026, 12, 6, 1, tzinfo=TZ)).matches] == [rid]
    [mail] = outbox(svc)
    assert "06.12.2026" in text_of(mail)


def test_a_mentee_who_could_not_reach_the_mentor_is_rematched_first(svc: Services) -> None:
    from tasks.matching import propose
    from tasks.selfservice import take_self_service_actions

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor(), mentor("ben@example.org")], NOW)
    [rid] = new_requests(svc, "dana@example.org")
    match_id = approve(svc, rid)
    tok = token(svc, Role.MENTEE, Action.UNREACHABLE, mentee_person(svc, "dana@example.org"), match_id)
    answer(svc, "a.csv", [{"token": tok, "action": "mentee-unreachable", "timestamp": at(3)}])
    report = take_self_service_actions.fn(NOW + timedelta(days=3))
    assert report.taken == {"ended": 1} and report.confirmed == 1
    with svc.store.unit_of_work() as uow:
        request = uow.requests.get(rid)
        assert not uow.matches.get(match_id).active
    assert request.status is RequestStatus.PENDING and request.waiting_since == NOW, "waiting time kept: priority"
    mails = outbox(svc)
    assert len(mails) == 3, "ended to both sides, and the mentee's confirmation"
    [ended_to_mentee] = [m for m in mails if "הסתיימה" in str(m["Subject"]) and "dana@" in str(m["To"])]
    assert "action=mentee-pause" in text_of(ended_to_mentee), "links in every email, the 'ended' one too"
    assert "mentee-unreachable" not in text_of(ended_to_mentee), "the match is over: nobody to be unreachable"
    [confirmation] = [m for m in mails if "לא הצלחת ליצור קשר" in str(m["Subject"])]
    assert "בעדיפות ראשונה" in text_of(confirmation)
    again = propose.fn(NOW + timedelta(days=4))
    assert [str(m.mentor_email) for m in again.matches] == ["ben@example.org"], "another mentor"


# --- self-service: mentors -------------------------------------------------------------------------------------


def test_a_mentor_pauses_until_a_date_and_changes_capacity(svc: Services) -> None:
    from tasks.matching import propose
    from tasks.selfservice import take_self_service_actions

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor(capacity=1)], NOW)
    person = person_key("avi@example.org", secret_of(svc))
    pause = token(svc, Role.MENTOR, Action.PAUSE, person, None)
    answer(svc, "a.csv", [{"token": pause, "action": "mentor-pause", "timestamp": at(0.1), "until": "2026-12-01"}])
    assert take_self_service_actions.fn(NOW + timedelta(hours=3)).taken == {"paused": 1}
    new_requests(svc, "dana@example.org", "noa@example.org")
    assert propose.fn(NOW + timedelta(days=1)).matches == [], "paused: no one proposed"
    capacity = token(svc, Role.MENTOR, Action.CAPACITY, person, None)
    answer(svc, "b.csv", [{"token": capacity, "action": "mentor-capacity", "timestamp": at(1), "capacity": "2"}])
    assert take_self_service_actions.fn(NOW + timedelta(days=1, hours=1)).taken == {"capacity": 1}
    back = propose.fn(datetime(2026, 12, 1, 8, tzinfo=TZ))
    assert len(back.matches) == 2, "back from the pause, with the capacity the mentor set"
    subjects = [str(m["Subject"]) for m in outbox(svc)]
    assert len(subjects) == 2 and any("עד 01.12.2026" in s for s in subjects)


def test_a_mentor_who_could_not_reach_the_mentee_ends_the_match(svc: Services) -> None:
    from tasks.selfservice import take_self_service_actions

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor()], NOW)
    [rid] = new_requests(svc, "dana@example.org")
    match_id = approve(svc, rid)
    avi, dana = person_key("avi@example.org", secret_of(svc)), mentee_person(svc, "dana@example.org")
    wrong = token(svc, Role.MENTOR, Action.UNREACHABLE, dana, match_id)  # a mentee's key on a mentor's action
    answer(svc, "a.csv", [{"token": wrong, "action": "mentor-unreachable", "timestamp": at(2)}])
    assert take_self_service_actions.fn(NOW + timedelta(days=2)).taken == {"not applied": 1}
    with svc.store.unit_of_work() as uow:
        assert uow.matches.get(match_id).active
    tok = token(svc, Role.MENTOR, Action.UNREACHABLE, avi, match_id)
    answer(svc, "b.csv", [{"token": tok, "action": "mentor-unreachable", "timestamp": at(2)}])
    assert take_self_service_actions.fn(NOW + timedelta(days=2)).taken == {"ended": 1}
    with svc.store.unit_of_work() as uow:
        assert not uow.matches.get(match_id).active
        assert uow.requests.get(rid).status is RequestStatus.PENDING


def test_either_side_ends_the_mentoring_through_its_link_and_the_mentee_is_matched_again_first(svc: Services) -> None:
    """Invariant 8 through the self-service door: no email to the lead, no `end-match`."""
    from tasks.matching import propose
    from tasks.selfservice import take_self_service_actions

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor(), mentor("ben@example.org")], NOW)
    [rid] = new_requests(svc, "dana@example.org")
    [other] = new_requests(svc, "noa@example.org", languages=("en", "he"))
    by_mentor, by_mentee = approve(svc, rid), approve(svc, other, "ben@example.org")
    avi, noa = person_key("avi@example.org", secret_of(svc)), mentee_person(svc, "noa@example.org")
    wrong = token(svc, Role.MENTOR, Action.END, avi, by_mentee)  # Avi's link, Ben's match
    ends = [
        {"token": wrong, "action": "mentor-end", "timestamp": at(2)},
        {"token": token(svc, Role.MENTOR, Action.END, avi, by_mentor), "action": "mentor-end", "timestamp": at(2)},
        {"token": token(svc, Role.MENTEE, Action.END, noa, by_mentee), "action": "mentee-end", "timestamp": at(2.1)},
    ]
    answer(svc, "a.csv", ends)
    report = take_self_service_actions.fn(NOW + timedelta(days=3))
    assert report.taken == {"ended": 2, "not applied": 1} and report.confirmed == 2
    with svc.store.unit_of_work() as uow:
        assert not uow.matches.get(by_mentor).active and not uow.matches.get(by_mentee).active
        requests = {r: uow.requests.get(r) for r in (rid, other)}
    assert all(r.status is RequestStatus.PENDING and r.waiting_since == NOW for r in requests.values()), "priority"
    mails = outbox(svc)
    assert len(mails) == 6, "each match: ended to both sides, and the confirmation to the side who ended it"
    [to_mentor] = [m for m in mails if str(m["Subject"]).startswith("הליווי הסתיים") and "avi@" in str(m["To"])]
    assert "המנטי/ת יותאם/תותאם מחדש" in text_of(to_mentor)
    [to_mentee] = [m for m in mails if str(m["Subject"]).startswith("Your mentoring has ended")]
    assert "noa@" in str(to_mentee["To"])
    assert "another mentor for you first" in text_of(to_mentee)
    again = propose.fn(NOW + timedelta(days=4))
    assert {m.request_id for m in again.matches} == {rid, other}, [w.reason for w in again.waitlist]


# --- through the SendGrid emulator -----------------------------------------------------------------------------


def test_acknowledgments_go_out_once_through_sendgrid_even_when_an_answer_is_lost(
    data_dir: Path, sendgrid_emulator: object
) -> None:
    import math

    from connectors.base import Address
    from connectors.factory import Connectors, build_connectors
    from connectors.sendgrid import SendGridMailer
    from tasks.selfservice import acknowledge_applications
    from tests.emulators.sendgrid import SendGridEmulator, VirtualClock
    from tests.emulators.server import Fault

    assert isinstance(sendgrid_emulator, SendGridEmulator)
    clock = VirtualClock(1_800_000_000.0)
    sendgrid_emulator.clock = clock
    settings = Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]
    local = build_connectors(settings)
    mailer = SendGridMailer(
        sendgrid_emulator.api_key,
        Address(email="program@example.org"),
        host=sendgrid_emulator.url,
        timeout_seconds=5,
        sleep=clock.sleep,
        clock=clock,
    )
    connectors = Connectors(
        intake=local.intake, roster=local.roster, calendar=local.calendar, mailer=mailer, surveys=local.surveys
    )
    services = build_services(settings, connectors)
    with use_services(services):
        new_requests(services, "dana@example.org", "noa@example.org")
        sendgrid_emulator.queue(Fault(status=500, after=True))  # the first send is accepted, its answer lost
        assert acknowledge_applications.fn(NOW).due == 2
        assert acknowledge_applications.fn(NOW + timedelta(hours=1)).due == 0
    copies = sendgrid_emulator.deliveries(at=math.inf)
    acks = {k: n for k, n in copies.items() if k[0].startswith("ack:")}
    assert sorted(to for _, to in acks) == ["dana@example.org", "noa@example.org"]
    assert set(acks.values()) == {1}, "each acknowledgment reaches its mentee exactly once"
    body = next(b for b in sendgrid_emulator.accepted if b["custom_args"]["mentorflow_key"].startswith("ack:"))
    assert any("mentee-withdraw" in part["value"] for part in body["content"])


def test_a_pause_answered_in_the_google_form_is_taken_once(data_dir: Path, google_emulator: object) -> None:
    from tasks.selfservice import take_self_service_actions
    from tests.emulators.google import GoogleEmulator

    assert isinstance(google_emulator, GoogleEmulator)
    settings = Settings(
        _env_file=None,
        data_dir=data_dir,
        surveys="google",
        google_api_endpoint=google_emulator.url,
        google_survey_form_id="survey-form",
        google_self_service_form_id="self-service-form",
        survey_token_secret="a-real-test-secret-8Kp3Zw6N",
    )  # type: ignore[call-arg]
    services = build_services(settings)
    services.connectors.actions.reader.client.sleep = lambda _s: None  # type: ignore[union-attr]
    with use_services(services):
        [rid] = new_requests(services, "dana@example.org")
        person = person_key("dana@example.org", secret_of(services))
        tok = token(services, Role.MENTEE, Action.PAUSE, person, rid, days=3650)
        google_emulator.seed("survey-form", ["token", "satisfaction", "met", "still_in_touch", "adopted_idea"], [])
        google_emulator.seed(
            "self-service-form",
            ["token", "action", "until", "reason"],
            [{"token": tok, "action": "mentee-pause", "until": "01/03/2025", "reason": "exams"}],
        )
        later = google_emulator.clock + timedelta(hours=1)  # the emulator's forms answer on its own clock
        first = take_self_service_actions.fn(later)
        assert first.taken == {"paused": 1} and first.set_aside == [] and first.confirmed == 1
        again = take_self_service_actions.fn(later + timedelta(hours=1))
        assert again.taken == {} and again.confirmed == 0, "the form read again changes nothing"
        with services.store.unit_of_work() as uow:
            assert uow.self_service.paused_requests(later) == {rid: datetime(2025, 3, 1, tzinfo=TZ)}
            assert "exams" in uow.requests.get(rid).timeline[-1].note


def test_survey_emails_carry_the_sides_self_service_links(svc: Services) -> None:
    from domain.models import Meeting
    from tasks.compose import survey_email

    with svc.store.unit_of_work() as uow:
        uow.roster.sync([mentor()], NOW)
    [rid] = new_requests(svc, "dana@example.org")
    match_id = approve(svc, rid)
    with svc.store.unit_of_work() as uow:
        request, avi = uow.requests.get(rid), uow.roster.get("avi@example.org")
    meeting = Meeting(match_id=match_id, start=NOW, end=NOW + timedelta(hours=1), event_id="abc123", video_link="")
    expires = NOW + timedelta(days=14)
    args = (meeting, request, avi, svc.rules, "Asia/Jerusalem", secret_of(svc), expires)
    to_mentee = survey_email(svc.templates, "survey", Role.MENTEE, *args)
    to_mentor = survey_email(svc.templates, "survey", Role.MENTOR, *args)
    assert "action=mentee-unreachable" in to_mentee.text and "action=mentee-withdraw" in to_mentee.text
    assert "action=mentor-capacity" in to_mentor.text and "action=mentor-unreachable" in to_mentor.html


def test_the_status_shows_pauses_in_the_programs_time_zone_and_recent_actions() -> None:
    from domain.selfservice import TakenAction
    from mentorflow.views import render_self_service

    midnight = datetime(2026, 12, 14, tzinfo=TZ)  # stored as 2026-12-13 22:00 UTC
    recent = [
        TakenAction(id=1, role=Role.MENTEE, action=Action.PAUSE, person="p", target=10, outcome="paused", taken_at=NOW)
    ]
    text = render_self_service({10: midnight.astimezone(ZoneInfo("UTC"))}, 1, 0, recent, "Asia/Jerusalem")
    assert "request 10 until 2026-12-14" in text and "1 mentors paused" in text
    assert "mentee pause: paused: 1" in text


def test_a_forgotten_person_leaves_no_self_service_trace_and_gets_no_fix_note(svc: Services) -> None:
    from tasks.erasure import forget_person
    from tasks.selfservice import send_fix_notes, take_self_service_actions

    [rid] = new_requests(svc, "dana@example.org")
    tok = token(svc, Role.MENTEE, Action.PAUSE, mentee_person(svc, "dana@example.org"), rid)
    answer(svc, "a.csv", [{"token": tok, "action": "mentee-pause", "timestamp": at(0.1), "until": "2027-01-10"}])
    assert take_self_service_actions.fn(NOW + timedelta(hours=3)).taken == {"paused": 1}
    forget_person(svc, "dana@example.org", NOW + timedelta(days=1))
    with svc.store.unit_of_work() as uow:
        assert uow.self_service.since(NOW - timedelta(days=1)) == []
    # her earlier answer, set aside, is read again after the erasure: no note goes to her
    late = IntakeBatch(watermark=None, responses=[bad_answer("dana@example.org")])
    assert send_fix_notes.fn(late, NOW + timedelta(days=2)).sent == 0

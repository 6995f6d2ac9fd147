"""The same flows with every connector set to Google/SendGrid, against the loopback emulators.

Counted at the emulators: one ``events.insert`` per match, ≤ ⌈responses/5000⌉ + 1 list calls per poll,
⌈recipients/1000⌉ digest requests; and with faults on a share of requests (including a 5xx returned after
the event was stored) plus a crashed run and a rerun, still one event and one email per match and step.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from benchmarks.program import DAY0, emulator_settings, seed_forms
from connectors.base import OutcomeUnknown
from domain.models import Match, Meeting, RequestStatus
from mentorflow.bootstrap import Services, build_services, use_services
from tests.emulators.google import GoogleEmulator
from tests.emulators.sendgrid import SendGridEmulator, VirtualClock
from tests.emulators.server import Fault

pytestmark = pytest.mark.usefixtures("prefect_server")
pytest_plugins = ["tests.emulators.fixtures"]


def remote_services(
    tmp_path: Path, google: GoogleEmulator, sendgrid: SendGridEmulator, api_key: str | None = None
) -> Services:
    return build_services(emulator_settings(tmp_path, google, sendgrid, api_key=api_key))


def no_waiting(services: Services, sendgrid: SendGridEmulator, clock: VirtualClock | None = None) -> VirtualClock:
    """The mailer and SendGrid on one virtual clock: backoffs, send delays and cancellation windows pass
    without waiting. From a send until its outcome is known (or settled) the sending thread holds the clock, so
    another worker's long wait never skips this send's cancellation window (as with a real clock)."""
    clock = clock or VirtualClock(time.time())
    sendgrid.clock = clock
    mailer = services.connectors.mailer
    mailer.clock = clock  # type: ignore[attr-defined]
    mailer.sleep = clock.sleep  # type: ignore[attr-defined]
    real_send, real_settle = mailer.send, mailer.settle

    def send(*args, **kwargs):  # type: ignore[no-untyped-def]
        clock.begin_work()
        unknown = False
        try:
            return real_send(*args, **kwargs)
        except OutcomeUnknown:
            unknown = True  # the work goes on until the outcome is settled
            raise
        finally:
            if not unknown:
                clock.end_work()

    def settle(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return real_settle(*args, **kwargs)
        finally:
            clock.end_work()

    mailer.send, mailer.settle = send, settle  # type: ignore[method-assign]
    services.connectors.calendar.client.sleep = lambda _s: None  # type: ignore[attr-defined]
    for source in (services.connectors.intake, services.connectors.roster, services.connectors.surveys):
        source.reader.client.sleep = lambda _s: None  # type: ignore[attr-defined,union-attr]
    return clock


def sendgrid_fault(rng: random.Random) -> Fault:
    """A 429 (never accepted), or a 5xx before or after the message was accepted."""
    status = rng.choice([429, 500, 503])
    return Fault(status=status, after=status >= 500 and rng.random() < 0.5, headers={"X-RateLimit-Reset": "0"})


def run_stages(services: Services) -> None:
    from flows.intake import intake
    from flows.invite import invite
    from flows.match import match

    with use_services(services):
        intake(DAY0)
        match(DAY0, approval="auto")
        invite(DAY0)


def sent_keys(sendgrid: SendGridEmulator) -> Counter[str]:
    """Copies per message key that reach people (accepted and not cancelled), once their send time comes."""
    return Counter(body["custom_args"]["mentorflow_key"] for body in sendgrid.delivered(at=math.inf))


def test_a_100_mentee_run_makes_exactly_the_calls_it_needs(
    tmp_path: Path, google_emulator: GoogleEmulator, sendgrid_emulator: SendGridEmulator
) -> None:
    seed_forms(google_emulator, mentees=100, mentors=40)
    services = remote_services(tmp_path, google_emulator, sendgrid_emulator)
    run_stages(services)
    with services.store.unit_of_work() as uow:
        scheduled = uow.requests.all(RequestStatus.SCHEDULED)
        meetings = uow.matches.meetings_in_followup()
    assert len(scheduled) >= 60

    counts = google_emulator.counts
    assert counts["events.insert"] == len(scheduled) == len(google_emulator.events())
    assert counts["events.get"] == 0, "the insert's answer holds the event: no read-back"
    people = {a["email"] for e in google_emulator.events().values() for a in e["attendees"]}
    # free/busy read ahead for everyone invited, 50 calendars a query (+1: the credential check)
    assert counts["freebusy.query"] <= math.ceil(len(people) / 50) + 1 < len(scheduled)
    assert counts["events.list"] == 1, "declines: one list of the upcoming events"
    assert counts["responses.list"] <= 2 * (math.ceil(100 / 5000) + 1)  # mentee form + mentor form, one poll
    keys = sent_keys(sendgrid_emulator)
    assert set(keys.values()) == {1}
    assert len([k for k in keys if k.startswith("invite:")]) == 2 * len(scheduled)
    # Google made a Meet room for each event, and the invitations carry it
    assert meetings and all(m.video_link.startswith("https://meet.google.com/") for m in meetings)
    for body in sendgrid_emulator.accepted:
        if body["custom_args"]["mentorflow_key"].startswith("invite:"):
            [meeting] = [m for m in meetings if m.match_id == int(body["custom_args"]["match_id"])]
            assert meeting is not None and all(meeting.video_link in part["value"] for part in body["content"])

    # a second poll with nothing new is one list call per form; nothing is inserted or sent again
    before = counts.copy()
    run_stages(services)
    assert google_emulator.counts["responses.list"] - before["responses.list"] <= 2
    assert google_emulator.counts["events.insert"] == before["events.insert"]
    assert google_emulator.counts["events.list"] - before["events.list"] == 1  # the sync token: nothing changed
    assert google_emulator.counts["events.get"] == 0
    assert google_emulator.counts["freebusy.query"] == before["freebusy.query"]
    assert sent_keys(sendgrid_emulator) == keys


def test_the_newsletter_goes_to_each_opted_in_reader_once_after_approval(
    tmp_path: Path, google_emulator: GoogleEmulator, sendgrid_emulator: SendGridEmulator
) -> None:
    from flows.digest import digest
    from flows.intake import intake
    from tasks.newsletter import approve_newsletter

    seed_forms(google_emulator, mentees=300, mentors=30)
    services = remote_services(tmp_path, google_emulator, sendgrid_emulator)
    with use_services(services):
        intake(DAY0)
        with services.store.unit_of_work() as uow:
            opted = [m.model_copy(update={"newsletter": True}) for m in uow.roster.mentors(active_only=True)]
            uow.roster.sync(opted, DAY0)
        assert digest(DAY0 + timedelta(days=14)).awaiting_approval
        approve_newsletter(services, [], DAY0 + timedelta(days=14, hours=1))
        assert digest(DAY0 + timedelta(days=14, hours=2)).published
    bodies = [b for b in sendgrid_emulator.accepted if b["custom_args"]["mentorflow_key"].startswith("newsletter:")]
    assert len(bodies) == len(opted) == 30, "one copy per opted-in reader, none to the 300 who did not opt in"
    assert all(len(b["personalizations"]) == 1 and len(b["personalizations"][0]["to"]) == 1 for b in bodies)
    previews = [
        b for b in sendgrid_emulator.accepted if b["custom_args"]["mentorflow_key"].startswith("digest-preview:")
    ]
    assert len(previews) == 1


def test_faults_and_a_crash_still_give_one_event_and_one_email_per_match_and_step(
    tmp_path: Path, google_emulator: GoogleEmulator, sendgrid_emulator: SendGridEmulator
) -> None:
    import tasks.common

    seed_forms(google_emulator, mentees=100, mentors=40)
    services = remote_services(tmp_path, google_emulator, sendgrid_emulator)
    clock = no_waiting(services, sendgrid_emulator)
    google_emulator.fail_share(
        0.25,
        lambda rng: Fault(status=rng.choice([500, 503]), after=rng.random() < 0.5),
        seed=3,
        operation="events.insert",
    )
    sendgrid_emulator.fail_share(0.25, sendgrid_fault, seed=4)

    # the first run crashes part-way: the mailer dies right after its 20th accepted send
    mailer: Any = services.connectors.mailer  # the SendGrid mailer (its sleep is replaced below)
    real_send, real_settle, real_sleep, calls = mailer.send, mailer.settle, mailer.sleep, Counter[str]()
    dead = threading.Event()  # a killed process does nothing more: no call goes out, no time passes for it

    def send_then_die(message, token=""):  # type: ignore[no-untyped-def]
        if dead.is_set():
            raise SystemExit("the process is gone")
        ref = real_send(message, token)
        calls["n"] += 1
        if calls["n"] == 20:
            dead.set()
            raise SystemExit("killed right after a send")
        return ref

    def settle_unless_dead(key, token):  # type: ignore[no-untyped-def]
        if dead.is_set():
            raise SystemExit("the process is gone")
        return real_settle(key, token)

    def sleep_unless_dead(seconds):  # type: ignore[no-untyped-def]
        if dead.is_set():  # its other threads die with it (in this test they share the Python process)
            raise SystemExit("the process is gone")
        real_sleep(seconds)

    mailer.send, mailer.settle, mailer.sleep = send_then_die, settle_unless_dead, sleep_unless_dead
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tasks.common, "TRANSIENT_RETRY_DELAYS", (0, 0, 0))
        with pytest.raises(BaseException):  # noqa: B017 - the crash ends the run
            run_stages(services)
        # the process is gone: the next run is a new one over the same store (its mailer settles what the
        # killed one left in flight before its first send), on the same clock
        clock.forget_work()
        services = remote_services(tmp_path, google_emulator, sendgrid_emulator)
        no_waiting(services, sendgrid_emulator, clock)
        run_stages(services)  # rerun with faults still on
        google_emulator.clear_faults()
        sendgrid_emulator.clear_faults()
        run_stages(services)  # and once more, for matches whose retries ran out

    with services.store.unit_of_work() as uow:
        scheduled = uow.requests.all(RequestStatus.SCHEDULED)
        assert len(scheduled) >= 60 and uow.requests.all(RequestStatus.APPROVED) == []
        uncertain = set(uow.reporting.status_report().uncertain_keys)
    events = google_emulator.events()
    assert len(events) == len(scheduled), "exactly one event per match, whatever failed"
    keys = sent_keys(sendgrid_emulator)
    invites = [k for k in keys if k.startswith("invite:")]
    # the message sent just before the crash, and every unknown outcome, was cancelled and sent again
    assert set(keys.values()) == {1}, "no email twice"
    assert len(invites) == 2 * len(scheduled), "no email lost"
    assert uncertain == set(), "nothing left for the lead"
    assert sendgrid_emulator.counts["scheduled_sends.create"] > 0, "unknown outcomes were settled by cancelling"


def first_meeting(
    tmp_path: Path, google_emulator: GoogleEmulator, sendgrid_emulator: SendGridEmulator
) -> tuple[Services, Meeting, Match]:
    """A small program run through every stage, and its first planned meeting with its match."""
    seed_forms(google_emulator, mentees=12, mentors=6)
    services = remote_services(tmp_path, google_emulator, sendgrid_emulator)
    run_stages(services)
    with services.store.unit_of_work() as uow:
        meeting = uow.matches.meetings_in_followup()[0]
        return services, meeting, uow.matches.get(meeting.match_id)


def test_a_declined_meeting_is_moved_not_recreated_and_needs_no_flag(
    tmp_path: Path, google_emulator: GoogleEmulator, sendgrid_emulator: SendGridEmulator
) -> None:
    from flows.invite import invite

    services, meeting, match = first_meeting(tmp_path, google_emulator, sendgrid_emulator)
    google_emulator.respond(meeting.event_id, str(match.mentor_email), "declined")
    inserts = google_emulator.counts["events.insert"]

    with use_services(services):
        summary = invite(DAY0 + timedelta(hours=1))
    assert [m for m, _ in summary.rescheduled] == [meeting.match_id]
    with services.store.unit_of_work() as uow:
        moved = uow.matches.meeting(meeting.match_id)
        flags = uow.followup.flags()
    assert moved is not None and moved.start != meeting.start and moved.start - DAY0 >= timedelta(hours=48)
    event = google_emulator.events()[meeting.event_id]
    assert datetime.fromisoformat(event["start"]["dateTime"]) == moved.start
    assert google_emulator.counts["events.patch"] == 1 and google_emulator.counts["events.insert"] == inserts
    assert all(a["responseStatus"] == "needsAction" for a in event["attendees"]), "everyone is asked again"
    # the program handled it (the run's report says so): no flag for the lead (issue #10, the lead's minutes)
    assert [f for f in flags if f.match_id == meeting.match_id] == []

    with use_services(services):  # nothing new declined: nothing moves again
        assert invite(DAY0 + timedelta(hours=2)).rescheduled == []
    assert google_emulator.counts["events.patch"] == 1


def test_a_declined_meeting_is_not_moved_when_a_side_is_paused_the_lead_decides(
    tmp_path: Path, google_emulator: GoogleEmulator, sendgrid_emulator: SendGridEmulator
) -> None:
    """Invariant 4: moving the event would send the paused mentor an update; the full simulation caught it."""
    from flows.invite import invite

    services, meeting, match = first_meeting(tmp_path, google_emulator, sendgrid_emulator)
    with services.store.unit_of_work() as uow:
        mentor = uow.roster.get(str(match.mentor_email))
        uow.roster.sync([mentor.model_copy(update={"active": False})], DAY0)
    google_emulator.respond(meeting.event_id, str(match.mentor_email), "declined")

    with use_services(services):
        summary = invite(DAY0 + timedelta(hours=1))
    assert summary.rescheduled == [(meeting.match_id, "mentor declined: lead_decides")]
    assert google_emulator.counts["events.patch"] == 0, "the paused mentor is not sent a moved event"
    with services.store.unit_of_work() as uow:
        [flag] = [f for f in uow.followup.flags() if f.match_id == meeting.match_id]
    assert flag.kind == "declined" and "mentor may not be written to" in flag.detail


def test_the_demo_honours_the_connector_settings(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    google_emulator: GoogleEmulator,
    sendgrid_emulator: SendGridEmulator,
) -> None:
    """`make demo` with MENTORFLOW_CALENDAR=google and MENTORFLOW_MAILER=sendgrid talks to those endpoints."""
    from mentorflow.demo import run_demo

    for name, value in {
        "MENTORFLOW_CALENDAR": "google",
        "MENTORFLOW_MAILER": "sendgrid",
        "MENTORFLOW_GOOGLE_API_ENDPOINT": google_emulator.url,
        "MENTORFLOW_SENDGRID_HOST": sendgrid_emulator.url,
        "MENTORFLOW_SENDGRID_API_KEY": sendgrid_emulator.api_key,
        "MENTORFLOW_SURVEY_TOKEN_SECRET": "demo-secret-Xq7Lm2Tv9R4w",  # noqa: E501
    }.items():
        monkeypatch.setenv(name, value)
    summary = run_demo(tmp_path / "demo", "2026-11-22")
    events = google_emulator.events()
    assert len(events) >= 25 and google_emulator.counts["events.insert"] == len(events)
    keys = sent_keys(sendgrid_emulator)
    # two invitations per calendar event, plus the link email to each mentee of a booking-link mentor (no event,
    # and such a mentor has no email: the demo's page mentors)
    booked = [k for k in keys if k.startswith("nudge:")]
    assert booked and len([k for k in keys if k.startswith("invite:")]) == 2 * len(events) + len(booked)
    assert set(keys.values()) == {1}
    assert not (tmp_path / "demo" / "outbox").exists() and not (tmp_path / "demo" / "invites").exists()
    assert f"{len(events)} calendar events" in summary


def test_a_refused_sendgrid_key_stops_the_run_before_any_calendar_event(
    tmp_path: Path, google_emulator: GoogleEmulator, sendgrid_emulator: SendGridEmulator
) -> None:
    from connectors.base import ConfigurationError

    seed_forms(google_emulator, mentees=12, mentors=6)
    services = remote_services(tmp_path, google_emulator, sendgrid_emulator, api_key="SG.revoked-key-9Fh3Lm2Qx7Tz")
    with pytest.raises(ConfigurationError, match="MENTORFLOW_SENDGRID_API_KEY"):
        run_stages(services)
    assert google_emulator.counts["events.insert"] == 0 and google_emulator.events() == {}
    assert sendgrid_emulator.accepted == [] and sendgrid_emulator.counts["mail.send"] == 0
    with services.store.unit_of_work() as uow:
        assert uow.requests.all(RequestStatus.APPROVED), "the matches wait for a run with a good key"


def test_a_cancelled_meeting_is_not_rescheduled_when_someone_declines(
    tmp_path: Path, google_emulator: GoogleEmulator, sendgrid_emulator: SendGridEmulator
) -> None:
    from flows.invite import invite

    services, meeting, match = first_meeting(tmp_path, google_emulator, sendgrid_emulator)
    google_emulator.respond(meeting.event_id, str(match.mentor_email), "declined")
    google_emulator.cancel(meeting.event_id)  # and then the lead deleted the event
    lists = google_emulator.counts["events.list"]
    with use_services(services):
        assert invite(DAY0 + timedelta(hours=1)).rescheduled == []
    assert google_emulator.counts["events.patch"] == 0 and google_emulator.counts["events.get"] == 0
    assert google_emulator.counts["events.list"] == lists + 1

"""The SendGrid mailer, through the ``sendgrid`` client over real HTTP against the emulator."""

from __future__ import annotations

import base64
import http.client as http_client
import json
import math
import socket
import urllib.error
from typing import Any

import pytest
from python_http_client.exceptions import HTTPError

from config.settings import Settings
from connectors.base import (
    Address,
    Attachment,
    ConfigurationError,
    Mailer,
    MailError,
    MailUnavailable,
    OutcomeUnknown,
    OutgoingEmail,
    Presence,
    TransientError,
)
from connectors.remote import build_sendgrid_mailer
from connectors.sendgrid import Kind, MailConfigurationError, MailOutcomeUnknown, SendGridMailer, _reasons, classify
from tests.emulators import Fault, SendGridEmulator
from tests.emulators.sendgrid import VirtualClock

pytest_plugins = ["tests.emulators.fixtures"]
SENDER = Address(email="mentoring@example.org", name="Mentoring program")
NOW = 1_800_000_000.0


class Sleeper:
    """Records the waits; with a clock, lives through them (the mailer and the emulator share that clock)."""

    def __init__(self, clock: VirtualClock | None = None) -> None:
        self.waits: list[float] = []
        self.clock = clock

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.clock is not None:
            self.clock.sleep(seconds)


@pytest.fixture
def clock(sendgrid_emulator: SendGridEmulator) -> VirtualClock:
    sendgrid_emulator.clock = VirtualClock(NOW)
    return sendgrid_emulator.clock  # type: ignore[return-value]


def mailer(emulator: SendGridEmulator, sleeper: Sleeper | None = None, **options: Any) -> SendGridMailer:
    clock = emulator.clock
    return SendGridMailer(
        emulator.api_key,
        SENDER,
        host=emulator.url,
        timeout_seconds=5,
        sleep=sleeper or Sleeper(clock if isinstance(clock, VirtualClock) else None),
        clock=clock,
        **options,
    )


def email(n: int = 2, **extra: Any) -> OutgoingEmail:
    fields: dict[str, Any] = {
        "key": "invite:match-7:mentee",
        "subject": "פגישה ראשונה",
        "text": "שלום",
        "html": '<p dir="rtl">שלום</p>',
        "recipients": [Address(email=f"person{i}@example.com", name=f"P {i}") for i in range(n)],
        "categories": ["invite"],
        "custom_args": {"match_id": "7"},
        **extra,
    }
    return OutgoingEmail(**fields)


def test_send_gives_each_recipient_their_own_personalization(
    sendgrid_emulator: SendGridEmulator, clock: VirtualClock
) -> None:
    sendgrid = mailer(sendgrid_emulator)
    assert isinstance(sendgrid, Mailer)
    invite = Attachment(filename="invite.ics", content_type="text/calendar; method=REQUEST", content=b"BEGIN:VCAL")
    ref = sendgrid.send(email(attachments=[invite], reply_to=Address(email="lead@example.org")))

    (body,) = sendgrid_emulator.accepted
    assert ref.key == "invite:match-7:mentee" and ref.provider_id
    assert [p["to"] for p in body["personalizations"]] == [
        [{"email": "person0@example.com", "name": "P 0"}],
        [{"email": "person1@example.com", "name": "P 1"}],
    ]
    assert body["from"] == {"email": SENDER.email, "name": SENDER.name}
    assert body["subject"] == "פגישה ראשונה" and body["reply_to"] == {"email": "lead@example.org"}
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["attachments"] == [
        {
            "content": base64.b64encode(b"BEGIN:VCAL").decode(),
            "filename": "invite.ics",
            "type": "text/calendar",  # SendGrid refuses ';' here; the .ics says METHOD:REQUEST itself
            "disposition": "attachment",
        }
    ]
    assert body["categories"] == ["invite"]
    assert body["custom_args"] == {"match_id": "7", "mentorflow_key": "invite:match-7:mentee"}
    assert "asm" not in body and "mail_settings" not in body
    # a scheduled send in a batch of its own, 15 minutes ahead: delivered then, not before
    assert body["batch_id"] in sendgrid_emulator.batches and body["send_at"] == NOW + 900
    assert sendgrid_emulator.delivered() == []
    clock.sleep(900)
    assert sendgrid_emulator.delivered() == [body]


def test_unsubscribe_group_applies_to_the_digest_only(sendgrid_emulator: SendGridEmulator) -> None:
    sendgrid = mailer(sendgrid_emulator, unsubscribe_group=42)
    sendgrid.send(email())
    sendgrid.send(email(key="digest:2025-03", categories=["digest"]))
    invite, digest = sendgrid_emulator.accepted
    assert "asm" not in invite and digest["asm"] == {"group_id": 42}


def test_sandbox_mode_validates_without_delivering(sendgrid_emulator: SendGridEmulator) -> None:
    ref = mailer(sendgrid_emulator, sandbox=True).send(email())
    assert ref.provider_id == "sandbox"
    assert sendgrid_emulator.accepted == [] and len(sendgrid_emulator.sandboxed) == 1


def test_a_large_digest_is_split_in_requests_of_1000_in_one_batch(sendgrid_emulator: SendGridEmulator) -> None:
    recipients = [Address(email=f"m{i}@example.com") for i in range(2500)]
    recipients += [Address(email="M7@Example.com")]  # the same person twice gets one copy
    ref = mailer(sendgrid_emulator).send(email(key="digest:2025-q1", recipients=recipients, categories=["digest"]))
    assert [len(b["personalizations"]) for b in sendgrid_emulator.accepted] == [1000, 1000, 500]
    assert len({b["batch_id"] for b in sendgrid_emulator.accepted}) == 1
    delivered = sendgrid_emulator.recipients()
    assert len(delivered) == len({e.casefold() for e in delivered}) == 2500
    assert len(ref.provider_id.split(",")) == 3


def test_429_waits_until_the_rate_limit_resets(sendgrid_emulator: SendGridEmulator, clock: VirtualClock) -> None:
    sleeper = Sleeper(clock)
    sendgrid_emulator.rate_limit_next(NOW + 12)
    mailer(sendgrid_emulator, sleeper).send(email())
    assert sleeper.waits == [12.0]
    assert len(sendgrid_emulator.accepted) == 1 and sendgrid_emulator.counts["mail.send"] == 2


def test_429_wait_is_capped(sendgrid_emulator: SendGridEmulator, clock: VirtualClock) -> None:
    sleeper = Sleeper(clock)
    sendgrid_emulator.rate_limit_next(NOW + 3600)
    mailer(sendgrid_emulator, sleeper, max_wait_seconds=60).send(email())
    assert sleeper.waits == [60.0]


def test_the_one_table_maps_answers_to_what_the_caller_does() -> None:
    def http(status: int) -> HTTPError:
        return HTTPError(status, "x", b"{}", {})

    assert [classify(http(s)) for s in (429, 401, 403, 400, 413, 500, 503)] == [
        Kind.NOT_ACCEPTED,
        Kind.CONFIGURATION,
        Kind.CONFIGURATION,
        Kind.BAD_REQUEST,
        Kind.BAD_REQUEST,
        Kind.UNKNOWN,
        Kind.UNKNOWN,
    ]
    assert classify(urllib.error.URLError(ConnectionRefusedError())) is Kind.NOT_ACCEPTED
    assert classify(TimeoutError()) is Kind.UNKNOWN
    assert classify(http_client.RemoteDisconnected("closed")) is Kind.UNKNOWN
    assert classify(ValueError()) is None


@pytest.mark.parametrize(
    "fault",
    [Fault(status=503), Fault(status=500, after=True), Fault(drop=True, after=True), Fault(drop=True)],
    ids=["5xx", "accept-then-5xx", "accept-then-drop", "drop"],
)
def test_any_answer_that_does_not_prove_refusal_is_unknown_and_never_retried_blindly(
    sendgrid_emulator: SendGridEmulator, clock: VirtualClock, fault: Fault
) -> None:
    sendgrid = mailer(sendgrid_emulator)
    fault.operation = "mail.send"
    sendgrid_emulator.queue(fault)
    token = sendgrid.prepare(email())
    with pytest.raises(MailOutcomeUnknown) as caught:
        sendgrid.send(email(), token)
    assert isinstance(caught.value, OutcomeUnknown) and sendgrid_emulator.counts["mail.send"] == 1
    assert len(sendgrid_emulator.accepted) == (1 if fault.after else 0)
    # settled by SendGrid's own mechanism: the batch is cancelled, so whatever was accepted never goes out
    assert sendgrid.settle(email().key, token) is Presence.ABSENT
    assert sendgrid_emulator.statuses == {token.split("@")[0]: "cancel"}
    sendgrid.send(email(), sendgrid.prepare(email()))  # and it is sent again under a new batch
    clock.sleep(3600)
    assert len(sendgrid_emulator.delivered()) == 1


def test_no_answer_in_time_is_unknown(sendgrid_emulator: SendGridEmulator) -> None:
    sendgrid_emulator.slow_next(0.5, operation="mail.send")
    sendgrid = SendGridMailer(
        sendgrid_emulator.api_key, SENDER, host=sendgrid_emulator.url, timeout_seconds=0.2, sleep=Sleeper()
    )
    token = sendgrid.prepare(email())
    with pytest.raises(OutcomeUnknown):
        sendgrid.send(email(), token)
    assert sendgrid_emulator.wait_idle()
    assert len(sendgrid_emulator.accepted) == 1  # it did go out: "unknown" was the honest answer
    assert sendgrid.settle(email().key, token) is Presence.ABSENT
    assert sendgrid_emulator.delivered(at=math.inf) == []


def test_too_late_to_cancel_stays_unknown(sendgrid_emulator: SendGridEmulator, clock: VirtualClock) -> None:
    sendgrid = mailer(sendgrid_emulator)
    sendgrid_emulator.fail_next(500, after=True, operation="mail.send")
    token = sendgrid.prepare(email())
    with pytest.raises(MailOutcomeUnknown):
        sendgrid.send(email(), token)
    clock.sleep(300)  # exactly 10 minutes before send_at: too late
    assert sendgrid.settle(email().key, token) is Presence.UNKNOWN
    assert sendgrid_emulator.statuses == {} and len(sendgrid_emulator.delivered(at=math.inf)) == 1


def test_a_cancel_whose_answer_was_lost_is_found_cancelled(
    sendgrid_emulator: SendGridEmulator, clock: VirtualClock
) -> None:
    sendgrid = mailer(sendgrid_emulator)
    sendgrid_emulator.fail_next(500, after=True, operation="mail.send")
    token = sendgrid.prepare(email())
    with pytest.raises(MailOutcomeUnknown):
        sendgrid.send(email(), token)
    sendgrid_emulator.fail_next(503, after=True, operation="scheduled_sends.create")  # cancelled, answer lost
    assert sendgrid.settle(email().key, token) is Presence.ABSENT
    assert sendgrid_emulator.counts["scheduled_sends.create"] == 2  # the retry was told "already has a status"
    assert sendgrid_emulator.delivered(at=math.inf) == []


def test_a_failing_cancel_is_asked_again_until_its_window_closes(
    sendgrid_emulator: SendGridEmulator, clock: VirtualClock
) -> None:
    """More failures than one call's attempts: the cancellation is the only thing that settles the send, so it
    is asked again while its window lasts, not given up (a key left pending past its window is uncertain)."""
    sendgrid = mailer(sendgrid_emulator)
    sendgrid_emulator.fail_next(500, after=True, operation="mail.send")
    token = sendgrid.prepare(email())
    with pytest.raises(MailOutcomeUnknown):
        sendgrid.send(email(), token)
    sendgrid_emulator.fail_next(503, times=8, operation="scheduled_sends.create")
    assert sendgrid.settle(email().key, token) is Presence.ABSENT
    assert sendgrid_emulator.counts["scheduled_sends.create"] == 9
    assert clock() < int(token.split("@")[1]) - 600, "within its window"
    assert sendgrid_emulator.delivered(at=math.inf) == []


def test_a_cancel_made_before_its_window_closed_is_found_after(
    sendgrid_emulator: SendGridEmulator, clock: VirtualClock
) -> None:
    """Too late to cancel, but the batch was cancelled in time (the answer lost, or by a process that died
    before recording it): the send is known not to go out."""
    sendgrid = mailer(sendgrid_emulator)
    sendgrid_emulator.fail_next(500, after=True, operation="mail.send")
    token = sendgrid.prepare(email())
    with pytest.raises(MailOutcomeUnknown):
        sendgrid.send(email(), token)
    with sendgrid_emulator.lock:
        sendgrid_emulator.statuses[token.split("@")[0]] = "cancel"
    clock.sleep(300)  # exactly 10 minutes before send_at: too late to cancel
    assert sendgrid.settle(email().key, token) is Presence.ABSENT
    assert sendgrid_emulator.delivered(at=math.inf) == []


def test_a_cancel_refused_for_want_of_room_is_tried_again_when_room_was_made_meanwhile(
    sendgrid_emulator: SendGridEmulator, clock: VirtualClock
) -> None:
    sendgrid = mailer(sendgrid_emulator)
    sendgrid_emulator.fail_next(500, after=True, operation="mail.send")
    token = sendgrid.prepare(email())
    with pytest.raises(MailOutcomeUnknown):
        sendgrid.send(email(), token)
    others = [f"other{n}" for n in range(10)]  # another process's cancellations fill SendGrid's ten places
    with sendgrid_emulator.lock:
        for batch_id in others:
            sendgrid_emulator.batches[batch_id], sendgrid_emulator.statuses[batch_id] = [], "cancel"
    asked = sendgrid._statuses

    def one_lifted_meanwhile(until: float | None = None) -> dict[str, str]:  # another worker lifts one meanwhile
        with sendgrid_emulator.lock:
            sendgrid_emulator.statuses.pop(others[0], None)
        return asked(until)

    sendgrid._statuses = one_lifted_meanwhile  # type: ignore[method-assign]
    assert sendgrid.settle(email().key, token) is Presence.ABSENT, "room was made: not too late"
    assert sendgrid_emulator.statuses[token.split("@")[0]] == "cancel"
    assert sendgrid_emulator.delivered(at=math.inf) == []


def test_two_workers_never_lift_the_same_cancellation(sendgrid_emulator: SendGridEmulator, clock: VirtualClock) -> None:
    sendgrid = mailer(sendgrid_emulator)
    sendgrid_emulator.fail_next(500, after=True, operation="mail.send")
    token = sendgrid.prepare(email())
    with pytest.raises(MailOutcomeUnknown):
        sendgrid.send(email(), token)
    assert sendgrid.settle(email().key, token) is Presence.ABSENT
    clock.sleep(1000)  # past its send_at: it may be lifted
    assert sendgrid._claim_expired() == [token.split("@")[0]]
    assert sendgrid._claim_expired() == [], "claimed once"


def test_never_more_than_ten_cancellations_standing(sendgrid_emulator: SendGridEmulator, clock: VirtualClock) -> None:
    sleeper = Sleeper(clock)
    sendgrid = mailer(sendgrid_emulator, sleeper)
    sendgrid_emulator.fail_share(1.0, lambda rng: Fault(status=500, after=True), operation="mail.send")
    for n in range(25):
        message = email(key=f"survey:{n}")
        token = sendgrid.prepare(message)
        with pytest.raises(MailOutcomeUnknown):
            sendgrid.send(message, token)
        assert sendgrid.settle(message.key, token) is Presence.ABSENT
        assert len(sendgrid_emulator.statuses) <= 10
    assert sleeper.waits, "it waited for cancellations to expire instead of hitting the limit"
    assert sendgrid_emulator.counts["scheduled_sends.delete"] >= 15  # lifted only after their send_at
    assert sendgrid_emulator.delivered(at=math.inf) == []


def test_cancellations_left_by_a_killed_process_are_counted(
    sendgrid_emulator: SendGridEmulator, clock: VirtualClock
) -> None:
    first = mailer(sendgrid_emulator)
    sendgrid_emulator.fail_share(1.0, lambda rng: Fault(status=500, after=True), operation="mail.send")
    for n in range(10):
        token = first.prepare(email(key=f"k{n}"))
        with pytest.raises(MailOutcomeUnknown):
            first.send(email(key=f"k{n}"), token)
        first.settle(f"k{n}", token)
    sendgrid_emulator.clear_faults()
    second = mailer(sendgrid_emulator)  # a new process: knows nothing of the first one's cancellations
    second.send(email())
    assert len(sendgrid_emulator.statuses) <= 10 and sendgrid_emulator.counts["scheduled_sends.list"] >= 1
    assert clock() >= NOW + 900  # it waited until they could be lifted


def test_a_request_that_never_reached_sendgrid_is_retried(sendgrid_emulator: SendGridEmulator) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    sleeper = Sleeper()
    nowhere = SendGridMailer("SG.key", SENDER, host=f"http://127.0.0.1:{port}", sleep=sleeper)
    with pytest.raises(MailUnavailable) as caught:
        nowhere.prepare(email())
    assert not isinstance(caught.value, OutcomeUnknown) and sleeper.waits == [2.0, 4.0, 8.0]


def test_one_retry_layer_the_task_does_not_repeat_the_mailers_retries(
    sendgrid_emulator: SendGridEmulator, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.common

    monkeypatch.setattr(tasks.common, "TRANSIENT_RETRY_DELAYS", (0, 0, 0))
    sendgrid = mailer(sendgrid_emulator)
    token = sendgrid.prepare(email())
    rate_limited = Fault(status=429, headers={"X-RateLimit-Reset": "0"})
    sendgrid_emulator.fail_share(1.0, lambda rng: rate_limited, operation="mail.send")
    done, failed = tasks.common.each([0], lambda _: sendgrid.send(email(), token))
    assert done == {} and len(failed) == 1
    assert sendgrid_emulator.counts["mail.send"] == 4, "the mailer's 4 attempts, not 4 more per task retry"


def test_a_refusal_is_a_mail_error_without_personal_data(sendgrid_emulator: SendGridEmulator) -> None:
    bad = email(recipients=[Address(email="not-an-address")])
    with pytest.raises(MailError) as caught:
        mailer(sendgrid_emulator).send(bad)
    assert "personalizations.0.to.0.email" in str(caught.value) and "not-an-address" not in str(caught.value)
    assert not isinstance(caught.value, TransientError)


def test_error_reasons_blank_out_addresses() -> None:
    body = json.dumps(
        {
            "errors": [
                {
                    "field": "personalizations.0",
                    "message": "We found the first duplicate instance of [dana@example.com] in the field",
                }
            ]
        }
    )
    text = _reasons(HTTPError(400, "Bad Request", body.encode(), {}))
    assert "dana@example.com" not in text and "<address>" in text and "personalizations.0" in text


def test_a_wrong_key_names_the_setting(sendgrid_emulator: SendGridEmulator) -> None:
    wrong = SendGridMailer("SG.wrong", SENDER, host=sendgrid_emulator.url, sleep=Sleeper())
    with pytest.raises(MailConfigurationError, match="MENTORFLOW_SENDGRID_API_KEY"):
        wrong.check_credentials()
    mailer(sendgrid_emulator).check_credentials()
    with pytest.raises(MailConfigurationError, match="MENTORFLOW_SENDGRID_API_KEY") as caught:
        wrong.send(email())
    assert isinstance(caught.value, ConfigurationError) and "SG.wrong" not in str(caught.value)


def test_a_failure_after_a_first_request_went_out_is_unknown(sendgrid_emulator: SendGridEmulator) -> None:
    recipients = [Address(email=f"m{i}@example.com") for i in range(1500)]
    sendgrid_emulator.fail_next(400, operation="mail.send")
    with pytest.raises(MailError) as refused:
        mailer(sendgrid_emulator).send(email(recipients=recipients))
    assert not isinstance(refused.value, OutcomeUnknown)  # the first request was refused: nothing went out
    assert sendgrid_emulator.accepted == []

    sendgrid_emulator.pass_next(operation="mail.send")  # the first request goes through, the second is refused
    sendgrid_emulator.fail_next(400, operation="mail.send")
    sendgrid = mailer(sendgrid_emulator)
    token = sendgrid.prepare(email())
    with pytest.raises(OutcomeUnknown, match="1 of 2 requests"):
        sendgrid.send(email(recipients=recipients), token)
    assert sendgrid.settle(email().key, token) is Presence.ABSENT  # the accepted half is called off with it
    assert sendgrid_emulator.delivered(at=math.inf) == []


def test_build_from_settings(sendgrid_emulator: SendGridEmulator) -> None:
    settings = Settings(
        mailer="sendgrid",
        sendgrid_api_key=sendgrid_emulator.api_key,
        sendgrid_host=sendgrid_emulator.url,
        sendgrid_sandbox=True,
        sendgrid_unsubscribe_group=5,
        survey_token_secret="a-real-secret-0123",
    )
    built = build_sendgrid_mailer(settings)
    built.sleep = Sleeper()
    built.send(email(categories=["digest"]))
    (body,) = sendgrid_emulator.sandboxed
    assert body["asm"] == {"group_id": 5} and body["from"]["email"]
    missing = Settings().model_copy(update={"sendgrid_api_key": None})
    with pytest.raises(ConfigurationError, match="MENTORFLOW_SENDGRID_API_KEY"):
        build_sendgrid_mailer(missing)

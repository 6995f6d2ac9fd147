"""The SendGrid mailer, through the ``sendgrid`` client over real HTTP against the emulator."""

from __future__ import annotations

import base64
import json
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
from connectors.sendgrid import SendGridMailer, _reasons
from tests.emulators import Fault, SendGridEmulator

pytest_plugins = ["tests.emulators.fixtures"]
SENDER = Address(email="mentoring@example.org", name="Mentoring program")
NOW = 1_800_000_000.0


class Sleeper:
    """Records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def mailer(emulator: SendGridEmulator, sleeper: Sleeper | None = None, **options: Any) -> SendGridMailer:
    return SendGridMailer(emulator.api_key, SENDER, host=emulator.url, timeout_seconds=5,
                          sleep=sleeper or Sleeper(), clock=lambda: NOW, **options)


def email(n: int = 2, **extra: Any) -> OutgoingEmail:
    fields: dict[str, Any] = {
        "key": "invite:match-7:mentee", "subject": "פגישה ראשונה", "text": "שלום", "html": "<p dir=\"rtl\">שלום</p>",
        "recipients": [Address(email=f"person{i}@example.com", name=f"P {i}") for i in range(n)],
        "categories": ["invite"], "custom_args": {"match_id": "7"}, **extra}
    return OutgoingEmail(**fields)


def test_send_gives_each_recipient_their_own_personalization(sendgrid_emulator: SendGridEmulator) -> None:
    sendgrid = mailer(sendgrid_emulator)
    assert isinstance(sendgrid, Mailer)
    invite = Attachment(filename="invite.ics", content_type="text/calendar; method=REQUEST", content=b"BEGIN:VCAL")
    ref = sendgrid.send(email(attachments=[invite], reply_to=Address(email="lead@example.org")))

    (body,) = sendgrid_emulator.accepted
    assert ref.key == "invite:match-7:mentee" and ref.provider_id
    assert [p["to"] for p in body["personalizations"]] == [[{"email": "person0@example.com", "name": "P 0"}],
                                                            [{"email": "person1@example.com", "name": "P 1"}]]
    assert body["from"] == {"email": SENDER.email, "name": SENDER.name}
    assert body["subject"] == "פגישה ראשונה" and body["reply_to"] == {"email": "lead@example.org"}
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["attachments"] == [{"content": base64.b64encode(b"BEGIN:VCAL").decode(), "filename": "invite.ics",
                                    "type": "text/calendar; method=REQUEST", "disposition": "attachment"}]
    assert body["categories"] == ["invite"]
    assert body["custom_args"] == {"match_id": "7", "mentorflow_key": "invite:match-7:mentee"}
    assert "asm" not in body and "mail_settings" not in body


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


def test_a_large_digest_is_split_in_requests_of_1000(sendgrid_emulator: SendGridEmulator) -> None:
    recipients = [Address(email=f"m{i}@example.com") for i in range(2500)]
    recipients += [Address(email="M7@Example.com")]  # the same person twice gets one copy
    ref = mailer(sendgrid_emulator).send(email(key="digest:2025-q1", recipients=recipients, categories=["digest"]))
    assert [len(b["personalizations"]) for b in sendgrid_emulator.accepted] == [1000, 1000, 500]
    delivered = sendgrid_emulator.recipients()
    assert len(delivered) == len({e.casefold() for e in delivered}) == 2500
    assert len(ref.provider_id.split(",")) == 3


def test_429_waits_until_the_rate_limit_resets(sendgrid_emulator: SendGridEmulator) -> None:
    sleeper = Sleeper()
    sendgrid_emulator.rate_limit_next(NOW + 12)
    mailer(sendgrid_emulator, sleeper).send(email())
    assert sleeper.waits == [12.0]
    assert len(sendgrid_emulator.accepted) == 1 and sendgrid_emulator.counts["mail.send"] == 2


def test_429_wait_is_capped(sendgrid_emulator: SendGridEmulator) -> None:
    sleeper = Sleeper()
    sendgrid_emulator.rate_limit_next(NOW + 3600)
    mailer(sendgrid_emulator, sleeper, max_wait_seconds=60).send(email())
    assert sleeper.waits == [60.0]


def test_5xx_is_retried_with_backoff_then_unavailable(sendgrid_emulator: SendGridEmulator) -> None:
    sleeper = Sleeper()
    sendgrid_emulator.fail_next(503, times=2)
    mailer(sendgrid_emulator, sleeper).send(email())
    assert sleeper.waits == [2.0, 4.0] and len(sendgrid_emulator.accepted) == 1

    sendgrid_emulator.fail_next(500, times=4)
    with pytest.raises(MailUnavailable) as caught:
        mailer(sendgrid_emulator).send(email(key="other"))
    assert isinstance(caught.value, TransientError) and not isinstance(caught.value, OutcomeUnknown)
    assert len(sendgrid_emulator.accepted) == 1


def test_a_refusal_is_a_mail_error_without_personal_data(sendgrid_emulator: SendGridEmulator) -> None:
    bad = email(recipients=[Address(email="not-an-address")])
    with pytest.raises(MailError) as caught:
        mailer(sendgrid_emulator).send(bad)
    assert "personalizations.0.to.0.email" in str(caught.value) and "not-an-address" not in str(caught.value)
    assert not isinstance(caught.value, TransientError)


def test_error_reasons_blank_out_addresses() -> None:
    body = json.dumps({"errors": [{"field": "personalizations.0", "message":
                                   "We found the first duplicate instance of [dana@example.com] in the field"}]})
    text = _reasons(HTTPError(400, "Bad Request", body.encode(), {}))
    assert "dana@example.com" not in text and "<address>" in text and "personalizations.0" in text


def test_a_wrong_key_names_the_setting(sendgrid_emulator: SendGridEmulator) -> None:
    wrong = SendGridMailer("SG.wrong", SENDER, host=sendgrid_emulator.url, sleep=Sleeper())
    with pytest.raises(MailError, match="MENTORFLOW_SENDGRID_API_KEY") as caught:
        wrong.send(email())
    assert "SG.wrong" not in str(caught.value)


def test_no_answer_means_the_outcome_is_unknown(sendgrid_emulator: SendGridEmulator) -> None:
    sendgrid_emulator.slow_next(0.5)
    sendgrid = SendGridMailer(sendgrid_emulator.api_key, SENDER, host=sendgrid_emulator.url, timeout_seconds=0.2,
                              sleep=Sleeper())
    with pytest.raises(OutcomeUnknown):
        sendgrid.send(email())
    assert sendgrid.lookup(email().key) is Presence.UNKNOWN
    assert sendgrid_emulator.wait_idle()
    assert len(sendgrid_emulator.accepted) == 1  # it did go out: "unknown" was the honest answer


def test_a_failure_after_a_first_batch_went_out_is_unknown(sendgrid_emulator: SendGridEmulator) -> None:
    recipients = [Address(email=f"m{i}@example.com") for i in range(1500)]
    sendgrid_emulator.fail_next(400)
    with pytest.raises(MailError) as refused:
        mailer(sendgrid_emulator).send(email(recipients=recipients))
    assert not isinstance(refused.value, OutcomeUnknown)  # the first batch was refused: nothing went out
    assert sendgrid_emulator.accepted == []

    sendgrid_emulator.pass_next()  # the first batch goes through, the second keeps failing
    sendgrid_emulator.fail_next(503, times=4)
    with pytest.raises(OutcomeUnknown, match="1 of 2 batches"):
        mailer(sendgrid_emulator).send(email(recipients=recipients))
    assert [len(b["personalizations"]) for b in sendgrid_emulator.accepted] == [1000]


def test_faults_on_a_share_of_requests_never_duplicate_a_message(sendgrid_emulator: SendGridEmulator) -> None:
    sendgrid_emulator.fail_share(0.4, lambda rng: Fault(status=rng.choice([429, 500, 502, 503]),
                                                        headers={"X-RateLimit-Reset": str(int(NOW + 1))}), seed=3)
    sendgrid = mailer(sendgrid_emulator, attempts=2)
    returned: list[str] = []
    for n in range(40):
        message = email(key=f"survey:{n}", recipients=[Address(email=f"r{n}@example.com")])
        try:
            sendgrid.send(message)
            returned.append(f"r{n}@example.com")
        except MailUnavailable:
            continue
    accepted = sendgrid_emulator.recipients()
    assert sendgrid_emulator.faults_served > 10 and len(returned) < 40
    assert sorted(accepted) == sorted(returned)  # exactly one accepted message per send that returned


def test_build_from_settings(sendgrid_emulator: SendGridEmulator) -> None:
    settings = Settings(mailer="sendgrid", sendgrid_api_key=sendgrid_emulator.api_key,
                        sendgrid_host=sendgrid_emulator.url, sendgrid_sandbox=True, sendgrid_unsubscribe_group=5,
                        survey_token_secret="a-real-secret-0123")
    built = build_sendgrid_mailer(settings)
    built.sleep = Sleeper()
    built.send(email(categories=["digest"]))
    (body,) = sendgrid_emulator.sandboxed
    assert body["asm"] == {"group_id": 5} and body["from"]["email"]
    missing = Settings().model_copy(update={"sendgrid_api_key": None})
    with pytest.raises(ConfigurationError, match="MENTORFLOW_SENDGRID_API_KEY"):
        build_sendgrid_mailer(missing)

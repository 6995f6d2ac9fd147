"""Every Mailer: one copy per recipient (nobody sees another's address), and an honest ``settle``."""

from __future__ import annotations

import email
import email.policy
import math
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import getaddresses
from pathlib import Path

import pytest

from connectors.base import Address, Mailer, OutgoingEmail, Presence, SentRef
from connectors.local.outbox import EmlOutbox
from connectors.sendgrid import SendGridMailer
from tests.emulators.sendgrid import SendGridEmulator
from tests.emulators.server import shared


@dataclass
class Harness:
    mailer: Mailer
    delivered: Callable[[], list[list[str]]]  # the "To" addresses of every copy that went out


def eml(tmp_path: Path) -> Harness:
    def delivered() -> list[list[str]]:
        copies = [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(tmp_path.glob("*.eml"))
        ]
        return [[a for _, a in getaddresses([str(m["To"])])] for m in copies]

    return Harness(EmlOutbox(tmp_path), delivered)


def sendgrid(tmp_path: Path) -> Harness:
    emulator = shared(SendGridEmulator)
    emulator.reset()
    mailer = SendGridMailer(
        emulator.api_key,
        Address(email="program@example.org"),
        host=emulator.url,
        timeout_seconds=5,
        sleep=lambda _: None,
    )
    return Harness(
        mailer,
        lambda: [
            [to["email"] for to in p["to"]]
            for body in emulator.delivered(at=math.inf)
            for p in body["personalizations"]
        ],
    )


IMPLEMENTATIONS: dict[str, Callable[[Path], Harness]] = {"eml": eml, "sendgrid": sendgrid}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    return IMPLEMENTATIONS[request.param](tmp_path)


def message(key: str = "invite:match-1") -> OutgoingEmail:
    return OutgoingEmail(
        key=key,
        subject="הזמנה",
        text="שלום",
        html="<p>שלום</p>",
        categories=["invite"],
        recipients=[Address(email="noa@example.com", name="נועה"), Address(email="dana@example.com", name="Dana")],
    )


def test_implements_the_protocol(harness: Harness) -> None:
    assert isinstance(harness.mailer, Mailer)


def test_each_recipient_gets_their_own_copy(harness: Harness) -> None:
    ref = harness.mailer.send(message())
    assert isinstance(ref, SentRef) and ref.key == "invite:match-1" and ref.provider_id
    assert sorted(harness.delivered()) == [["dana@example.com"], ["noa@example.com"]]


def test_settle_never_claims_done_before_a_send(harness: Harness) -> None:
    message_ = message()
    token = harness.mailer.prepare(message_)
    assert harness.mailer.settle(message_.key, token) is Presence.ABSENT  # nothing was sent under it
    harness.mailer.send(message_, token)
    assert harness.mailer.settle(message_.key, token) in {Presence.DONE, Presence.ABSENT}
    other = message("invite:match-2")
    assert harness.mailer.settle(other.key, harness.mailer.prepare(other)) is Presence.ABSENT


def test_an_attempt_settled_absent_is_not_delivered(harness: Harness) -> None:
    """ABSENT is a promise: whatever the attempt did never reaches anyone, so sending again is safe."""
    message_ = message()
    token = harness.mailer.prepare(message_)
    harness.mailer.send(message_, token)
    if harness.mailer.settle(message_.key, token) is Presence.ABSENT:
        assert harness.delivered() == []
    else:
        assert len(harness.delivered()) == 2

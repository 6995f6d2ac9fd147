"""SendGrid's Event Webhook (optional): only a verified, recent call acts; its unsubscribes, spam reports and
bounces leave the very next newsletter; a forged, stale or unsigned call changes nothing."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from config.settings import Settings
from domain.links import person_key
from domain.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER
from mentorflow.bootstrap import Services, build_services

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _keys() -> tuple[ec.EllipticCurvePrivateKey, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, base64.b64encode(public).decode()


def _signed(private: ec.EllipticCurvePrivateKey, body: bytes, at: datetime) -> dict[str, str]:
    stamp = str(int(at.timestamp()))
    signature = private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: stamp}


EVENTS = [
    {"email": "a@example.org", "event": "unsubscribe"},
    {"email": "b@example.org", "event": "spamreport"},
    {"email": "c@example.org", "event": "bounce"},
    {"email": "d@example.org", "event": "delivered"},
    {"email": "e@example.org", "event": "open"},
]


@pytest.fixture
def keyed(data_dir: Path) -> tuple[Services, ec.EllipticCurvePrivateKey]:
    private, public = _keys()
    settings = Settings(data_dir=data_dir, sendgrid_webhook_public_key=public, _env_file=None)  # type: ignore[call-arg]
    return build_services(settings), private


def _stopped(svc: Services) -> set[str]:
    with svc.store.unit_of_work() as uow:
        return uow.newsletter.unsubscribed()


def test_a_verified_call_stops_the_newsletter_for_unsubscribes_spam_reports_and_bounces(keyed) -> None:  # type: ignore[no-untyped-def]
    from tasks.webhook import record_provider_events

    svc, private = keyed
    body = json.dumps(EVENTS).encode()
    result = record_provider_events(svc, body, _signed(private, body, NOW), NOW)
    assert result.accepted and (result.events, result.stopped) == (5, 3)
    secret = svc.settings.survey_token_secret.get_secret_value()
    assert _stopped(svc) == {person_key(e, secret) for e in ("a@example.org", "b@example.org", "c@example.org")}
    again = record_provider_events(svc, body, _signed(private, body, NOW), NOW)
    assert again.accepted and again.stopped == 0, "SendGrid retries a call: recording it twice changes nothing"


def test_a_forged_stale_or_unsigned_call_changes_nothing(keyed) -> None:  # type: ignore[no-untyped-def]
    from tasks.webhook import record_provider_events

    svc, private = keyed
    body = json.dumps(EVENTS).encode()
    other, _ = _keys()
    tampered = json.dumps([{"email": "x@example.org", "event": "unsubscribe"}]).encode()
    for headers, payload, why in [
        (_signed(other, body, NOW), body, "signature"),
        (_signed(private, body, NOW), tampered, "signature"),
        (_signed(private, body, NOW - timedelta(hours=1)), body, "timestamp"),
        ({}, body, "malformed"),
    ]:
        result = record_provider_events(svc, payload, headers, NOW)
        assert not result.accepted and why in result.reason
    assert _stopped(svc) == set()


def test_without_a_key_nothing_is_accepted(data_dir: Path) -> None:
    from tasks.webhook import record_provider_events

    svc = build_services(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    private, _ = _keys()
    body = json.dumps(EVENTS).encode()
    assert not record_provider_events(svc, body, _signed(private, body, NOW), NOW).accepted


def test_the_receiver_answers_204_for_a_verified_call_and_403_otherwise(keyed) -> None:  # type: ignore[no-untyped-def]
    from mentorflow.webhook import PATH, make_server

    svc, private = keyed
    server = make_server(svc, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}{PATH}"
    body = json.dumps(EVENTS[:1]).encode()

    def post(headers: dict[str, str]) -> int:
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    try:
        assert post({}) == 403
        assert post(_signed(private, body, datetime.now(UTC))) == 204
    finally:
        server.shutdown()
    assert len(_stopped(svc)) == 1

"""SendGrid's Event Webhook (optional): verify its signature and turn its events into newsletter stops.

SendGrid signs each POST with ECDSA P-256 over SHA-256 of ``timestamp + raw body``; the signature
(``X-Twilio-Email-Event-Webhook-Signature``, base64 DER) and the timestamp
(``X-Twilio-Email-Event-Webhook-Timestamp``) come in headers, the public key from the webhook's settings.
Unsubscribes, group unsubscribes, spam reports and bounces stop the newsletter for that address, kept by the
opaque person key only (``domain.links.person_key``), as an unsubscribe link does.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from domain.links import person_key

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
STOPS = {"unsubscribe": "provider", "group_unsubscribe": "provider", "spamreport": "provider", "bounce": "provider"}
MAX_SKEW = timedelta(minutes=10)


class WebhookRefused(ValueError):
    """A webhook call that must not act (bad signature, stale timestamp, not JSON); the message names no one."""


def verify_signature(public_key_b64: str, payload: bytes, signature_b64: str, timestamp: str, now: datetime) -> None:
    """Raise :class:`WebhookRefused` unless SendGrid signed ``timestamp + payload`` with this key, recently."""
    try:
        key = load_der_public_key(base64.b64decode(public_key_b64))
        signature = base64.b64decode(signature_b64, validate=True)
        at = datetime.fromtimestamp(int(timestamp), UTC)
    except (ValueError, binascii.Error, TypeError):
        raise WebhookRefused("malformed signature, key or timestamp") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise WebhookRefused("the verification key is not an elliptic-curve key")
    if abs(now - at) > MAX_SKEW:
        raise WebhookRefused("the timestamp is too old or in the future (a replay?)")
    try:
        key.verify(signature, timestamp.encode() + payload, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise WebhookRefused("the signature does not match") from None


def newsletter_stops(events: Iterable[object], secret: str) -> dict[str, str]:
    """Person key → event kind, for every event that stops the newsletter for its address."""
    out: dict[str, str] = {}
    for event in events:
        if not isinstance(event, dict):
            continue
        kind, email = event.get("event"), event.get("email")
        if kind in STOPS and isinstance(email, str) and "@" in email:
            out[person_key(email, secret)] = str(kind)
    return out


def parse_events(payload: bytes) -> list[object]:
    """The list of events of a webhook body."""
    try:
        events = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRefused("the body is not JSON") from None
    if not isinstance(events, list):
        raise WebhookRefused("the body is not a list of events")
    return events

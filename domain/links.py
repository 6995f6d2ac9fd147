"""Signed links: survey answers and self-service actions (unsubscribe, erase my data, …).

A token names who it is for (``subject``: a side of a match such as ``mentee``, or an opaque person key), the
match it belongs to (if any) and when it expires, signed with HMAC-SHA256 under the program's secret and
the link's ``purpose``. The purpose is part of the signature but not of the token, so a survey link cannot be
used to unsubscribe and the other way round. No personal data is in a token: it is a URL that people forward.

Format: ``<match or ->.<subject>.<expiry, unix seconds in base 36>.<22-character signature>``.
Whether a valid token may still act (single use, ended matches) is the caller's decision over the store.
"""

from __future__ import annotations

import base64
import hmac
import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from domain.models import AwareDatetime

_TOKEN = re.compile(r"^(\d{1,12}|-)\.([A-Za-z0-9_-]{1,64})\.([0-9a-z]{1,10})\.([A-Za-z0-9_-]{22})$")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


class LinkClaims(BaseModel):
    """What a signed link says: for what, for whom, in which match, until when."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    purpose: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    subject: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    match_id: int | None = Field(None, ge=0)
    expires: AwareDatetime


class LinkRefused(ValueError):
    """A link that must not act; ``reason`` says why in words for the lead (never the token itself)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _base36(n: int) -> str:
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = _DIGITS[r] + out
        if n == 0:
            return out


def _signature(purpose: str, match: str, subject: str, expiry: str, secret: str) -> str:
    message = f"mentorflow-link:{purpose}:{match}:{subject}:{expiry}".encode()
    mac = hmac.digest(secret.encode(), message, "sha256")[:16]  # one-shot: hmac.new's Python setup cost more
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def sign_link(claims: LinkClaims, secret: str) -> str:
    """The URL-safe token for ``claims`` (expiry kept to the second)."""
    if not secret:
        raise ValueError("the link secret is empty")
    match = "-" if claims.match_id is None else str(claims.match_id)
    expiry = _base36(int(claims.expires.timestamp()))
    return f"{match}.{claims.subject}.{expiry}.{_signature(claims.purpose, match, claims.subject, expiry, secret)}"


def verify_link(token: str, secret: str, purpose: str, now: datetime | None = None) -> LinkClaims:
    """The claims of a token signed with ``secret`` for ``purpose``; with ``now``, also not yet expired.

    Raises :class:`LinkRefused` when the token is malformed, forged (another secret, purpose, match, subject
    or expiry) or expired.
    """
    m = _TOKEN.match(token.strip())
    if m is None or not secret:
        raise LinkRefused("not a valid link")
    match, subject, expiry, signature = m.groups()
    if not hmac.compare_digest(signature, _signature(purpose, match, subject, expiry, secret)):
        raise LinkRefused("not a valid link")
    expires = datetime.fromtimestamp(int(expiry, 36), UTC)
    if now is not None and now > expires:
        raise LinkRefused("the link has expired")
    return LinkClaims(purpose=purpose, subject=subject, match_id=None if match == "-" else int(match), expires=expires)


def person_key(email: str, secret: str) -> str:
    """An opaque, stable key for a person in links (a keyed hash of the address; the address is not in it)."""
    mac = hmac.digest(secret.encode(), f"mentorflow-person:{email.strip().casefold()}".encode(), "sha256")
    return base64.urlsafe_b64encode(mac[:12]).decode()

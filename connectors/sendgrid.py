"""SendGrid (v3 Mail Send) as the mailer.

One personalization per recipient, so nobody sees another's address; at most 1000 per request (a larger
digest goes out in several requests). 202 (200 in sandbox mode) means accepted. A 429 waits until
``X-RateLimit-Reset`` (capped) and tries again; a 5xx is retried with backoff, then ``MailUnavailable``;
any other 4xx is a ``MailError`` carrying SendGrid's reasons with addresses blanked out. A timeout after
the request went out is an :class:`~connectors.base.OutcomeUnknown`: SendGrid may have accepted it.

``lookup`` answers UNKNOWN: Mail Send has no "was message X sent" query (the Email Activity API is a paid
add-on and is eventually consistent), so the ledger leaves an unknown outcome to the lead.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
from collections.abc import Callable
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from connectors.base import (
    Address,
    ConfigurationError,
    MailError,
    MailUnavailable,
    OutcomeUnknown,
    OutgoingEmail,
    Presence,
    SentRef,
)

MAX_PERSONALIZATIONS = 1000
MAX_CATEGORIES = 10
EMAIL_LIKE = re.compile(r"[^\s@\[\]<>\"']+@[^\s@\[\]<>\"']+")


class MailOutcomeUnknown(MailUnavailable, OutcomeUnknown):
    """SendGrid may have accepted (part of) the message; the lead decides whether to send again."""


class SendGridMailer:
    """A :class:`~connectors.base.Mailer` over SendGrid's Mail Send API (via the ``sendgrid`` client)."""

    def __init__(self, api_key: str, sender: Address, *, host: str = "https://api.sendgrid.com",
                 sandbox: bool = False, unsubscribe_group: int | None = None,
                 unsubscribe_categories: frozenset[str] = frozenset({"digest"}), timeout_seconds: float = 20.0,
                 attempts: int = 4, max_wait_seconds: float = 60.0, backoff_seconds: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time) -> None:
        self.client = SendGridAPIClient(api_key=api_key, host=host.rstrip("/"))
        self.sender = sender
        self.sandbox = sandbox
        self.unsubscribe_group = unsubscribe_group
        self.unsubscribe_categories = unsubscribe_categories
        self.timeout_seconds = timeout_seconds
        self.attempts = attempts
        self.max_wait_seconds = max_wait_seconds
        self.backoff_seconds = backoff_seconds
        self.sleep = sleep
        self.clock = clock

    def send(self, message: OutgoingEmail) -> SentRef:
        """Send ``message`` to each recipient separately; its ``provider_id`` lists SendGrid's message ids."""
        bodies = self.bodies(message)
        ids: list[str] = []
        for number, body in enumerate(bodies):
            try:
                ids.append(self._post(body, message.key))
            except MailError as exc:
                if number == 0:
                    raise
                raise MailOutcomeUnknown(
                    f"message {message.key}: {number} of {len(bodies)} batches were accepted, then: {exc}") from exc
        return SentRef(key=message.key, provider_id=",".join(ids))

    def lookup(self, key: str) -> Presence:
        """UNKNOWN: SendGrid cannot say whether a message went out (see the module docstring)."""
        return Presence.UNKNOWN

    def check_credentials(self) -> None:
        """One cheap authenticated call (``GET /v3/scopes``): ConfigurationError naming the setting if refused."""
        try:
            response = self.client.client.scopes.get(timeout=self.timeout_seconds)
        except HTTPError as exc:
            status = int(exc.status_code)
            if status in (401, 403):
                raise ConfigurationError(
                    f"SendGrid refused MENTORFLOW_SENDGRID_API_KEY ({status}): check the key is current and "
                    "may send mail") from exc
            raise MailUnavailable(f"SendGrid could not check the API key ({status})") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise MailUnavailable(f"could not reach SendGrid to check the API key ({type(exc).__name__})") from exc
        try:
            scopes = json.loads(response.body or b"{}").get("scopes") or []
        except (ValueError, AttributeError):
            return  # an answer we cannot read still proved the key
        if "mail.send" not in scopes:
            raise ConfigurationError("MENTORFLOW_SENDGRID_API_KEY may not send mail: give the key the Mail Send scope")

    def bodies(self, message: OutgoingEmail) -> list[dict[str, Any]]:
        """The Mail Send request bodies for ``message``: one per 1000 distinct recipients."""
        content = [{"type": t, "value": v} for t, v in (("text/plain", message.text), ("text/html", message.html)) if v]
        if not content:
            raise MailError(f"message {message.key} has neither text nor html content")
        common: dict[str, Any] = {
            "from": _address(message.sender or self.sender),
            "subject": message.subject,
            "content": content,
            "headers": {"Content-Language": message.language},
            "custom_args": {**message.custom_args, "mentorflow_key": message.key},
        }
        if message.reply_to is not None:
            common["reply_to"] = _address(message.reply_to)
        if message.categories:
            common["categories"] = list(dict.fromkeys(message.categories))[:MAX_CATEGORIES]
        if message.attachments:
            common["attachments"] = [{"content": base64.b64encode(a.content).decode("ascii"), "type": a.content_type,
                                      "filename": a.filename, "disposition": "attachment"}
                                     for a in message.attachments]
        if self.unsubscribe_group is not None and self.unsubscribe_categories & set(message.categories):
            common["asm"] = {"group_id": self.unsubscribe_group}
        if self.sandbox:
            common["mail_settings"] = {"sandbox_mode": {"enable": True}}
        unique = list({r.email.strip().casefold(): r for r in message.recipients}.values())
        return [{**common, "personalizations": [{"to": [_address(r)]} for r in unique[i:i + MAX_PERSONALIZATIONS]]}
                for i in range(0, len(unique), MAX_PERSONALIZATIONS)]

    def _post(self, body: dict[str, Any], key: str) -> str:
        """POST one body; returns the message id (``sandbox`` in sandbox mode)."""
        for attempt in range(self.attempts):
            last = attempt == self.attempts - 1
            try:
                response = self.client.client.mail.send.post(request_body=body, timeout=self.timeout_seconds)
            except HTTPError as exc:
                status = int(exc.status_code)
                if status == 429 or status >= 500:
                    if last:
                        raise MailUnavailable(f"SendGrid kept answering {status} for message {key}") from exc
                    self.sleep(self._wait(exc, attempt))
                    continue
                hint = " (check MENTORFLOW_SENDGRID_API_KEY)" if status == 401 else ""
                raise MailError(f"SendGrid refused message {key} ({status}){hint}: {_reasons(exc)}") from exc
            except urllib.error.URLError as exc:  # could not connect or send: SendGrid got no request
                if last:
                    raise MailUnavailable(f"could not reach SendGrid for message {key} ({type(exc.reason).__name__})"
                                          ) from exc
                self.sleep(self._backoff(attempt))
                continue
            except (TimeoutError, OSError) as exc:  # sent, but no answer: it may have been accepted
                raise MailOutcomeUnknown(f"SendGrid did not answer for message {key} ({type(exc).__name__})") from exc
            headers = {k.lower(): v for k, v in (response.headers or {}).items()}
            return str(headers.get("x-message-id") or ("sandbox" if self.sandbox else "accepted"))
        raise AssertionError("unreachable")

    def _wait(self, exc: HTTPError, attempt: int) -> float:
        """Seconds to wait: until ``X-RateLimit-Reset`` for a 429 (capped), else exponential backoff."""
        headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
        reset = headers.get("x-ratelimit-reset")
        if int(exc.status_code) == 429 and reset is not None:
            try:
                return min(max(float(reset) - self.clock(), 0.0), self.max_wait_seconds)
            except ValueError:
                pass
        return self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_seconds * 2 ** attempt, self.max_wait_seconds)


def _address(address: Address) -> dict[str, str]:
    return {"email": address.email, **({"name": address.name} if address.name else {})}


def _reasons(exc: HTTPError) -> str:
    """SendGrid's error messages and fields, with anything that looks like an address blanked out."""
    try:
        errors = json.loads(exc.body)["errors"]
        text = "; ".join(f"{e.get('field') or 'request'}: {e.get('message', '')}" for e in errors)
    except (ValueError, KeyError, TypeError, AttributeError):
        text = str(getattr(exc, "reason", "") or "no details")
    return EMAIL_LIKE.sub("<address>", text)[:500]

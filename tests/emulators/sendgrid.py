"""A SendGrid v3 Mail Send emulator: ``POST /v3/mail/send`` with the service's validation and error shape.

Accepted messages answer 202 with an ``X-Message-Id`` and are kept in ``accepted`` for assertions;
``mail_settings.sandbox_mode.enable`` answers 200 and keeps them in ``sandboxed`` instead (validated, not
delivered). Invalid requests answer 400 ``{"errors": [{"message", "field", "help"}]}``.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
import uuid
from typing import Any

from tests.emulators.server import ApiError, Emulator, Reply, Request

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_PERSONALIZATIONS = 1000


class _Invalid(Exception):
    def __init__(self, field_name: str | None, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name
        self.message = message


class SendGridEmulator(Emulator):
    """Validates like Mail Send, records accepted messages, and can answer 429 with rate-limit headers."""

    def __init__(self, api_key: str = "SG.emulator-key-7Hq2Xv9LmT4w") -> None:
        super().__init__()
        self.api_key = api_key
        self.accepted: list[dict[str, Any]] = []
        self.sandboxed: list[dict[str, Any]] = []
        self.rejected: list[dict[str, Any]] = []
        self.route("POST", "/v3/mail/send", "mail.send", self._send)
        self.route("GET", "/v3/scopes", "scopes.get", self._scopes)

    def error_body(self, error: ApiError) -> Any:
        return {"errors": [{"message": error.message, "field": error.field_name, "help": None}]}

    def reset(self) -> None:
        super().reset()  # first: it waits for requests in flight, which need the lock
        with self.lock:
            self.accepted.clear()
            self.sandboxed.clear()
            self.rejected.clear()

    def rate_limit_next(self, reset_at: float, *, times: int = 1) -> None:
        """Answer the next sends with 429 and ``X-RateLimit-Reset: reset_at`` (epoch seconds)."""
        self.fail_next(429, times=times, operation="mail.send", headers={
            "X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(reset_at))})

    def recipients(self) -> list[str]:
        """Every address of every accepted message, in order."""
        with self.lock:
            return [to["email"] for body in self.accepted for p in body["personalizations"] for to in p["to"]]

    def _scopes(self, request: Request) -> Reply:
        """The key's scopes (what ``check_credentials`` asks: a cheap authenticated GET)."""
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            raise ApiError(401, "authorization required")
        return Reply(200, {"scopes": ["mail.send"]})

    def _send(self, request: Request) -> Reply:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            raise ApiError(401, "The provided authorization grant is invalid, expired, or revoked")
        body = request.body
        problems = _validate(body) if isinstance(body, dict) else [_Invalid(None, "Bad Request")]
        if problems:
            self.rejected.append(body if isinstance(body, dict) else {})
            return Reply(400, {"errors": [{"message": p.message, "field": p.field_name, "help": None}
                                          for p in problems]})
        assert isinstance(body, dict)
        if ((body.get("mail_settings") or {}).get("sandbox_mode") or {}).get("enable"):
            self.sandboxed.append(body)
            return Reply(200)
        self.accepted.append(body)
        return Reply(202, None, {"X-Message-Id": uuid.uuid4().hex[:22]})


def _validate(body: dict[str, Any]) -> list[_Invalid]:
    problems: list[_Invalid] = []

    def check(condition: bool, field_name: str | None, message: str) -> bool:
        if not condition:
            problems.append(_Invalid(field_name, message))
        return condition

    sender = body.get("from")
    if check(isinstance(sender, dict) and "email" in sender, "from.email",
             "The from object must be provided for every email send. It is an object that requires the email "
             "parameter, but may also contain a name parameter."):
        check(bool(EMAIL.match(str(sender["email"]))), "from.email",  # type: ignore[index]
              "The from email does not contain a valid address.")
    people = body.get("personalizations")
    if check(isinstance(people, list) and len(people) > 0, "personalizations",
             "The personalization block is required and must contain at least one personalization."):
        assert isinstance(people, list)
        check(len(people) <= MAX_PERSONALIZATIONS, "personalizations",
              f"The personalization block is limited to {MAX_PERSONALIZATIONS} personalizations per API request. "
              f"You have provided {len(people)} personalizations. Please consider splitting this into multiple "
              "requests and resending your request.")
        seen: set[str] = set()
        for i, p in enumerate(people):
            to = p.get("to") if isinstance(p, dict) else None
            if not check(isinstance(to, list) and len(to) > 0, f"personalizations.{i}.to",
                         "The to array is required for all personalization objects, and must have at least one "
                         "email object with a valid email address."):
                continue
            assert isinstance(to, list) and isinstance(p, dict)
            for j, person in enumerate(to):
                email = str(person.get("email", "")) if isinstance(person, dict) else ""
                if check(bool(EMAIL.match(email)), f"personalizations.{i}.to.{j}.email",
                         "Does not contain a valid address."):
                    check(email.casefold() not in seen, f"personalizations.{i}",
                          "Each unique email address in the personalizations array should only be included once. "
                          f"You have included [{email}] more than once.")
                    seen.add(email.casefold())
            if not body.get("subject"):
                check(bool(p.get("subject")), f"personalizations.{i}.subject",
                      "The subject is required. You can get around this requirement if you use a template with a "
                      "subject defined or if every personalization has a subject defined.")
            for key, value in (p.get("custom_args") or {}).items():
                check(isinstance(value, str), f"personalizations.{i}.custom_args.{key}",
                      "Custom args must be strings.")
        check(sum(len(p.get("to") or []) for p in people if isinstance(p, dict)) <= 1000, "personalizations",
              "There is a limit of 1000 total recipients (to + cc + bcc) per request.")
    content = body.get("content")
    if not body.get("template_id") and check(isinstance(content, list) and len(content) > 0, "content",
                                             "Unless a valid template_id is provided, the content array is required."):
        assert isinstance(content, list)
        for i, part in enumerate(content):
            check(isinstance(part, dict) and bool(part.get("value")), f"content.{i}.value",
                  "The content value must be a string at least one character in length.")
        types = [part.get("type") for part in content if isinstance(part, dict)]
        if "text/plain" in types:
            check(types[0] == "text/plain", "content.0.type", "If present, text/plain must be first, followed by "
                                                              "text/html, followed by any other content.")
    for i, attachment in enumerate(body.get("attachments") or []):
        check(bool(attachment.get("filename")), f"attachments.{i}.filename",
              "The attachment filename parameter is required.")
        try:
            base64.b64decode(attachment.get("content", ""), validate=True)
        except (binascii.Error, ValueError):
            problems.append(_Invalid(f"attachments.{i}.content", "The attachment content must be base64 encoded."))
    categories = body.get("categories") or []
    check(len(categories) <= 10, "categories", "Too many categories: a message may have at most 10.")
    for i, category in enumerate(categories):
        check(isinstance(category, str) and 0 < len(category) <= 255, f"categories.{i}",
              "A category cannot exceed 255 characters and must be a string.")
    if "asm" in body:
        check(isinstance((body["asm"] or {}).get("group_id"), int), "asm.group_id",
              "The asm.group_id must be an integer.")
    return problems


def reset_in(seconds: float) -> float:
    """An ``X-RateLimit-Reset`` value ``seconds`` from now (epoch seconds)."""
    return time.time() + seconds

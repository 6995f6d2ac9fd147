"""A SendGrid v3 emulator: Mail Send with the service's validation, batches and scheduled sends.

``POST /v3/mail/send`` validates as the service does and answers 202 with an ``X-Message-Id``; with
``mail_settings.sandbox_mode.enable`` it answers 200 and delivers nothing. A message may carry a ``batch_id``
(made by ``POST /v3/mail/batch``) and a ``send_at`` (integer Unix time, at most 72 hours ahead). A batch can be
cancelled or paused (``POST /v3/user/scheduled_sends``) until 10 minutes before the earliest ``send_at`` of its
messages, and no more than 10 batches may be cancelled or paused at once (until their status is deleted with
``DELETE /v3/user/scheduled_sends/{batch_id}``, which also lifts the cancellation). A cancelled batch's messages
are discarded; everything else is delivered once its ``send_at`` has passed, by the emulator's ``clock`` (tests
can set it): :meth:`SendGridEmulator.delivered` is what recipients got. Invalid requests answer 400
``{"errors": [{"message", "field", "help"}]}``. Faults come from :class:`~tests.emulators.server.Emulator`
(a 5xx or a dropped connection before or after the message was accepted, slow answers, 429).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.emulators.server import ApiError, Emulator, Reply, Request

# What SendGrid takes: an ASCII local part without leading, trailing or doubled dots, and a dotted domain.
EMAIL = re.compile(
    r"^(?!\.)(?!.*\.\.)[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+(?<!\.)"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
# A content or attachment type: type/subtype, no parameters (SendGrid refuses ';' and CRLF in it).
MIME_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")
MAX_PERSONALIZATIONS = 1000
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_SCHEDULE_AHEAD = 72 * 3600
CANCEL_LEAD = 600  # a batch can be cancelled or paused until 10 minutes before its send_at
MAX_STATUSES = 10  # batches cancelled or paused at once
FIELDS = {
    "personalizations",
    "from",
    "reply_to",
    "reply_to_list",
    "subject",
    "content",
    "attachments",
    "template_id",
    "headers",
    "categories",
    "custom_args",
    "send_at",
    "batch_id",
    "asm",
    "ip_pool_name",
    "mail_settings",
    "tracking_settings",
}
PERSONALIZATION_FIELDS = {
    "to",
    "cc",
    "bcc",
    "from",
    "subject",
    "headers",
    "substitutions",
    "dynamic_template_data",
    "custom_args",
    "send_at",
}


class _Invalid(Exception):
    def __init__(self, field_name: str | None, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name
        self.message = message


@dataclass
class Scheduled:
    """One accepted Mail Send request: delivered at ``send_at`` unless its batch was cancelled by then."""

    body: dict[str, Any]
    batch_id: str | None
    send_at: float
    message_id: str
    discarded: bool = False  # its send_at came while its batch was cancelled


class SendGridEmulator(Emulator):
    """Mail Send, batch ids and scheduled sends with the service's rules; faults from the base class."""

    def __init__(self, api_key: str = "SG.emulator-key-7Hq2Xv9LmT4w", clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.api_key = api_key
        self.clock = clock
        self.accepted: list[dict[str, Any]] = []
        self.sandboxed: list[dict[str, Any]] = []
        self.rejected: list[dict[str, Any]] = []
        self.scheduled: list[Scheduled] = []
        self.batches: dict[str, list[Scheduled]] = {}
        self.statuses: dict[str, str] = {}  # batch id -> "cancel" | "pause"
        self.route("POST", "/v3/mail/send", "mail.send", self._send)
        self.route("GET", "/v3/scopes", "scopes.get", self._scopes)
        self.route("POST", "/v3/mail/batch", "batch.create", self._create_batch)
        self.route("GET", "/v3/mail/batch/{batch_id}", "batch.get", self._get_batch)
        self.route("POST", "/v3/user/scheduled_sends", "scheduled_sends.create", self._set_status)
        self.route("GET", "/v3/user/scheduled_sends", "scheduled_sends.list", self._list_statuses)
        self.route("GET", "/v3/user/scheduled_sends/{batch_id}", "scheduled_sends.get", self._get_status)
        self.route("DELETE", "/v3/user/scheduled_sends/{batch_id}", "scheduled_sends.delete", self._delete_status)

    def error_body(self, error: ApiError) -> Any:
        return {"errors": [{"message": error.message, "field": error.field_name, "help": None}]}

    def reset(self) -> None:
        super().reset()  # first: it waits for requests in flight, which need the lock
        with self.lock:
            self.clock = time.time
            self.accepted.clear()
            self.sandboxed.clear()
            self.rejected.clear()
            self.scheduled.clear()
            self.batches.clear()
            self.statuses.clear()

    def rate_limit_next(self, reset_at: float, *, times: int = 1) -> None:
        """Answer the next sends with 429 and ``X-RateLimit-Reset: reset_at`` (epoch seconds)."""
        self.fail_next(
            429,
            times=times,
            operation="mail.send",
            headers={"X-RateLimit-Limit": "600", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(reset_at))},
        )

    def recipients(self) -> list[str]:
        """Every address of every accepted message, in order (cancelled ones included)."""
        with self.lock:
            return [to["email"] for body in self.accepted for p in body["personalizations"] for to in p["to"]]

    def _scopes(self, request: Request) -> Reply:
        """The key's scopes (what ``check_credentials`` asks: a cheap authenticated GET)."""
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            raise ApiError(401, "authorization required")
        return Reply(200, {"scopes": ["mail.send"]})

    def delivered(self, at: float | None = None) -> list[dict[str, Any]]:
        """The bodies that went out by ``at`` (default: the clock): due, and their batch neither cancelled nor
        paused. ``at=math.inf`` gives everything that will go out if nobody cancels any more."""
        moment = self.clock() if at is None else at
        with self.lock:
            return [
                s.body
                for s in self.scheduled
                if s.send_at <= moment and not s.discarded and (s.batch_id is None or s.batch_id not in self.statuses)
            ]

    def deliveries(self, at: float | None = None) -> Counter[tuple[str, str]]:
        """How many copies each (``mentorflow_key``, recipient) got, of what :meth:`delivered` went out."""
        return Counter(
            (str((body.get("custom_args") or {}).get("mentorflow_key", "")), to["email"].casefold())
            for body in self.delivered(at)
            for p in body["personalizations"]
            for to in p["to"]
        )

    # --- operations ----------------------------------------------------------------------------------

    def _authorize(self, request: Request) -> None:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            raise ApiError(401, "The provided authorization grant is invalid, expired, or revoked")

    def _send(self, request: Request) -> Reply:
        self._authorize(request)
        body = request.body
        problems = self._validate_schedule(body) if isinstance(body, dict) else []
        problems += _validate(body) if isinstance(body, dict) else [_Invalid(None, "Bad Request")]
        if problems:
            self.rejected.append(body if isinstance(body, dict) else {})
            return Reply(
                400, {"errors": [{"message": p.message, "field": p.field_name, "help": None} for p in problems]}
            )
        assert isinstance(body, dict)
        if ((body.get("mail_settings") or {}).get("sandbox_mode") or {}).get("enable"):
            self.sandboxed.append(body)
            return Reply(200)
        message_id = uuid.uuid4().hex[:22]
        batch_id = body.get("batch_id")
        scheduled = Scheduled(body, batch_id, float(body.get("send_at") or self.clock()), message_id)
        self.accepted.append(body)
        self.scheduled.append(scheduled)
        if batch_id is not None:
            self.batches[batch_id].append(scheduled)
        return Reply(202, None, {"X-Message-Id": message_id})

    def _validate_schedule(self, body: dict[str, Any]) -> list[_Invalid]:
        problems: list[_Invalid] = []
        if "send_at" in body:
            send_at = body["send_at"]
            if not isinstance(send_at, int) or isinstance(send_at, bool):
                problems.append(_Invalid("send_at", "The send_at parameter must be an integer Unix timestamp."))
            elif send_at > self.clock() + MAX_SCHEDULE_AHEAD:
                problems.append(_Invalid("send_at", "The send_at parameter cannot be more than 72 hours ahead."))
        if "batch_id" in body and body["batch_id"] not in self.batches:
            problems.append(_Invalid("batch_id", "The batch ID is not valid."))
        return problems

    def _create_batch(self, request: Request) -> Reply:
        self._authorize(request)
        batch_id = uuid.uuid4().hex
        self.batches[batch_id] = []
        return Reply(201, {"batch_id": batch_id})

    def _get_batch(self, request: Request) -> Reply:
        self._authorize(request)
        if request.params["batch_id"] not in self.batches:
            raise ApiError(400, "invalid batch id", field_name="batch_id")
        return Reply(200, {"batch_id": request.params["batch_id"]})

    def _set_status(self, request: Request) -> Reply:
        self._authorize(request)
        body = request.body if isinstance(request.body, dict) else {}
        batch_id, status = body.get("batch_id"), body.get("status")
        if set(body) - {"batch_id", "status"}:
            raise ApiError(400, "unknown field", field_name=sorted(set(body) - {"batch_id", "status"})[0])
        if status not in {"cancel", "pause"}:
            raise ApiError(400, "status must be either cancel or pause", field_name="status")
        if batch_id not in self.batches:
            raise ApiError(400, "The batch ID is not valid.", field_name="batch_id")
        if batch_id in self.statuses:
            raise ApiError(400, "batch id already has a status", field_name="batch_id")
        if len(self.statuses) >= MAX_STATUSES:
            raise ApiError(
                400, f"You can't pause or cancel more than {MAX_STATUSES} batches at one time.", field_name="batch_id"
            )
        first = min((s.send_at for s in self.batches[batch_id]), default=None)
        if first is not None and self.clock() > first - CANCEL_LEAD:
            raise ApiError(
                400,
                "You can't pause or cancel a batch later than 10 minutes before its send_at.",
                field_name="batch_id",
            )
        self.statuses[batch_id] = status
        return Reply(201, {"batch_id": batch_id, "status": status})

    def _list_statuses(self, request: Request) -> Reply:
        self._authorize(request)
        return Reply(200, [{"batch_id": b, "status": s} for b, s in self.statuses.items()])

    def _get_status(self, request: Request) -> Reply:
        self._authorize(request)
        batch_id = request.params["batch_id"]
        if batch_id not in self.statuses:
            raise ApiError(404, "not found", field_name="batch_id")
        return Reply(200, [{"batch_id": batch_id, "status": self.statuses[batch_id]}])

    def _delete_status(self, request: Request) -> Reply:
        self._authorize(request)
        batch_id = request.params["batch_id"]
        status = self.statuses.pop(batch_id, None)
        if status is None:
            raise ApiError(404, "not found", field_name="batch_id")
        if status == "cancel":  # what reached its send_at while cancelled was discarded; the rest goes out again
            for scheduled in self.batches[batch_id]:
                scheduled.discarded |= scheduled.send_at <= self.clock()
        return Reply(204)


def _validate(body: dict[str, Any]) -> list[_Invalid]:
    problems: list[_Invalid] = []

    def check(condition: bool, field_name: str | None, message: str) -> bool:
        if not condition:
            problems.append(_Invalid(field_name, message))
        return condition

    for name in sorted(set(body) - FIELDS):
        problems.append(_Invalid(name, f"The {name} parameter is not a valid Mail Send parameter."))
    if not isinstance(body.get("subject", ""), str):
        problems.append(_Invalid("subject", "The subject must be a string."))
    sender = body.get("from")
    if check(
        isinstance(sender, dict) and "email" in sender,
        "from.email",
        "The from object must be provided for every email send. It is an object that requires the email "
        "parameter, but may also contain a name parameter.",
    ):
        check(
            bool(EMAIL.match(str(sender["email"]))),  # type: ignore[index]
            "from.email",
            "The from email does not contain a valid address.",
        )
    people = body.get("personalizations")
    if check(
        isinstance(people, list) and len(people) > 0,
        "personalizations",
        "The personalization block is required and must contain at least one personalization.",
    ):
        assert isinstance(people, list)
        check(
            len(people) <= MAX_PERSONALIZATIONS,
            "personalizations",
            f"The personalization block is limited to {MAX_PERSONALIZATIONS} personalizations per API request. "
            f"You have provided {len(people)} personalizations. Please consider splitting this into multiple "
            "requests and resending your request.",
        )
        seen: set[str] = set()
        for i, p in enumerate(people):
            to = p.get("to") if isinstance(p, dict) else None
            if not check(
                isinstance(to, list) and len(to) > 0,
                f"personalizations.{i}.to",
                "The to array is required for all personalization objects, and must have at least one "
                "email object with a valid email address.",
            ):
                continue
            assert isinstance(to, list) and isinstance(p, dict)
            for j, person in enumerate(to):
                email = str(person.get("email", "")) if isinstance(person, dict) else ""
                if check(
                    bool(EMAIL.match(email)), f"personalizations.{i}.to.{j}.email", "Does not contain a valid address."
                ):
                    check(
                        email.casefold() not in seen,
                        f"personalizations.{i}",
                        "Each unique email address in the personalizations array should only be included once. "
                        f"You have included [{email}] more than once.",
                    )
                    seen.add(email.casefold())
            if not body.get("subject"):
                check(
                    bool(p.get("subject")),
                    f"personalizations.{i}.subject",
                    "The subject is required. You can get around this requirement if you use a template with a "
                    "subject defined or if every personalization has a subject defined.",
                )
            for name in sorted(set(p) - PERSONALIZATION_FIELDS):
                problems.append(_Invalid(f"personalizations.{i}.{name}", "Unknown personalization parameter."))
            _check_custom_args(
                p.get("custom_args"), body.get("custom_args"), f"personalizations.{i}.custom_args", problems
            )
        check(
            sum(len(p.get("to") or []) for p in people if isinstance(p, dict)) <= 1000,
            "personalizations",
            "There is a limit of 1000 total recipients (to + cc + bcc) per request.",
        )
    content = body.get("content")
    if not body.get("template_id") and check(
        isinstance(content, list) and len(content) > 0,
        "content",
        "Unless a valid template_id is provided, the content array is required.",
    ):
        assert isinstance(content, list)
        for i, part in enumerate(content):
            check(
                isinstance(part, dict) and bool(part.get("value")),
                f"content.{i}.value",
                "The content value must be a string at least one character in length.",
            )
        for i, part in enumerate(content):
            check(
                isinstance(part, dict) and isinstance(part.get("type"), str) and bool(MIME_TYPE.match(part["type"])),
                f"content.{i}.type",
                "The content type cannot contain ';', or CRLF characters.",
            )
        types = [part.get("type") for part in content if isinstance(part, dict)]
        order = [{"text/plain": 0, "text/html": 1}.get(str(t), 2) for t in types]
        check(
            order == sorted(order) and order.count(0) <= 1 and order.count(1) <= 1,
            "content",
            "If present, text/plain must be first, followed by text/html, followed by any other content.",
        )
    for i, attachment in enumerate(body.get("attachments") or []):
        check(
            bool(attachment.get("filename")),
            f"attachments.{i}.filename",
            "The attachment filename parameter is required.",
        )
        check(
            attachment.get("disposition", "attachment") in {"attachment", "inline"},
            f"attachments.{i}.disposition",
            'The disposition of your attachment can be either "inline" or "attachment".',
        )
        check(
            attachment.get("disposition") != "inline" or bool(attachment.get("content_id")),
            f"attachments.{i}.content_id",
            "The content_id parameter is required if your attachment is inline.",
        )
        check(
            "type" not in attachment
            or (isinstance(attachment["type"], str) and bool(MIME_TYPE.match(attachment["type"]))),
            f"attachments.{i}.type",
            "The attachment type cannot contain ';', or CRLF characters.",
        )
        try:
            base64.b64decode(attachment.get("content", ""), validate=True)
        except (binascii.Error, ValueError):
            problems.append(_Invalid(f"attachments.{i}.content", "The attachment content must be base64 encoded."))
    _check_custom_args(body.get("custom_args"), None, "custom_args", problems)
    for name, value in (body.get("headers") or {}).items():
        check(isinstance(value, str), f"headers.{name}", "Header values must be strings.")
    categories = body.get("categories") or []
    check(len(categories) <= 10, "categories", "Too many categories: a message may have at most 10.")
    for i, category in enumerate(categories):
        check(
            isinstance(category, str) and 0 < len(category) <= 255,
            f"categories.{i}",
            "A category cannot exceed 255 characters and must be a string.",
        )
    if "asm" in body:
        check(
            isinstance((body["asm"] or {}).get("group_id"), int), "asm.group_id", "The asm.group_id must be an integer."
        )
    return problems


def _check_custom_args(own: Any, shared: Any, field_name: str, problems: list[_Invalid]) -> None:
    """Custom args: string values only, and at most 10,000 bytes with those the message shares."""
    if own is None:
        return
    if not isinstance(own, dict):
        problems.append(_Invalid(field_name, "Custom args must be an object."))
        return
    for name, value in own.items():
        if not isinstance(value, str):
            problems.append(_Invalid(f"{field_name}.{name}", "Custom args must be strings."))
    merged = {**(shared if isinstance(shared, dict) else {}), **own}
    if len(json.dumps(merged, ensure_ascii=False).encode()) > MAX_CUSTOM_ARGS_BYTES:
        problems.append(_Invalid(field_name, "The custom_args may not exceed 10,000 bytes in total."))


class VirtualClock:
    """A clock that only moves when someone sleeps on it: the mailer's ``clock``/``sleep`` and the emulator's
    ``clock`` share it, so a test lives through send delays and cancellation windows without waiting.

    Time moves as it would for threads sharing it: a sleep ends at its own wake time, and the clock moves on (to
    the earliest wake time) only while every thread that is :meth:`working` sleeps too, so one worker's long wait
    never skips minutes under another that is sending and settling. With ``served`` (an emulator) it moves on only
    once the requests that emulator had received were answered: a slow answer (a fault's ``delay``, real seconds)
    is served at the moment its request came in, as the real service would within seconds."""

    def __init__(self, start: float = 1_800_000_000.0, served: Emulator | None = None) -> None:
        self.now = start
        self.served = served
        self._turn = threading.Condition()
        self._working: Counter[int] = Counter()  # thread -> depth of work that no other sleep may skip
        self._sleeping: dict[int, float] = {}  # thread -> its wake time

    def __call__(self) -> float:
        with self._turn:
            return self.now

    def sleep(self, seconds: float, *, patience: float = 5.0) -> None:
        """Sleep ``seconds`` of virtual time; ``patience``: real seconds to wait for a worker before moving on."""
        if self.served is not None:  # outside the lock: the requests being served read the clock
            self.served.drain()
        me = threading.get_ident()
        give_up = time.monotonic() + patience
        with self._turn:
            wake = self.now + max(seconds, 0.0)
            self._sleeping[me] = wake
            self._turn.notify_all()
            while self.now < wake:
                if all(t in self._sleeping for t in self._working) or time.monotonic() > give_up:
                    earliest = min(self._sleeping.values())
                    if earliest > self.now:  # else a sleeper is due: let it wake first
                        self.now = earliest
                        self._turn.notify_all()
                        continue
                self._turn.wait(timeout=0.05)
            del self._sleeping[me]
            self._turn.notify_all()

    def begin_work(self) -> None:
        """From now until :meth:`end_work`, this thread's awake moments hold the clock (others' sleeps wait)."""
        with self._turn:
            self._working[threading.get_ident()] += 1

    def end_work(self) -> None:
        with self._turn:
            me = threading.get_ident()
            self._working[me] -= 1
            if self._working[me] <= 0:
                self._working.pop(me, None)
            self._turn.notify_all()

    def forget_work(self) -> None:
        """Threads that died (a killed process) hold nothing any more."""
        with self._turn:
            self._working.clear()
            self._turn.notify_all()


def reset_in(seconds: float) -> float:
    """An ``X-RateLimit-Reset`` value ``seconds`` from now (epoch seconds)."""
    return time.time() + seconds

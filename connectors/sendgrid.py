"""SendGrid (v3) as the mailer: every message is a scheduled send in a batch of its own, so it can be called off.

One personalization per recipient, so nobody sees another's address; at most 1000 per request (a larger
digest goes out in several requests under the same batch). 202 (200 in sandbox mode) means accepted.

Exactly once (see docs/architecture.md, "Email exactly once"): :meth:`SendGridMailer.prepare` makes a batch id
(``POST /v3/mail/batch``) and fixes a ``send_at`` ``send_delay_seconds`` ahead; the ledger records that token
*before* :meth:`~SendGridMailer.send`. When the outcome of a send is unknown (a 5xx, a dropped connection, a
timeout after the request was written), :meth:`~SendGridMailer.settle` cancels the batch
(``POST /v3/user/scheduled_sends``): SendGrid then discards whatever of it was accepted, and the message is
known not sent. That is possible until 10 minutes before ``send_at``; after that the outcome stays unknown.
SendGrid lets at most 10 batches be cancelled or paused at once, so the mailer never has more sends at risk
plus cancellations standing than that (it waits for room first), and lifts a cancellation once its
``send_at`` has passed (the messages are discarded by then).

Every answer is mapped once, by :data:`STATUS_KINDS` and :data:`TRANSPORT_KINDS`, to what the caller does; one
retry policy (tenacity) tries again what was not accepted (429 until ``X-RateLimit-Reset``, capped; a request
that never reached SendGrid) and, for the idempotent batch calls only, what is unknown too.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
import urllib.error
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from tenacity import RetryCallState, Retrying, retry_if_exception

from connectors.base import (
    Address,
    ConfigurationError,
    MailError,
    MailUnavailable,
    OutcomeUnknown,
    OutgoingEmail,
    Presence,
    SentRef,
    TransientError,
)

MAX_PERSONALIZATIONS = 1000
MAX_CATEGORIES = 10
CANCEL_LEAD_SECONDS = 600  # SendGrid: no cancel later than 10 minutes before send_at
MAX_CANCELLED_BATCHES = 10  # SendGrid: no more than 10 batches cancelled or paused at once
KEPT_FOR_RECOVERY = 4  # one per side-effect worker (tasks/common.py SIDE_EFFECT_WORKERS)
ROOM = MAX_CANCELLED_BATCHES - KEPT_FOR_RECOVERY  # sends at risk + cancellations standing, in one process
EMAIL_LIKE = re.compile(r"[^\s@\[\]<>\"']+@[^\s@\[\]<>\"']+")


class MailOutcomeUnknown(MailUnavailable, OutcomeUnknown):
    """SendGrid may have accepted (part of) the message: settle it (cancel its batch) before sending again."""


class MailConfigurationError(MailError, ConfigurationError):
    """SendGrid refused the key or its permissions: nothing will work until the setting is fixed."""


class Kind(StrEnum):
    """What the caller does with an answer."""

    NOT_ACCEPTED = "not accepted"  # SendGrid did not take it: try again (after a wait)
    UNKNOWN = "outcome unknown"  # it may have been taken: settle before any new attempt
    CONFIGURATION = "configuration"  # the key or its permissions: stop and name the setting
    BAD_REQUEST = "bad request"  # this request will never be accepted: set the item aside


# The one table of SendGrid's answers (first match wins).
STATUS_KINDS: tuple[tuple[range, Kind], ...] = (
    (range(429, 430), Kind.NOT_ACCEPTED),
    (range(401, 402), Kind.CONFIGURATION),
    (range(403, 404), Kind.CONFIGURATION),
    (range(400, 500), Kind.BAD_REQUEST),
    (range(500, 600), Kind.UNKNOWN),  # a 5xx may come after the message was accepted
)
TRANSPORT_KINDS: tuple[tuple[type[BaseException], Kind], ...] = (
    (urllib.error.URLError, Kind.NOT_ACCEPTED),  # urllib wraps failures to connect or to write the request
    (OSError, Kind.UNKNOWN),  # a timeout or a dropped connection while waiting for the answer (TimeoutError too)
)
ERRORS: dict[Kind, type[MailError]] = {
    Kind.NOT_ACCEPTED: MailUnavailable,
    Kind.UNKNOWN: MailOutcomeUnknown,
    Kind.CONFIGURATION: MailConfigurationError,
    Kind.BAD_REQUEST: MailError,
}


def classify(exc: BaseException) -> Kind | None:
    """The kind of a failed call, from the tables above; None for what is not a call's failure."""
    if isinstance(exc, HTTPError):
        status = int(exc.status_code)
        return next((kind for codes, kind in STATUS_KINDS if status in codes), Kind.BAD_REQUEST)
    return next((kind for family, kind in TRANSPORT_KINDS if isinstance(exc, family)), None)


class _Failed(Exception):
    """A call's failure, classified (internal: crosses the retry policy, then becomes a MailError)."""

    def __init__(self, kind: Kind, status: int | None, detail: str, reset_at: float | None) -> None:
        super().__init__(detail)
        self.kind, self.status, self.detail, self.reset_at = kind, status, detail, reset_at


class SendGridMailer:
    """A :class:`~connectors.base.Mailer` over SendGrid's v3 API (via the ``sendgrid`` client)."""

    def __init__(
        self,
        api_key: str,
        sender: Address,
        *,
        host: str = "https://api.sendgrid.com",
        sandbox: bool = False,
        unsubscribe_group: int | None = None,
        unsubscribe_categories: frozenset[str] = frozenset({"digest"}),
        timeout_seconds: float = 20.0,
        attempts: int = 4,
        max_wait_seconds: float = 60.0,
        backoff_seconds: float = 2.0,
        send_delay_seconds: int = 900,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if send_delay_seconds <= CANCEL_LEAD_SECONDS + 60:
            raise ConfigurationError(
                "the SendGrid send delay must leave more than a minute to cancel in: "
                f"more than {CANCEL_LEAD_SECONDS + 60} seconds"
            )
        self.client = SendGridAPIClient(api_key=api_key, host=host.rstrip("/"))
        self.sender = sender
        self.sandbox = sandbox
        self.unsubscribe_group = unsubscribe_group
        self.unsubscribe_categories = unsubscribe_categories
        self.timeout_seconds = timeout_seconds
        self.attempts = attempts
        self.max_wait_seconds = max_wait_seconds
        self.backoff_seconds = backoff_seconds
        self.send_delay_seconds = send_delay_seconds
        self.sleep = sleep
        self.clock = clock
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)  # notified when a send at risk is settled
        self._at_risk: dict[str, float] = {}  # batch id -> last moment it can be cancelled
        self._cancelled: dict[str, float] = {}  # batch id -> when its cancellation can be lifted
        self._learned = False  # whether cancellations left by an earlier process were counted

    # --- the Mailer interface ------------------------------------------------------------------------

    def prepare(self, message: OutgoingEmail) -> str:
        """A fresh batch and its ``send_at``, as the token the ledger records before :meth:`send`.

        Waits until a cancellation would fit under SendGrid's limit should this send's outcome be unknown."""
        self._make_room()
        batch_id = str(self._call("batch.create", "POST", ("mail", "batch"))["batch_id"])
        send_at = math.ceil(self.clock()) + self.send_delay_seconds
        with self._lock:
            self._at_risk[batch_id] = send_at - CANCEL_LEAD_SECONDS
        return f"{batch_id}@{send_at}"

    def send(self, message: OutgoingEmail, token: str = "") -> SentRef:
        """Send ``message`` (each recipient separately) in the token's batch; ``provider_id`` lists message ids.

        Raises :class:`MailOutcomeUnknown` when any part may have been accepted and the rest is not known:
        :meth:`settle` then calls the whole batch off."""
        token = token or self.prepare(message)
        batch_id, send_at = _parse(token)
        if self.clock() > send_at - CANCEL_LEAD_SECONDS - 60:
            self._release(batch_id)
            raise MailUnavailable(f"message {message.key}: its batch can no longer be cancelled; prepare anew")
        ids: list[str] = []
        bodies = self.bodies(message, batch_id, send_at)
        for number, body in enumerate(bodies):
            try:
                ids.append(self._send_one(body, message.key))
            except MailOutcomeUnknown:
                raise
            except MailError as exc:
                if number == 0:
                    self._release(batch_id)
                    raise
                raise MailOutcomeUnknown(
                    f"message {message.key}: {number} of {len(bodies)} requests were accepted, then: {exc}"
                ) from exc
        self._release(batch_id)
        return SentRef(key=message.key, provider_id=",".join(ids))

    def settle(self, key: str, token: str) -> Presence:
        """Make sure an attempt whose outcome is unknown never goes out: ABSENT once its batch is cancelled
        (or when nothing was sent: no token), UNKNOWN when it is too late to cancel."""
        if not token:
            return Presence.ABSENT
        batch_id, send_at = _parse(token)
        try:
            return self._cancel(batch_id, send_at)
        finally:
            self._release(batch_id)

    def _cancel(self, batch_id: str, send_at: int) -> Presence:
        """Cancel the batch while SendGrid allows it. The cancellation is idempotent and the only thing that can
        settle the send, so a failing SendGrid is asked again until the window closes (not just ``attempts``
        times: a send left pending once its window has passed can only be marked uncertain)."""
        deadline = send_at - CANCEL_LEAD_SECONDS
        refused_with_room = 0
        while self.clock() < deadline:
            try:
                self._call(
                    "scheduled_sends.create",
                    "POST",
                    ("user", "scheduled_sends"),
                    {"batch_id": batch_id, "status": "cancel"},
                    until=deadline,
                )
            except MailConfigurationError:
                raise  # a wrong key: nothing will work until the setting is fixed
            except MailUnavailable:
                break  # SendGrid failed until the window closed (the last answer may have been lost): ask below
            except MailError:
                # Refused: cancelled already (an earlier try landed), too late, or no room. Ask.
                try:
                    statuses = self._statuses(until=deadline)
                except MailUnavailable:
                    break
                if statuses.get(batch_id) == "cancel":
                    return self._cancelled_now(batch_id, send_at)
                if len(statuses) < MAX_CANCELLED_BATCHES:
                    # Room now. Refused for want of it a moment ago (another worker lifted one in between)
                    # unless it happens again: then it is too late (SendGrid's clock ahead of ours).
                    refused_with_room += 1
                    if refused_with_room > 1:
                        return Presence.UNKNOWN
                    continue
                self._learn(statuses)
                self._lift(self._claim_expired(among=statuses))
                wait = min(self._cancelled.values(), default=deadline) - self.clock()
                self.sleep(max(1.0, min(wait, deadline - self.clock())))
                continue
            return self._cancelled_now(batch_id, send_at)
        # Too late to cancel now; but an earlier cancellation (whose answer was lost, or made by a process that
        # died before recording it) still settles it. A failure here leaves the key pending, asked again later.
        if self._statuses().get(batch_id) == "cancel":
            return self._cancelled_now(batch_id, send_at)
        return Presence.UNKNOWN

    def check_credentials(self) -> None:
        """One cheap authenticated call (``GET /v3/scopes``) under the one retry policy (a 429 or a lost answer
        is asked again): ConfigurationError naming the setting if the key is refused or may not send mail."""
        try:
            answer = self._call("scopes.get", "GET", ("scopes",), what="the API key check")
        except MailConfigurationError:
            raise  # its message names MENTORFLOW_SENDGRID_API_KEY
        except MailError as exc:
            raise MailUnavailable(f"SendGrid could not check the API key: {exc}") from exc
        scopes = answer.get("scopes") if isinstance(answer, dict) else None
        if isinstance(scopes, list) and "mail.send" not in scopes:
            raise MailConfigurationError(
                "MENTORFLOW_SENDGRID_API_KEY may not send mail: give the key the Mail Send scope"
            )

    def bodies(
        self, message: OutgoingEmail, batch_id: str | None = None, send_at: int | None = None
    ) -> list[dict[str, Any]]:
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
        if batch_id is not None and send_at is not None:
            common["batch_id"], common["send_at"] = batch_id, int(send_at)
        if message.reply_to is not None:
            common["reply_to"] = _address(message.reply_to)
        if message.categories:
            common["categories"] = list(dict.fromkeys(message.categories))[:MAX_CATEGORIES]
        if message.attachments:
            common["attachments"] = [
                {
                    "content": base64.b64encode(a.content).decode("ascii"),
                    "type": _bare_type(a.content_type),
                    "filename": a.filename,
                    "disposition": "attachment",
                }
                for a in message.attachments
            ]
        if self.unsubscribe_group is not None and self.unsubscribe_categories & set(message.categories):
            common["asm"] = {"group_id": self.unsubscribe_group}
        if self.sandbox:
            common["mail_settings"] = {"sandbox_mode": {"enable": True}}
        unique = list({r.email.strip().casefold(): r for r in message.recipients}.values())
        return [
            {**common, "personalizations": [{"to": [_address(r)]} for r in unique[i : i + MAX_PERSONALIZATIONS]]}
            for i in range(0, len(unique), MAX_PERSONALIZATIONS)
        ]

    # --- cancellations under SendGrid's limit --------------------------------------------------------

    def _cancelled_now(self, batch_id: str, send_at: int) -> Presence:
        with self._lock:
            self._cancelled[batch_id] = send_at + 60.0  # discarded at send_at; lifted a minute later
        self._release(batch_id)
        return Presence.ABSENT

    def _release(self, batch_id: str) -> None:
        with self._lock:
            self._at_risk.pop(batch_id, None)
            self._settled.notify_all()

    def _make_room(self) -> None:
        """Wait until sends at risk plus standing cancellations leave room for one more cancellation.

        :data:`ROOM` keeps :data:`KEPT_FOR_RECOVERY` of SendGrid's places free: if this process dies, each of
        its sends at risk (at most one per worker) can still be cancelled by the next one."""
        if not self._learned:
            self._learn(self._statuses())
        while True:
            now = self.clock()
            expired = self._claim_expired()
            with self._lock:
                self._at_risk = {b: t for b, t in self._at_risk.items() if t > now}
                used = len(self._at_risk) + len(self._cancelled)
            if expired:  # lifted as soon as they can be, so that a process killed now leaves few behind
                self._lift(expired)
            if used < ROOM:
                return
            with self._settled:  # let the sends in flight settle first: none of them may outlive its window
                self._settled.wait_for(lambda: not self._at_risk, timeout=30.0)
                soonest = min([*self._at_risk.values(), *self._cancelled.values()], default=now)
            self.sleep(max(1.0, soonest - now))

    def _claim_expired(self, among: dict[str, str] | None = None) -> list[str]:
        """The cancellations that can be lifted now (of ``among``, if given), taken off the books here so that
        two workers never lift the same one."""
        now = self.clock()
        with self._lock:
            expired = [b for b, t in self._cancelled.items() if t <= now and (among is None or b in among)]
            for batch_id in expired:
                del self._cancelled[batch_id]
        return expired

    def _learn(self, statuses: dict[str, str]) -> None:
        """Count cancellations an earlier (killed) process left. Their send_at is unknown here, but every batch
        of ours is sent at most ``send_delay_seconds`` after it was made, so by then they can be lifted."""
        with self._lock:
            for batch_id in statuses:
                self._cancelled.setdefault(batch_id, self.clock() + self.send_delay_seconds + 60.0)
            self._learned = True

    def _lift(self, batch_ids: list[str]) -> None:
        """Delete cancellations whose ``send_at`` has passed (their messages are discarded): room for new ones."""
        for batch_id in batch_ids:
            try:
                self._call("scheduled_sends.delete", "DELETE", ("user", "scheduled_sends", batch_id))
            except MailConfigurationError:
                raise
            except MailError:  # 404: gone already
                pass
            with self._lock:
                self._cancelled.pop(batch_id, None)

    def _statuses(self, until: float | None = None) -> dict[str, str]:
        answer = self._call("scheduled_sends.list", "GET", ("user", "scheduled_sends"), until=until)
        return {str(s["batch_id"]): str(s["status"]) for s in answer or []}

    # --- calls: one retry policy, errors mapped once -------------------------------------------------

    def _send_one(self, body: dict[str, Any], key: str) -> str:
        """POST one Mail Send body; returns the message id (``sandbox`` in sandbox mode)."""
        headers = self._call("mail.send", "POST", ("mail", "send"), body, what=f"message {key}", headers=True)
        return str(headers.get("x-message-id") or ("sandbox" if self.sandbox else "accepted"))

    def _call(
        self,
        operation: str,
        method: str,
        path: tuple[str, ...],
        body: Any = None,
        *,
        what: str = "",
        headers: bool = False,
        until: float | None = None,
    ) -> Any:
        """One API call under the retry policy: what was not accepted is tried again; for idempotent calls
        (every one but Mail Send) an unknown outcome too. Returns the JSON answer (or the headers).

        ``attempts`` tries, or with ``until`` (a moment on :attr:`clock`) as many as fit before it."""
        retryable = {Kind.NOT_ACCEPTED} if operation == "mail.send" else {Kind.NOT_ACCEPTED, Kind.UNKNOWN}

        def stop(state: RetryCallState) -> bool:
            return self.clock() >= until if until is not None else state.attempt_number >= self.attempts

        def wait(state: RetryCallState) -> float:
            pause = self._wait(state)
            return pause if until is None else max(0.0, min(pause, until - self.clock()))

        retrying = Retrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception(lambda e: isinstance(e, _Failed) and e.kind in retryable),
            sleep=self.sleep,
            reraise=True,
        )
        try:
            return retrying(self._once, method, path, body, headers)
        except _Failed as failed:
            raise self._error(failed, operation, what or operation) from None

    def _once(self, method: str, path: tuple[str, ...], body: Any, want_headers: bool) -> Any:
        endpoint = self.client.client
        for part in path:
            endpoint = endpoint._(part)
        options: dict[str, Any] = {"timeout": self.timeout_seconds}
        if body is not None:
            options["request_body"] = body
        try:
            response = getattr(endpoint, method.lower())(**options)
        except Exception as exc:
            kind = classify(exc)
            if kind is None:
                raise
            raise self._failed(kind, exc) from None
        if want_headers:
            return {k.lower(): v for k, v in (response.headers or {}).items()}
        raw = response.body
        return json.loads(raw) if raw else None

    def _failed(self, kind: Kind, exc: BaseException) -> _Failed:
        if isinstance(exc, HTTPError):
            headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
            try:
                reset_at = float(headers["x-ratelimit-reset"]) if int(exc.status_code) == 429 else None
            except (KeyError, ValueError):
                reset_at = None
            return _Failed(kind, int(exc.status_code), _reasons(exc), reset_at)
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return _Failed(kind, None, type(reason).__name__, None)

    @staticmethod
    def _error(failed: _Failed, operation: str, what: str) -> MailError:
        status = f"{failed.status}" if failed.status is not None else "no answer"
        if failed.kind is Kind.CONFIGURATION:
            text = f"SendGrid refused the API key for {what} ({status}): check MENTORFLOW_SENDGRID_API_KEY"
        elif failed.kind is Kind.BAD_REQUEST:
            text = f"SendGrid refused {what} ({status}): {failed.detail}"
        else:
            text = f"SendGrid, {operation} for {what}: {failed.kind.value} ({status}, {failed.detail})"
        error = ERRORS[failed.kind](text)
        if isinstance(error, TransientError):
            # This policy retried it (or, for an unknown Mail Send, the ledger settles and re-sends it): one retry
            # layer, so the task does not repeat the same attempts; the next run takes what is left.
            error.task_may_retry = False
        return error

    def _wait(self, state: RetryCallState) -> float:
        """Until ``X-RateLimit-Reset`` for a 429 (capped), else exponential backoff."""
        failed = state.outcome.exception() if state.outcome else None
        if isinstance(failed, _Failed) and failed.reset_at is not None:
            return min(max(failed.reset_at - self.clock(), 0.0), self.max_wait_seconds)
        return min(self.backoff_seconds * 2 ** (state.attempt_number - 1), self.max_wait_seconds)


def _parse(token: str) -> tuple[str, int]:
    batch_id, _, send_at = token.rpartition("@")
    if not batch_id or not send_at.isdigit():
        raise ValueError("not a SendGrid send token (batch_id@send_at)")
    return batch_id, int(send_at)


def _bare_type(content_type: str) -> str:
    """The MIME type without its parameters: SendGrid refuses ';' in an attachment's type (an invitation's
    ``method=REQUEST`` is in the .ics itself, ``METHOD:REQUEST``, which is what calendar clients read)."""
    return content_type.split(";", 1)[0].strip()


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

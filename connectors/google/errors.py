"""Every failed Google API call mapped once, from one table, to what the caller does next.

Like httpx's ``map_exceptions``: a connector wraps its calls in :func:`map_errors` with the exception class it
raises for each :class:`Kind`; no other ``except`` of a Google or network exception exists in the connectors.
Retries happen below this (googleapiclient's ``num_retries``), so a mapped error is final for this attempt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

import httplib2
from google.auth.exceptions import GoogleAuthError, RefreshError, TransportError
from googleapiclient.errors import HttpError

from connectors.base import ConfigurationError, ConnectorError, TransientError

CREDENTIAL_SETTINGS = "MENTORFLOW_GOOGLE_CREDENTIALS_FILE / MENTORFLOW_GOOGLE_SUBJECT"


class Kind(StrEnum):
    """What the caller does about a failure."""

    TRANSIENT = "transient"  # nothing happened: try again later
    OUTCOME_UNKNOWN = "outcome unknown"  # a write may have happened: look it up before trying again
    CONFIGURATION = "configuration"  # a setting is wrong: stop the run, name the setting
    BAD_REQUEST = "bad request"  # this item is wrong: set it aside
    NOT_FOUND = "not found"  # 404: absent
    GONE = "gone"  # 410: deleted, or a sync token that expired
    EXISTS = "exists"  # 409: already there (an insert with our id got through before)


# (HTTP status, API reason or None for any) → kind; the first row that matches wins.
TABLE: tuple[tuple[int, str | None, Kind], ...] = (
    (400, None, Kind.BAD_REQUEST),
    (401, None, Kind.CONFIGURATION),
    (403, "rateLimitExceeded", Kind.TRANSIENT),
    (403, "userRateLimitExceeded", Kind.TRANSIENT),
    (403, "quotaExceeded", Kind.TRANSIENT),
    (403, None, Kind.CONFIGURATION),  # not shared with the account, scope or delegation missing
    (404, None, Kind.NOT_FOUND),
    (409, None, Kind.EXISTS),
    (410, None, Kind.GONE),
    (429, None, Kind.TRANSIENT),
)
# Exceptions of the transport (no HTTP answer at all): timeouts, refused or reset connections, DNS.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (OSError, httplib2.HttpLib2Error, TransportError)
GOOGLE_ERRORS: tuple[type[BaseException], ...] = (HttpError, GoogleAuthError, *NETWORK_ERRORS)


@dataclass(frozen=True)
class Failure:
    """A failed call, described without personal data: status (None = no answer), the API's reason, the kind."""

    status: int | None
    reason: str
    kind: Kind

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.reason}" if self.status is not None else self.reason


def classify(exc: BaseException, *, write: bool = False) -> Failure:
    """The failure's kind from :data:`TABLE`; a 5xx or a lost answer to a ``write`` leaves its outcome unknown."""
    if isinstance(exc, RefreshError):
        return Failure(None, f"token refused ({_refresh_reason(exc)})", Kind.CONFIGURATION)
    if isinstance(exc, GoogleAuthError) and not isinstance(exc, TransportError):  # e.g. a 401 that cannot refresh
        return Failure(None, f"credentials unusable ({type(exc).__name__})", Kind.CONFIGURATION)
    if isinstance(exc, HttpError):
        status, reason = int(exc.resp.status), _reason(exc)
        for code, wanted, kind in TABLE:
            if status == code and wanted in (None, reason):
                return Failure(status, reason, kind)
        if status < 500:
            return Failure(status, reason, Kind.BAD_REQUEST)
        return Failure(status, reason, Kind.OUTCOME_UNKNOWN if write else Kind.TRANSIENT)
    reason = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
    return Failure(None, reason, Kind.OUTCOME_UNKNOWN if write else Kind.TRANSIENT)


@contextmanager
def map_errors(
    service: str,
    what: str,
    kinds: Mapping[Kind, type[ConnectorError]],
    *,
    write: bool = False,
    hints: Mapping[Kind, str] | None = None,
) -> Iterator[None]:
    """Raise ``kinds[kind]`` for a Google failure inside the block (``ConfigurationError`` for configuration).

    ``service`` and ``what`` make the message ("Google Calendar: could not read event …"); ``hints`` add what
    to check for a kind. Messages carry ids and statuses only, never personal data or secrets.
    """
    try:
        yield
    except GOOGLE_ERRORS as exc:
        failure = classify(exc, write=write)
        hint = (hints or {}).get(failure.kind, "")
        if failure.kind is Kind.CONFIGURATION:
            hint = hint or f"check {CREDENTIAL_SETTINGS}: the key must be current, and the account must have access"
            raise ConfigurationError(f"{service} refused the credentials: {what} ({failure}); {hint}") from exc
        error = (kinds.get(failure.kind) or kinds[Kind.BAD_REQUEST])(
            f"{service}: {what} ({failure}){'; ' + hint if hint else ''}"
        )
        if isinstance(error, TransientError):
            error.task_may_retry = False  # googleapiclient already retried it: one retry layer
        raise error from exc


def _reason(exc: HttpError) -> str:
    try:
        error = json.loads(exc.content.decode("utf-8"))["error"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return "error"
    errors = error.get("errors") or []
    if errors and isinstance(errors[0], dict) and errors[0].get("reason"):
        return str(errors[0]["reason"])
    return str(error.get("status") or "error")


def _refresh_reason(exc: RefreshError) -> str:
    """The OAuth error code only (e.g. ``invalid_grant``): the rest of the message may name the account."""
    text = str(exc.args[0]) if exc.args else ""
    match = re.match(r"^\W*([a-z_]+)\b", text)
    return match.group(1) if match else "refused"

"""What a failed Google API call means: its status and reason, and whether trying again may help."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httplib2
from googleapiclient.errors import HttpError

RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})
# Exceptions of the transport (no HTTP answer at all): timeouts, refused or reset connections, DNS.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (OSError, httplib2.HttpLib2Error)


@dataclass(frozen=True)
class Failure:
    """A failed call, described without personal data: status (None = no answer) and the API's reason."""

    status: int | None
    reason: str

    @property
    def transient(self) -> bool:
        """A timeout, a connection problem, a 429 or 5xx, or Calendar's 403 rate limits."""
        if self.status is None or self.status == 429 or self.status >= 500:
            return True
        return self.status == 403 and self.reason in RATE_REASONS

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.reason}" if self.status is not None else self.reason


def describe(exc: BaseException) -> Failure:
    """Status and reason of an HttpError (``error.errors[0].reason`` or ``error.status``), or the network error."""
    if isinstance(exc, HttpError):
        return Failure(int(exc.resp.status), _reason(exc))
    if isinstance(exc, TimeoutError):
        return Failure(None, "timeout")
    return Failure(None, type(exc).__name__)


def _reason(exc: HttpError) -> str:
    try:
        error = json.loads(exc.content.decode("utf-8"))["error"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return "error"
    errors = error.get("errors") or []
    if errors and isinstance(errors[0], dict) and errors[0].get("reason"):
        return str(errors[0]["reason"])
    return str(error.get("status") or "error")

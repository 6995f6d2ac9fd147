"""Google credentials and API clients from settings, with the narrowest scopes and explicit timeouts.

Accepted credentials (``MENTORFLOW_GOOGLE_CREDENTIALS_FILE``):

* a service-account key JSON (``"type": "service_account"``) used with domain-wide delegation: it acts as
  ``MENTORFLOW_GOOGLE_SUBJECT`` (the organizer account), so invitations come from that person;
* an OAuth user token file (``"type": "authorized_user"``, as written by ``google-auth-oauthlib``).

When ``MENTORFLOW_GOOGLE_API_ENDPOINT`` is set (an emulator or staging) and no file is given, anonymous
credentials are used. Every problem raises :class:`ConfigurationError` naming the setting to fix.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import google_auth_httplib2
import httplib2
from google.auth.credentials import AnonymousCredentials, Credentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from googleapiclient.discovery import build

from config.settings import Settings
from connectors.base import ConfigurationError

FORMS_SCOPES = (
    "https://www.googleapis.com/auth/forms.body.readonly",  # forms.get: question ids -> titles
    "https://www.googleapis.com/auth/forms.responses.readonly",  # forms.responses.list
)
CALENDAR_SCOPES = (
    "https://www.googleapis.com/auth/calendar.events",  # insert/get/patch events
    "https://www.googleapis.com/auth/calendar.freebusy",  # freebusy.query, no event details
)


def load_credentials(settings: Settings, scopes: Sequence[str]) -> Credentials:
    """Credentials for ``scopes`` from settings, or ConfigurationError naming the setting to fix."""
    path = settings.google_credentials_file
    if path is None:
        if settings.google_api_endpoint:
            return AnonymousCredentials()  # type: ignore[no-untyped-call]
        raise ConfigurationError("MENTORFLOW_GOOGLE_CREDENTIALS_FILE is not set; a Google connector needs it")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"MENTORFLOW_GOOGLE_CREDENTIALS_FILE points to {path}, which does not exist") from exc
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"MENTORFLOW_GOOGLE_CREDENTIALS_FILE ({path}) is not a readable JSON credentials file"
        ) from exc
    kind = info.get("type") if isinstance(info, dict) else None
    try:
        if kind == "service_account":
            if not settings.google_subject:
                raise ConfigurationError(
                    "MENTORFLOW_GOOGLE_SUBJECT is not set: a service account must act as the organizer account "
                    "(domain-wide delegation)"
                )
            sa = service_account.Credentials.from_service_account_info(info, scopes=list(scopes))
            return sa.with_subject(settings.google_subject)
        if kind == "authorized_user":
            return user_credentials.Credentials.from_authorized_user_info(info, scopes=list(scopes))
    except ValueError as exc:  # google-auth names the missing field; no secret is in its message
        raise ConfigurationError(f"MENTORFLOW_GOOGLE_CREDENTIALS_FILE ({path}) is incomplete: {exc}") from exc
    raise ConfigurationError(
        f"MENTORFLOW_GOOGLE_CREDENTIALS_FILE ({path}) has type {kind!r}; expected 'service_account' "
        "(with MENTORFLOW_GOOGLE_SUBJECT) or 'authorized_user' (an OAuth token file)"
    )


def api_endpoint(settings: Settings, service_path: str) -> str | None:
    """The endpoint override for one API (``service_path`` e.g. ``"calendar/v3/"``), or None for Google."""
    if not settings.google_api_endpoint:
        return None
    return settings.google_api_endpoint.rstrip("/") + "/" + service_path


# The one retry policy of the Google connectors: googleapiclient's own, up to 3 retries with randomized
# exponential backoff (≤ 2, 4, 8 s) on timeouts, dropped connections, 429, 5xx and 403 rate limits. Every call
# the connectors make is safe to repeat: reads, and inserts with our deterministic ids (a repeat is a 409).
RETRIES = 3


class GoogleClient:
    """A discovery client plus one authorized, time-limited HTTP connection per thread.

    ``httplib2.Http`` is not thread-safe, and flows run side effects in parallel, so every thread gets its
    own; requests are executed with :meth:`execute` instead of ``request.execute()``.
    """

    def __init__(
        self,
        settings: Settings,
        api: str,
        version: str,
        service_path: str,
        scopes: Sequence[str],
        *,
        retries: int = RETRIES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.retries = retries
        self.sleep = sleep
        self._credentials = load_credentials(settings, scopes)
        self._timeout = settings.http_timeout_seconds
        self._local = threading.local()
        endpoint = api_endpoint(settings, service_path)
        self.service: Any = build(
            api,
            version,
            static_discovery=True,
            http=self._http(),
            client_options={"api_endpoint": endpoint} if endpoint else None,
        )

    def _http(self) -> google_auth_httplib2.AuthorizedHttp:
        http = getattr(self._local, "http", None)
        if http is None:
            http = google_auth_httplib2.AuthorizedHttp(self._credentials, http=httplib2.Http(timeout=self._timeout))
            self._local.http = http
        return http

    def execute(self, request: Any) -> Any:
        """Run one prepared API request on this thread's connection, with the library's retries."""
        request._sleep = self.sleep  # googleapiclient's own hook for the backoff sleep (tests pass a fake)
        return request.execute(http=self._http(), num_retries=self.retries)

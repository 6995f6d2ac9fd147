"""Which Prefect server a command's runs go to: the configured one when it answers, else a temporary one.

Imported by ``mentorflow run`` and ``setup-prefect`` only; everything else in the CLI stays Prefect-free.
"""

from __future__ import annotations

import os

# Offline, nothing may call home: the server's telemetry and the client's analytics are off unless the lead
# turned them on explicitly.
QUIET_DEFAULTS = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


class PrefectServerUnreachable(RuntimeError):
    """PREFECT_API_URL names a server that does not answer: runs must not silently go elsewhere."""


def choose_server(timeout: float = 30.0) -> str:
    """Point Prefect at the configured server if it answers, else at a temporary one; say which.

    Call before the first flow runs. Raises :class:`PrefectServerUnreachable` when a server is configured
    (``PREFECT_API_URL`` in the environment or the Prefect profile) but does not answer its health check.
    """
    for name, value in QUIET_DEFAULTS.items():
        os.environ.setdefault(name, value)
    from prefect.settings import get_current_settings

    api = get_current_settings().api
    if not api.url:
        return "Prefect: no server configured (PREFECT_API_URL), so this command starts a temporary one."
    problem = health_problem(api.url, api.auth_string.get_secret_value() if api.auth_string else None, timeout)
    if problem:
        raise PrefectServerUnreachable(
            f"PREFECT_API_URL is {api.url}, but {problem}. Start that server, "
            "or unset PREFECT_API_URL to run with a temporary server."
        )
    return f"Prefect: using the server at {api.url}"


def health_problem(api_url: str, auth_string: str | None, timeout: float = 30.0) -> str | None:
    """None when the server answers an authenticated request with these credentials, else what went wrong.

    (``/health`` answers without credentials, so ``/admin/version`` is asked: it checks the auth string too.)
    """
    import base64

    import httpx

    headers = {}
    if auth_string:
        headers["Authorization"] = "Basic " + base64.b64encode(auth_string.encode()).decode()
    try:
        response = httpx.get(api_url.rstrip("/") + "/admin/version", headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        return f"it does not answer ({type(exc).__name__})"
    if response.status_code == 401:
        return "it refuses these credentials (401: set PREFECT_API_AUTH_STRING)"
    if response.status_code >= 400:
        return f"it answers {response.status_code}"
    return None

"""``mentorflow webhook``: an optional, minimal receiver for SendGrid's signed Event Webhook.

Run it behind the HTTPS reverse proxy that already fronts the Prefect server (SendGrid posts to a public HTTPS
URL); it answers ``POST /sendgrid/events`` only: 204 when the signature verified, 403 otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mentorflow.bootstrap import Services
from tasks.webhook import record_provider_events

PATH = "/sendgrid/events"
MAX_BODY = 5 * 1024 * 1024


def make_server(svc: Services, host: str, port: int) -> ThreadingHTTPServer:
    """The receiver, not yet serving (``serve_forever`` runs it)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            length = int(self.headers.get("Content-Length") or 0)
            if self.path != PATH or length > MAX_BODY:
                self.send_response(404 if self.path != PATH else 413)
                self.end_headers()
                return
            body = self.rfile.read(length)
            result = record_provider_events(svc, body, dict(self.headers.items()), datetime.now(UTC))
            self.send_response(204 if result.accepted else 403)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - no addresses in logs
            return

    return ThreadingHTTPServer((host, port), Handler)

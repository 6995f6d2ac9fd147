"""The shared machinery of the local service emulators: a threaded HTTP server, counters and fault injection.

Each emulator subclasses :class:`Emulator`, names its routes and implements the operations on its own
state. Requests are counted per operation (e.g. ``"events.insert"``); faults are queued per operation or
drawn at random for a share of requests, and can be returned before or *after* the operation ran.
"""

from __future__ import annotations

import atexit
import json
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Request:
    """One parsed HTTP request as an operation sees it."""

    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    """An error the emulator returns instead of the real answer.

    ``after``: run the operation first (its effect is stored), then answer with the error anyway — what a
    lost response or a gateway error after the backend committed looks like to the client.
    ``delay``: seconds to wait before answering (to provoke client timeouts); ``status`` 0 = no error.
    ``drop``: close the connection without any answer (before or ``after`` the operation ran).
    """

    status: int = 503
    after: bool = False
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    operation: str | None = None
    drop: bool = False


DROP = -1  # a Reply status meaning "close the connection, answer nothing"

Handler = Callable[[Request], Reply]
# Query parameters every Google API accepts (system parameters); a route that names its own refuses others.
SYSTEM_PARAMETERS = frozenset(
    {
        "alt",
        "fields",
        "key",
        "prettyPrint",
        "quotaUser",
        "access_token",
        "oauth_token",
        "upload_protocol",
        "uploadType",
        "callback",
        "$.xgafv",
        "userIp",
    }
)


class ApiError(Exception):
    """Raised by an operation to answer with the service's error shape."""

    def __init__(self, status: int, message: str, reason: str = "", field_name: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.field_name = field_name


class Emulator:
    """Base of a stateful emulator served over real HTTP on 127.0.0.1 (a free port) from a thread."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.counts: Counter[str] = Counter()
        self.requests: list[tuple[str, Request]] = []
        self._faults: deque[Fault] = deque()
        self._share: tuple[float, random.Random, Callable[[random.Random], Fault], str | None] | None = None
        self._routes: list[tuple[str, re.Pattern[str], str, Handler, frozenset[str] | None]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.faults_served = 0
        self._busy = threading.Condition()
        self._in_flight = 0
        self._received = 0  # requests received so far (each is numbered in order of arrival)
        self._serving: set[int] = set()  # the numbers of those being served

    # --- routing, implemented by subclasses -----------------------------------------------------------

    def route(
        self, method: str, template: str, operation: str, handler: Handler, params: Iterable[str] | None = None
    ) -> None:
        """Serve ``method template`` (``{name}`` = one path segment) as ``operation``; with ``params``, any
        other query parameter (beyond the system ones) is refused with 400, as Google's front end does."""
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        allowed = None if params is None else frozenset(params) | SYSTEM_PARAMETERS
        self._routes.append((method, re.compile(f"^{pattern}/?$"), operation, handler, allowed))

    def error_body(self, error: ApiError) -> Any:
        """The service's JSON error document."""
        return {"error": {"code": error.status, "message": error.message}}

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being served (e.g. one a client gave up on); False on timeout."""
        with self._busy:
            return self._busy.wait_for(lambda: self._in_flight == 0, timeout)

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until every request received so far has been answered (later ones may still come in); False
        on timeout. What a virtual clock waits for before it moves on (see ``VirtualClock``)."""
        with self._busy:
            upto = self._received
            return self._busy.wait_for(lambda: not any(n < upto for n in self._serving), timeout)

    def reset(self) -> None:
        """Forget all state, counters and faults (subclasses extend this with their own state).

        Waits first for requests still being served, so a late answer never lands in the next test."""
        self.wait_idle()
        with self.lock:
            self.counts.clear()
            self.requests.clear()
            self._faults.clear()
            self._share = None
            self.faults_served = 0

    # --- fault injection -----------------------------------------------------------------------------

    def fail_next(
        self,
        status: int = 503,
        *,
        times: int = 1,
        operation: str | None = None,
        after: bool = False,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests (of ``operation``, if given) with ``status``."""
        with self.lock:
            for _ in range(times):
                self._faults.append(Fault(status, after, 0.0, dict(headers or {}), operation))

    def queue(self, fault: Fault) -> None:
        """Answer the next request (of ``fault.operation``, if set) with ``fault``."""
        with self.lock:
            self._faults.append(fault)

    def pass_next(self, *, times: int = 1, operation: str | None = None) -> None:
        """Let the next ``times`` requests through unharmed, to aim the faults queued after them."""
        with self.lock:
            for _ in range(times):
                self._faults.append(Fault(0, False, 0.0, {}, operation))

    def slow_next(self, seconds: float, *, times: int = 1, operation: str | None = None) -> None:
        """Delay the next ``times`` answers by ``seconds`` (then answer normally)."""
        with self.lock:
            for _ in range(times):
                self._faults.append(Fault(0, True, seconds, {}, operation))

    def fail_share(
        self, share: float, make: Callable[[random.Random], Fault], *, seed: int = 0, operation: str | None = None
    ) -> None:
        """Fail a random ``share`` of requests (seeded: reproducible), each with the fault ``make`` draws."""
        with self.lock:
            self._share = (share, random.Random(seed), make, operation)

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()
            self._share = None

    def _take_fault(self, operation: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.operation in (None, operation):
                    self._faults.remove(fault)
                    return fault
            if self._share is not None:
                share, rng, make, only = self._share
                if only in (None, operation) and rng.random() < share:
                    return make(rng)
        return None

    # --- serving -------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, without a trailing slash."""
        if self._server is None:
            raise RuntimeError("emulator not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> Emulator:
        emulator = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # One write per answer, sent at once: without these, keep-alive clients wait ~40 ms per request
            # (Nagle's algorithm meeting delayed ACKs).
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                emulator._serve(self)

            do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, http: BaseHTTPRequestHandler) -> None:
        with self._busy:
            self._in_flight += 1
            number, self._received = self._received, self._received + 1
            self._serving.add(number)
        try:
            self._answer(http)
        finally:
            with self._busy:
                self._in_flight -= 1
                self._serving.discard(number)
                self._busy.notify_all()

    def _answer(self, http: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(http.path)
        length = int(http.headers.get("Content-Length") or 0)
        raw = http.rfile.read(length) if length else b""
        reply = self._dispatch(http.command, unquote(parts.path), parts.query, dict(http.headers.items()), raw)
        if reply.status == DROP:  # what a proxy or a crashed backend does: the client gets no status line
            http.close_connection = True
            return
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        try:
            http.send_response(reply.status)
            if payload:
                http.send_header("Content-Type", "application/json; charset=UTF-8")
            http.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                http.send_header(name, value)
            http.end_headers()
            http.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout): nothing to answer
            pass

    def _dispatch(self, method: str, path: str, query: str, headers: dict[str, str], raw: bytes) -> Reply:
        found = self._match(method, path)
        if found is None:
            return Reply(404, self.error_body(ApiError(404, f"no route for {method} {path}", "notFound")))
        operation, handler, params, allowed = found
        try:
            if headers.get("Content-Type", headers.get("content-type", "")).startswith(
                "application/x-www-form-urlencoded"
            ):
                body: Any = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
            else:
                body = json.loads(raw) if raw else None
        except ValueError:
            return Reply(400, self.error_body(ApiError(400, "request body is not valid JSON", "parseError")))
        request = Request(method, path, params, {k: v[-1] for k, v in parse_qs(query).items()}, headers, body)
        with self.lock:
            self.counts[operation] += 1
            self.requests.append((operation, request))
        unknown = sorted(set(request.query) - allowed) if allowed is not None else []
        if unknown:
            return Reply(
                400,
                self.error_body(
                    ApiError(
                        400,
                        f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot bind query parameter.',
                        "invalidParameter",
                    )
                ),
            )
        fault = self._take_fault(operation)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and (fault.status or fault.drop) and not fault.after:
            return self._fault_reply(fault)
        try:
            with self.lock:
                reply = handler(request)
        except ApiError as error:
            reply = Reply(error.status, self.error_body(error))
        except Exception as exc:  # an emulator bug answers like a service's internal error, not a dropped line
            reply = Reply(500, self.error_body(ApiError(500, f"emulator error: {type(exc).__name__}: {exc}")))
        if fault is not None and (fault.status or fault.drop):
            return self._fault_reply(fault)
        return reply

    def _fault_reply(self, fault: Fault) -> Reply:
        with self.lock:
            self.faults_served += 1
        if fault.drop:
            return Reply(DROP)
        reason = "rateLimitExceeded" if fault.status == 429 else "backendError"
        message = "Rate Limit Exceeded" if fault.status == 429 else "Backend Error"
        return Reply(fault.status, self.error_body(ApiError(fault.status, message, reason)), dict(fault.headers))

    def _match(self, method: str, path: str) -> tuple[str, Handler, dict[str, str], frozenset[str] | None] | None:
        for verb, pattern, operation, handler, allowed in self._routes:
            if verb == method and (m := pattern.match(path)):
                return operation, handler, m.groupdict(), allowed
        return None


E = TypeVar("E", bound=Emulator)
_SHARED: dict[type[Emulator], Emulator] = {}


def shared(kind: type[E]) -> E:
    """The one running server of this emulator kind in this process (started on first use, stopped at exit)."""
    server = _SHARED.get(kind)
    if server is None:
        server = _SHARED[kind] = kind().start()
        atexit.register(server.stop)
    return server  # type: ignore[return-value]


def running(emulator: E) -> Iterator[E]:
    """Start ``emulator``, yield it, stop it (for fixtures)."""
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


# --- what Google's services check in every request ------------------------------------------------------

EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(Z|[+-]\d\d:\d\d)?$")


def is_email(value: object) -> bool:
    """A bare address (``a@example.org``): no display name, no spaces, a dotted domain."""
    return isinstance(value, str) and len(value) <= 254 and EMAIL.match(value) is not None


def instant(value: object, *, zone_given: bool = False) -> datetime | None:
    """An RFC3339 date-time; None when malformed, or without an offset unless a zone is ``zone_given``
    (then it is naive, to be read in that zone)."""
    if not isinstance(value, str) or (m := RFC3339.match(value)) is None:
        return None
    offset = m.group(1)
    if offset is None and not zone_given:
        return None
    fraction = re.match(r"\.(\d+)", value[19:])
    try:
        parsed = datetime.fromisoformat(value[:19]).replace(
            microsecond=int((fraction.group(1) + "000000")[:6]) if fraction else 0
        )
        if offset:
            parsed = parsed.replace(
                tzinfo=datetime.fromisoformat("2000-01-01T00:00:00" + offset.replace("Z", "+00:00")).tzinfo
            )
    except ValueError:
        return None
    return parsed


class OAuthTokens:
    """Google's OAuth token endpoint (``POST /token``), for service-account keys whose ``token_uri`` points here.

    Set ``refuse_tokens`` to an OAuth error code (e.g. ``"invalid_grant"``) to refuse every key, as Google
    does for a deleted key or a subject without domain-wide delegation.
    """

    refuse_tokens: str | None = None

    def token_route(self, emulator: Emulator) -> None:
        emulator.route("POST", "/token", "oauth.token", self._token)

    def _token(self, request: Request) -> Reply:
        form = request.body if isinstance(request.body, dict) else {}
        if self.refuse_tokens:
            return Reply(400, {"error": self.refuse_tokens, "error_description": "Invalid JWT Signature."})
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or not form.get("assertion"):
            return Reply(400, {"error": "invalid_request", "error_description": "Missing assertion."})
        return Reply(200, {"access_token": "ya29.emulator", "expires_in": 3600, "token_type": "Bearer"})

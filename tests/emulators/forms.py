"""A Google Forms API v1 emulator: ``forms.get`` and ``forms.responses.list`` (filter + paging) over HTTP.

Shapes follow the public reference: a form has ``items`` whose ``questionItem.question`` (or, for grids,
``questionGroupItem.questions[]`` with ``rowQuestion.title``) carry the ``questionId`` that response
``answers`` are keyed by. ``responses.list`` honours ``timestamp > N`` / ``timestamp >= N`` on
``lastSubmittedTime``, pages at most 5000 responses with page tokens bound to their form and filter, and
answers a malformed filter, an unknown query parameter or a foreign page token with 400 ``INVALID_ARGUMENT``
like the service.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from tests.emulators.server import ApiError, Emulator, OAuthTokens, Reply, Request

MAX_PAGE = 5000
EMAIL_KEY = "Email address"
FILTER = re.compile(r"^\s*timestamp\s*(>=|>)\s*(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z)\s*$")
STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}

Kind = Literal["text", "paragraph", "radio", "checkbox", "dropdown", "scale", "date", "grid"]


@dataclass(frozen=True)
class Question:
    """A question to seed a form with; ``rows`` only for ``grid`` (one answer per row)."""

    title: str
    kind: Kind = "text"
    options: tuple[str, ...] = ()
    rows: tuple[str, ...] = ()


@dataclass
class _Form:
    form_id: str
    title: str
    items: list[dict[str, Any]]
    ids: dict[str, str]  # answer key ("Title" or "Title [Row]") -> questionId
    collects_email: bool
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)


def rfc3339(instant: datetime) -> str:
    """Zulu time with microseconds, as the Forms API writes ``lastSubmittedTime``."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _instant(text: str) -> datetime:
    """An RFC3339 Zulu instant; a malformed one (seeded with ``raw_response``) sorts first."""
    try:
        return _zulu(text)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _zulu(text: str) -> datetime:
    main, _, frac = text.rstrip("Z").partition(".")
    base = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return base + timedelta(microseconds=int((frac + "000000")[:6])) if frac else base


class FormsEmulator(Emulator, OAuthTokens):
    """Forms with questions and responses; ``add_response``/``edit_response`` play the respondents."""

    def __init__(self) -> None:
        super().__init__()
        self.token_route(self)
        self.forms: dict[str, _Form] = {}
        self._serial = 0
        self.clock = datetime(2025, 1, 5, 8, 0, tzinfo=UTC)
        self.route("GET", "/v1/forms/{formId}", "forms.get", self._forms_get, ())
        self.route(
            "GET",
            "/v1/forms/{formId}/responses",
            "responses.list",
            self._responses_list,
            {"filter", "pageSize", "pageToken"},
        )
        self.route("GET", "/v1/forms/{formId}/responses/{responseId}", "responses.get", self._responses_get, ())

    def error_body(self, error: ApiError) -> Any:
        return {
            "error": {"code": error.status, "message": error.message, "status": STATUS.get(error.status, "UNKNOWN")}
        }

    def reset(self) -> None:
        super().reset()  # first: it waits for requests in flight, which need the lock
        with self.lock:
            self.refuse_tokens = None
            self.forms.clear()

    # --- seeding (what a form editor and respondents do) -----------------------------------------------

    def create_form(
        self, form_id: str, questions: list[Question | str], *, title: str = "Form", collects_email: bool = True
    ) -> None:
        """A form with these questions (a plain string = a short-answer question)."""
        items: list[dict[str, Any]] = []
        ids: dict[str, str] = {}
        with self.lock:
            for number, q in enumerate(Question(q) if isinstance(q, str) else q for q in questions):
                item_id = f"{number:08x}"
                if q.kind == "grid":
                    rows = []
                    for row in q.rows:
                        qid = self._next_id()
                        ids[f"{q.title} [{row}]"] = qid
                        rows.append({"questionId": qid, "rowQuestion": {"title": row}})
                    items.append(
                        {
                            "itemId": item_id,
                            "title": q.title,
                            "questionGroupItem": {
                                "questions": rows,
                                "grid": {"columns": {"type": "CHECKBOX", "options": [{"value": o} for o in q.options]}},
                            },
                        }
                    )
                    continue
                qid = self._next_id()
                ids[q.title] = qid
                items.append(
                    {
                        "itemId": item_id,
                        "title": q.title,
                        "questionItem": {"question": {"questionId": qid, **_question_body(q)}},
                    }
                )
            self.forms[form_id] = _Form(form_id, title, items, ids, collects_email)

    def add_response(
        self,
        form_id: str,
        answers: dict[str, str | list[str]],
        *,
        email: str | None = None,
        at: datetime | None = None,
        response_id: str | None = None,
    ) -> str:
        """Submit (or, with an existing ``response_id``, re-submit an edited) response; returns its id."""
        with self.lock:
            form = self._form(form_id)
            when = rfc3339(at or self._tick())
            rid = response_id or f"ACYDBN{self._next_id()}{len(form.responses):06d}"
            previous = form.responses.get(rid)
            unknown = set(answers) - set(form.ids)
            if unknown:
                raise KeyError(f"form {form_id} has no question titled {sorted(unknown)}")
            response: dict[str, Any] = {
                "formId": form_id,
                "responseId": rid,
                "createTime": previous["createTime"] if previous else when,
                "lastSubmittedTime": when,
                "answers": {
                    form.ids[key]: {
                        "questionId": form.ids[key],
                        "textAnswers": {
                            "answers": [{"value": v} for v in ([value] if isinstance(value, str) else value)]
                        },
                    }
                    for key, value in answers.items()
                },
            }
            if form.collects_email and email is not None:
                response["respondentEmail"] = email
            form.responses[rid] = response
            return rid

    def seed(
        self,
        form_id: str,
        questions: Sequence[Question | str],
        responses: Iterable[Mapping[str, str | list[str]]] = (),
        *,
        title: str = "Form",
    ) -> list[str]:
        """Create a form and submit ``responses`` (question title -> answer; ``"Email address"`` is the
        respondent's collected email, not a question). Returns the response ids, in order."""
        self.create_form(form_id, list(questions), title=title)
        ids = []
        for response in responses:
            email = response.get(EMAIL_KEY)
            answers = {k: v for k, v in response.items() if k != EMAIL_KEY}
            ids.append(self.add_response(form_id, answers, email=email if isinstance(email, str) else None))
        return ids

    def edit_response(
        self, form_id: str, response_id: str, answers: dict[str, str | list[str]], *, at: datetime | None = None
    ) -> None:
        """The respondent edits their answer: same id, later ``lastSubmittedTime``."""
        with self.lock:
            email = self._form(form_id).responses[response_id].get("respondentEmail")
        self.add_response(form_id, answers, email=email, at=at, response_id=response_id)

    def raw_response(self, form_id: str, response_id: str, document: dict[str, Any]) -> None:
        """Store a response document as given (to test how clients handle odd or broken answers)."""
        with self.lock:
            self._form(form_id).responses[response_id] = document

    # --- operations ------------------------------------------------------------------------------------

    def _forms_get(self, request: Request) -> Reply:
        form = self._form(request.params["formId"])
        return Reply(
            200,
            {
                "formId": form.form_id,
                "info": {"title": form.title, "documentTitle": form.title},
                "revisionId": "00000001",
                "responderUri": f"https://docs.google.com/forms/d/e/{form.form_id}/viewform",
                "items": form.items,
            },
        )

    def _responses_get(self, request: Request) -> Reply:
        form = self._form(request.params["formId"])
        found = form.responses.get(request.params["responseId"])
        if found is None:
            raise ApiError(404, "Requested entity was not found.")
        return Reply(200, found)

    def _responses_list(self, request: Request) -> Reply:
        form = self._form(request.params["formId"])
        text_filter = request.query.get("filter", "")
        selected = sorted(form.responses.values(), key=lambda r: (_instant(r["lastSubmittedTime"]), r["responseId"]))
        if text_filter:
            m = FILTER.match(text_filter)
            if m is None:
                raise ApiError(
                    400,
                    f"Invalid filter: {text_filter!r}. Supported: 'timestamp > N' or "
                    "'timestamp >= N' with N in RFC3339 UTC \"Zulu\" format.",
                )
            bound = _zulu(m.group(2))
            strict = m.group(1) == ">"
            selected = [
                r
                for r in selected
                if (_instant(r["lastSubmittedTime"]) > bound if strict else _instant(r["lastSubmittedTime"]) >= bound)
            ]
        try:
            size = int(request.query.get("pageSize") or 0)
        except ValueError as exc:
            raise ApiError(400, "Invalid value at 'page_size' (TYPE_INT32)") from exc
        if size < 0:
            raise ApiError(400, "page_size must not be negative")
        size = min(size or MAX_PAGE, MAX_PAGE)
        start = 0
        if token := request.query.get("pageToken"):
            try:
                state = json.loads(base64.urlsafe_b64decode(token))
                start = int(state["offset"])
                same = state["filter"] == text_filter and state["form"] == form.form_id
            except (ValueError, KeyError, TypeError) as exc:
                raise ApiError(400, "Invalid page token.") from exc
            if not same:
                raise ApiError(400, "Invalid page token; the form and filter must be the same as in the first request.")
        page = selected[start : start + size]
        body: dict[str, Any] = {}
        if page:
            body["responses"] = [{k: v for k, v in r.items() if k != "formId"} for r in page]  # list omits formId
        if start + size < len(selected):
            body["nextPageToken"] = base64.urlsafe_b64encode(
                json.dumps({"offset": start + size, "filter": text_filter, "form": form.form_id}).encode()
            ).decode()
        return Reply(200, body)

    # --- helpers -----------------------------------------------------------------------------------------

    def _form(self, form_id: str) -> _Form:
        form = self.forms.get(form_id)
        if form is None:
            raise ApiError(404, "Requested entity was not found.")
        return form

    def _next_id(self) -> str:
        self._serial += 1
        return f"{0x1A2B0000 + self._serial:08x}"

    def _tick(self) -> datetime:
        self.clock += timedelta(minutes=1, microseconds=123)
        return self.clock


def _question_body(q: Question) -> dict[str, Any]:
    if q.kind in ("text", "paragraph"):
        return {"textQuestion": {"paragraph": q.kind == "paragraph"}}
    if q.kind in ("radio", "checkbox", "dropdown"):
        kind = {"radio": "RADIO", "checkbox": "CHECKBOX", "dropdown": "DROP_DOWN"}[q.kind]
        return {"choiceQuestion": {"type": kind, "options": [{"value": o} for o in q.options]}}
    if q.kind == "scale":
        return {"scaleQuestion": {"low": 1, "high": 5}}
    return {"dateQuestion": {"includeYear": True}}

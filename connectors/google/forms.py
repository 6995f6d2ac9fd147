"""Google Forms as intake, roster and survey source (Forms API v1: ``forms.get`` + ``forms.responses.list``).

Every answer becomes a :class:`RawResponse` keyed by *question title* (the titles are mapped to fields by
``config/program.yaml``), plus ``"Email address"`` (the collected respondent email, when the form collects
it), ``"Response ID"`` and ``"Timestamp"`` (``lastSubmittedTime``). Checkbox answers are lists; a grid row
is keyed ``"Grid title [Row title]"`` like the Sheets export. Intake reads incrementally with the
``timestamp > watermark`` filter, so a response edited later comes again under the same id.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.base import (
    ConnectorError,
    IntakeBatch,
    IntakeError,
    IntakeUnavailable,
)
from connectors.google.auth import GoogleClient
from connectors.google.errors import Kind, map_errors
from domain.models import RawResponse, SetAside

PAGE_SIZE = 5000  # the service's maximum
ZULU = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
EMAIL_TITLE, ID_TITLE, TIME_TITLE = "Email address", "Response ID", "Timestamp"


class FormReader:
    """Reads one form: its questions (id → title) and its responses, page by page.

    Errors come out as ``error`` / ``unavailable`` (the kinds of the source using the reader), or
    ConfigurationError when Google refuses the credentials or the form is not shared with the account.
    """

    def __init__(
        self,
        client: GoogleClient,
        form_id: str,
        page_size: int = PAGE_SIZE,
        *,
        setting: str = "the form id setting",
        error: type[ConnectorError] = IntakeError,
        unavailable: type[ConnectorError] = IntakeUnavailable,
    ) -> None:
        self.client = client
        self.form_id = form_id
        self.page_size = page_size
        self.source = f"forms:{form_id}"
        self.setting = setting
        self.error = error
        self.unavailable = unavailable

    def read(self, since: str | None = None) -> tuple[list[RawResponse], list[SetAside]]:
        """Every response submitted or edited after ``since`` (RFC3339 Zulu), oldest first, and the entries
        that are not responses at all."""
        with self._errors():
            return self._read(since)

    def check_credentials(self) -> None:
        """One cheap authenticated call (``forms.get``): ConfigurationError naming the setting if refused."""
        with self._errors():
            self._questions()

    def _errors(self) -> AbstractContextManager[None]:
        access = (
            f"is the form shared with the connector's account? check {self.setting} and "
            "MENTORFLOW_GOOGLE_CREDENTIALS_FILE / MENTORFLOW_GOOGLE_SUBJECT"
        )
        return map_errors(
            "Google Forms",
            f"could not read form {self.form_id}",
            {Kind.TRANSIENT: self.unavailable, Kind.BAD_REQUEST: self.error},
            hints={Kind.NOT_FOUND: f"check the form id in {self.setting}", Kind.CONFIGURATION: access},
        )

    def _read(self, since: str | None) -> tuple[list[RawResponse], list[SetAside]]:
        questions = self._questions()
        forms = self.client.service.forms()
        responses: list[RawResponse] = []
        problems: list[SetAside] = []
        token: str | None = None
        seen_tokens: set[str] = set()
        while True:
            params: dict[str, Any] = {"formId": self.form_id, "pageSize": self.page_size}
            if since:
                params["filter"] = f"timestamp > {since}"
            if token:
                params["pageToken"] = token
            page = self.client.execute(forms.responses().list(**params))
            for number, item in enumerate(page.get("responses") or [], start=1):
                if isinstance(item, dict):
                    responses.append(self._raw(item, questions))
                else:
                    problems.append(
                        SetAside(
                            source=self.source,
                            ref=f"page {len(seen_tokens) + 1} entry {number}",
                            reasons=["the Forms API returned an entry that is not a response"],
                        )
                    )
            token = page.get("nextPageToken")
            if not token:
                break
            if token in seen_tokens:
                raise self.error(
                    f"Google Forms answered form {self.form_id} with a broken page: it repeated a page token"
                )
            seen_tokens.add(token)
        epoch = datetime.min.replace(tzinfo=UTC)
        return sorted(responses, key=lambda r: r.submitted_at or epoch), problems

    def _questions(self) -> dict[str, tuple[str, bool]]:
        """questionId → (answer key, always a list) from the form's items."""
        form = self.client.execute(self.client.service.forms().get(formId=self.form_id))
        out: dict[str, tuple[str, bool]] = {}
        for item in form.get("items", []):
            title = str(item.get("title") or "").strip()
            if question := (item.get("questionItem") or {}).get("question"):
                multi = (question.get("choiceQuestion") or {}).get("type") == "CHECKBOX"
                out[question["questionId"]] = (title, multi)
            group = item.get("questionGroupItem") or {}
            multi_rows = ((group.get("grid") or {}).get("columns") or {}).get("type") == "CHECKBOX"
            for row in group.get("questions", []):
                row_title = str((row.get("rowQuestion") or {}).get("title") or "").strip()
                out[row["questionId"]] = (f"{title} [{row_title}]", multi_rows)
        return out

    def _raw(self, response: dict[str, Any], questions: dict[str, tuple[str, bool]]) -> RawResponse:
        answers: dict[str, str | list[str]] = {}
        for qid, answer in (response.get("answers") or {}).items():
            key, multi = questions.get(qid, (f"question {qid}", False))  # a question deleted since: keep it
            values = [str(a.get("value", "")) for a in (answer.get("textAnswers") or {}).get("answers", [])]
            values += [str(f.get("fileName", "")) for f in (answer.get("fileUploadAnswers") or {}).get("answers", [])]
            if multi or len(values) > 1:
                answers[key] = values
            elif values:
                answers[key] = values[0]
        response_id = str(response.get("responseId") or "")
        submitted = str(response.get("lastSubmittedTime") or "")
        if email := response.get("respondentEmail"):
            answers[EMAIL_TITLE] = str(email)
        answers[ID_TITLE] = response_id
        answers[TIME_TITLE] = submitted
        return RawResponse(
            source=self.source,
            ref=response_id or "(no response id)",
            submitted_at=parse_instant(submitted),
            answers=answers,
        )


class GoogleFormsIntake:
    """IntakeSource: new and edited answers of the mentee form since a watermark (max ``lastSubmittedTime``)."""

    def __init__(self, reader: FormReader) -> None:
        self.reader = reader
        self.name = reader.source

    def fetch(self, since: str | None) -> IntakeBatch:
        """Answers after ``since``: ``forms.get`` plus ⌈answers/5000⌉ list calls (at least one)."""
        since = zulu(since) if since else None
        responses, problems = self.reader.read(since)
        stamped = [r for r in responses if r.submitted_at is not None]  # oldest first: the last is the newest
        watermark = str(stamped[-1].answers[TIME_TITLE]) if stamped else since
        return IntakeBatch(responses=responses, watermark=watermark, problems=problems)

    def check_credentials(self) -> None:
        """One cheap authenticated call (``forms.get``); ConfigurationError naming the setting if refused."""
        self.reader.check_credentials()


class _WholeForm:
    """Every answer of one form, read whole each time."""

    def __init__(self, reader: FormReader) -> None:
        self.reader = reader
        self.name = reader.source

    def fetch(self) -> list[RawResponse]:
        """Every answer of the form, unvalidated."""
        return self.reader.read()[0]

    def check_credentials(self) -> None:
        """One cheap authenticated call (``forms.get``); ConfigurationError naming the setting if refused."""
        self.reader.check_credentials()


class GoogleFormsRoster(_WholeForm):
    """RosterSource: every answer of the mentor registration form (an edit replaces the earlier answer)."""


class GoogleFormsSurveys(_WholeForm):
    """SurveySource: every answer of the follow-up survey form (a reader built with the survey error kinds)."""


def parse_instant(text: str) -> datetime | None:
    """An RFC3339 instant (nanoseconds allowed, truncated to microseconds); None when malformed."""
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$", text.strip())
    if match is None:
        return None
    try:
        base = datetime.fromisoformat(match.group(1) + ("+00:00" if match.group(3) == "Z" else match.group(3)))
    except ValueError:
        return None
    return base + timedelta(microseconds=int((match.group(2) or "0").ljust(6, "0")[:6]))


def zulu(watermark: str) -> str:
    """The watermark in the filter's required RFC3339 UTC "Zulu" form, or IntakeError if it is not an instant."""
    if ZULU.match(watermark):
        return watermark
    instant = parse_instant(watermark)
    if instant is None:
        raise IntakeError(f"stored intake watermark {watermark!r} is not an RFC3339 instant; reset it to re-read")
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

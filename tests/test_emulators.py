"""The emulators behave like the services where our connectors depend on it (checked over plain HTTP)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest

from tests.emulators import CalendarEmulator, Fault, FormsEmulator, Question, SendGridEmulator
from tests.emulators.forms import rfc3339

pytest_plugins = ["tests.emulators.fixtures"]


def call(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            raw = response.read()
            return response.status, dict(response.headers.items()), json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        return exc.code, dict(exc.headers.items()), json.loads(raw) if raw else None


# --- Forms -------------------------------------------------------------------------------------------------


def test_forms_get_maps_question_ids_and_list_answers_by_them(forms_emulator: FormsEmulator) -> None:
    forms_emulator.seed(
        "F",
        ["Full name", Question("Topics", "checkbox", ("a", "b"))],
        [{"Full name": "Noa", "Topics": ["a", "b"], "Email address": "noa@example.com"}],
    )
    _, _, form = call("GET", f"{forms_emulator.url}/v1/forms/F")
    ids = {item["title"]: item["questionItem"]["question"]["questionId"] for item in form["items"]}
    assert form["items"][1]["questionItem"]["question"]["choiceQuestion"]["type"] == "CHECKBOX"
    _, _, page = call("GET", f"{forms_emulator.url}/v1/forms/F/responses")
    (response,) = page["responses"]
    assert "formId" not in response  # the list omits it, like the service
    assert response["respondentEmail"] == "noa@example.com"
    assert response["answers"][ids["Topics"]]["textAnswers"]["answers"] == [{"value": "a"}, {"value": "b"}]
    assert response["answers"][ids["Full name"]]["textAnswers"]["answers"] == [{"value": "Noa"}]


def test_forms_filter_is_strict_or_inclusive_on_last_submitted_time(forms_emulator: FormsEmulator) -> None:
    forms_emulator.create_form("F", ["Q"])
    times = [datetime(2025, 3, 1, 10, m, tzinfo=UTC) for m in (0, 1, 2)]
    ids = [forms_emulator.add_response("F", {"Q": str(i)}, at=t) for i, t in enumerate(times)]
    base = f"{forms_emulator.url}/v1/forms/F/responses?filter="
    _, _, strict = call("GET", base + quote(f"timestamp > {rfc3339(times[1])}"))
    _, _, inclusive = call("GET", base + quote(f"timestamp >= {rfc3339(times[1])}"))
    assert [r["responseId"] for r in strict["responses"]] == ids[2:]
    assert [r["responseId"] for r in inclusive["responses"]] == ids[1:]
    forms_emulator.edit_response("F", ids[0], {"Q": "edited"}, at=datetime(2025, 3, 1, 11, 0, tzinfo=UTC))
    _, _, after_edit = call("GET", base + quote(f"timestamp > {rfc3339(times[2])}"))
    (edited,) = after_edit["responses"]
    assert edited["responseId"] == ids[0] and edited["createTime"] == rfc3339(times[0])


@pytest.mark.parametrize(
    "bad",
    [
        "timestamp > yesterday",
        "createTime > 2025-01-01T00:00:00Z",
        "timestamp > 2025-01-01T00:00:00+02:00",
        "timestamp = 2025-01-01T00:00:00Z",
    ],
)
def test_forms_rejects_a_malformed_filter_like_the_service(forms_emulator: FormsEmulator, bad: str) -> None:
    forms_emulator.create_form("F", ["Q"])
    status, _, body = call("GET", f"{forms_emulator.url}/v1/forms/F/responses?filter={quote(bad)}")
    assert status == 400
    assert body["error"]["status"] == "INVALID_ARGUMENT"


def test_forms_pages_at_most_5000_and_the_token_keeps_the_filter(forms_emulator: FormsEmulator) -> None:
    forms_emulator.create_form("F", ["Q"])
    for i in range(5003):
        forms_emulator.add_response("F", {"Q": str(i)})
    _, _, first = call("GET", f"{forms_emulator.url}/v1/forms/F/responses?pageSize=9000")
    assert len(first["responses"]) == 5000
    token = first["nextPageToken"]
    _, _, second = call("GET", f"{forms_emulator.url}/v1/forms/F/responses?pageToken={token}")
    assert len(second["responses"]) == 3 and "nextPageToken" not in second
    other_filter = quote("timestamp > 2020-01-01T00:00:00Z")
    status, _, _ = call("GET", f"{forms_emulator.url}/v1/forms/F/responses?pageToken={token}&filter={other_filter}")
    assert status == 400
    forms_emulator.create_form("G", ["Q"])
    status, _, _ = call("GET", f"{forms_emulator.url}/v1/forms/G/responses?pageToken={token}")
    assert status == 400  # a page token is bound to its form


@pytest.mark.parametrize("query", ["?page_size=10", "?orderBy=timestamp", "?pageSize=ten"])
def test_forms_refuses_unknown_parameters(forms_emulator: FormsEmulator, query: str) -> None:
    forms_emulator.create_form("F", ["Q"])
    status, _, body = call("GET", f"{forms_emulator.url}/v1/forms/F/responses{query}")
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"


def test_forms_unknown_form_is_404(forms_emulator: FormsEmulator) -> None:
    status, _, body = call("GET", f"{forms_emulator.url}/v1/forms/nope")
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"


# --- Calendar ---------------------------------------------------------------------------------------------

EVENTS = "/calendar/v3/calendars/primary/events"


def event_body(event_id: str = "abc123def", **extra: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "summary": "s",
        "start": {"dateTime": "2025-03-04T18:00:00+02:00"},
        "end": {"dateTime": "2025-03-04T19:00:00+02:00"},
        "attendees": [{"email": "a@example.com"}, {"email": "b@example.com"}],
        **extra,
    }


def test_calendar_insert_then_duplicate_is_409(calendar_emulator: CalendarEmulator) -> None:
    status, _, event = call("POST", calendar_emulator.url + EVENTS, event_body())
    assert status == 200 and event["htmlLink"].startswith("https://www.google.com/calendar/event?eid=")
    status, _, body = call("POST", calendar_emulator.url + EVENTS, event_body())
    assert status == 409 and body["error"]["errors"][0]["reason"] == "duplicate"
    assert calendar_emulator.counts["events.insert"] == 2 and len(calendar_emulator.events()) == 1


@pytest.mark.parametrize("bad_id", ["ABCDEF", "abcw1", "abcd", "abc-def"])
def test_calendar_rejects_ids_that_are_not_base32hex(calendar_emulator: CalendarEmulator, bad_id: str) -> None:
    status, _, body = call("POST", calendar_emulator.url + EVENTS, event_body(bad_id))
    assert status == 400 and body["error"]["errors"][0]["reason"] == "invalid"
    assert calendar_emulator.events() == {}


def test_calendar_requires_start_and_end(calendar_emulator: CalendarEmulator) -> None:
    body = event_body()
    del body["end"]
    status, _, answer = call("POST", calendar_emulator.url + EVENTS, body)
    assert status == 400 and answer["error"]["errors"][0]["reason"] == "required"


def test_calendar_creates_meet_only_with_conference_data_version_1(calendar_emulator: CalendarEmulator) -> None:
    solution = {"type": "hangoutsMeet"}
    request = {"conferenceData": {"createRequest": {"requestId": "r1", "conferenceSolutionKey": solution}}}
    _, _, without = call("POST", calendar_emulator.url + EVENTS, event_body("aaaaa1", **request))
    _, _, with_meet = call(
        "POST", calendar_emulator.url + EVENTS + "?conferenceDataVersion=1", event_body("aaaaa2", **request)
    )
    assert "conferenceData" not in without
    assert with_meet["conferenceData"]["entryPoints"][0]["uri"].startswith("https://meet.google.com/")
    assert with_meet["hangoutLink"] == with_meet["conferenceData"]["entryPoints"][0]["uri"]


def test_calendar_fault_after_store_keeps_the_event(calendar_emulator: CalendarEmulator) -> None:
    calendar_emulator.fail_next(500, after=True, operation="events.insert")
    status, _, _ = call("POST", calendar_emulator.url + EVENTS, event_body())
    assert status == 500
    assert list(calendar_emulator.events()) == ["abc123def"]


def test_calendar_get_patch_delete(calendar_emulator: CalendarEmulator) -> None:
    url = calendar_emulator.url + EVENTS
    assert call("GET", f"{url}/abc123def")[0] == 404
    call("POST", url, event_body())
    status, _, patched = call(
        "PATCH",
        f"{url}/abc123def?sendUpdates=all",
        {"start": {"dateTime": "2025-03-05T18:00:00+02:00"}, "end": {"dateTime": "2025-03-05T19:00:00+02:00"}},
    )
    assert status == 200 and patched["sequence"] == 1 and patched["summary"] == "s"
    assert call("DELETE", f"{url}/abc123def")[0] == 204
    status, _, body = call("GET", f"{url}/abc123def")
    assert status == 200 and body["status"] == "cancelled"  # a deleted event is still returned, cancelled
    assert call("DELETE", f"{url}/abc123def")[0] == 410  # deleting it again: gone
    assert call("POST", url, event_body())[0] == 409  # a deleted id stays taken
    status, _, restored = call("PUT", f"{url}/abc123def?sendUpdates=all", {**event_body(), "status": "confirmed"})
    assert status == 200 and restored["status"] == "confirmed" and restored["sequence"] == 2


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"colour": "red"}, "invalid"),  # not a field of the event resource
        ({"start": {"dateTime": "2025-03-04T18:00:00"}}, "invalid"),  # no offset and no timeZone
        ({"start": {"dateTime": "2025-03-04T18:00:00", "timeZone": "Mars/Olympus"}}, "invalid"),
        ({"start": {"dateTime": "tomorrow 6pm", "timeZone": "Asia/Jerusalem"}}, "invalid"),
        ({"status": "done"}, "invalid"),
        ({"visibility": "secret"}, "invalid"),
        ({"transparency": "busy"}, "invalid"),
        ({"attendees": [{"email": "Noa <noa@example.com>"}]}, "invalid"),
        ({"attendees": [{"email": "noa@example"}]}, "invalid"),
        ({"attendees": [{"email": "noa@example.com", "responseStatus": "maybe"}]}, "invalid"),
        ({"reminders": {"useDefault": False, "overrides": [{"method": "sms", "minutes": 10}]}}, "invalid"),
        (
            {"reminders": {"useDefault": False, "overrides": [{"method": "popup", "minutes": n} for n in range(6)]}},
            "cannotUseMoreThan5Reminders",
        ),
        (
            {"conferenceData": {"createRequest": {"requestId": "r", "conferenceSolutionKey": {"type": "zoom"}}}},
            "invalid",
        ),
    ],
)
def test_calendar_refuses_what_the_service_refuses(
    calendar_emulator: CalendarEmulator, change: dict[str, Any], reason: str
) -> None:
    status, _, body = call("POST", calendar_emulator.url + EVENTS, {**event_body(), **change})
    assert status == 400 and body["error"]["errors"][0]["reason"] == reason
    assert calendar_emulator.events() == {}


def test_calendar_accepts_a_local_time_with_its_zone(calendar_emulator: CalendarEmulator) -> None:
    body = {
        **event_body(),
        "start": {"dateTime": "2025-03-04T18:00:00", "timeZone": "Asia/Jerusalem"},
        "end": {"dateTime": "2025-03-04T19:00:00", "timeZone": "Asia/Jerusalem"},
    }
    assert call("POST", calendar_emulator.url + EVENTS, body)[0] == 200


@pytest.mark.parametrize("query", ["?sendUpdates=everyone", "?conferenceDataVersion=2", "?notify=true"])
def test_calendar_refuses_unknown_parameters_and_values(calendar_emulator: CalendarEmulator, query: str) -> None:
    status, _, _ = call("POST", calendar_emulator.url + EVENTS + query, event_body())
    assert status == 400 and calendar_emulator.events() == {}


def test_calendar_list_syncs_changes_with_a_token(calendar_emulator: CalendarEmulator) -> None:
    url = calendar_emulator.url + EVENTS
    for n in range(3):
        call("POST", url, event_body(f"abcde{n}"))
    _, _, full = call("GET", url + "?maxResults=2")
    assert len(full["items"]) == 2 and "nextSyncToken" not in full
    status, _, _ = call("GET", url + f"?maxResults=2&pageToken={full['nextPageToken']}&showDeleted=true")
    assert status == 400  # a page token belongs to its query
    _, _, rest = call("GET", url + f"?maxResults=2&pageToken={full['nextPageToken']}")
    token = rest["nextSyncToken"]
    _, _, nothing = call("GET", url + f"?syncToken={token}")
    assert nothing["items"] == [] and nothing["nextSyncToken"]
    calendar_emulator.respond("abcde1", "b@example.com", "declined")
    call("DELETE", url + "/abcde2")
    _, _, changed = call("GET", url + f"?syncToken={token}")
    assert {(e["id"], e["status"]) for e in changed["items"]} == {("abcde1", "confirmed"), ("abcde2", "cancelled")}
    assert call("GET", url + f"?syncToken={token}&timeMin=2025-01-01T00:00:00Z")[0] == 400
    _, _, listed = call("GET", url)
    assert sorted(e["id"] for e in listed["items"]) == ["abcde0", "abcde1"]  # cancelled only with showDeleted
    _, _, with_deleted = call("GET", url + "?showDeleted=true")
    assert len(with_deleted["items"]) == 3
    assert call("GET", url + "?timeMin=2025-03-04T00:00:00")[0] == 400  # no offset
    _, _, updated = call("GET", url + "?updatedMin=2000-01-01T00:00:00Z")
    assert len(updated["items"]) == 3  # deleted events always come with updatedMin
    calendar_emulator.expire_sync_tokens()
    status, _, body = call("GET", url + f"?syncToken={token}")
    assert status == 410 and body["error"]["errors"][0]["reason"] == "fullSyncRequired"


def test_calendar_freebusy_from_events_and_seeded_blocks(calendar_emulator: CalendarEmulator) -> None:
    call("POST", calendar_emulator.url + EVENTS, event_body())
    calendar_emulator.add_busy(
        "c@example.com", datetime(2025, 3, 4, 8, tzinfo=UTC), datetime(2025, 3, 4, 9, tzinfo=UTC)
    )
    _, _, answer = call(
        "POST",
        calendar_emulator.url + "/calendar/v3/freeBusy",
        {
            "timeMin": "2025-03-04T00:00:00Z",
            "timeMax": "2025-03-05T00:00:00Z",
            "items": [{"id": "a@example.com"}, {"id": "c@example.com"}, {"id": "x@example.com"}],
        },
    )
    calendars = answer["calendars"]
    assert [datetime.fromisoformat(b["start"]) for b in calendars["a@example.com"]["busy"]] == [
        datetime(2025, 3, 4, 16, tzinfo=UTC)
    ]
    assert len(calendars["c@example.com"]["busy"]) == 1
    assert calendars["x@example.com"]["errors"][0]["reason"] == "notFound"
    too_many = {
        "timeMin": "2025-03-04T00:00:00Z",
        "timeMax": "2025-03-05T00:00:00Z",
        "items": [{"id": f"p{n}@example.com"} for n in range(51)],
    }
    assert call("POST", calendar_emulator.url + "/calendar/v3/freeBusy", too_many)[0] == 400
    naive = {**too_many, "timeMin": "2025-03-04T00:00:00", "items": []}
    assert call("POST", calendar_emulator.url + "/calendar/v3/freeBusy", naive)[0] == 400


# --- SendGrid --------------------------------------------------------------------------------------------


def mail(**extra: Any) -> dict[str, Any]:
    return {
        "personalizations": [{"to": [{"email": "a@example.com"}]}],
        "from": {"email": "p@example.org"},
        "subject": "hi",
        "content": [{"type": "text/plain", "value": "x"}],
        **extra,
    }


def send(emulator: SendGridEmulator, body: Any, key: str | None = None) -> tuple[int, dict[str, str], Any]:
    return call("POST", emulator.url + "/v3/mail/send", body, {"Authorization": f"Bearer {key or emulator.api_key}"})


def test_sendgrid_accepts_a_valid_message_with_202_and_message_id(sendgrid_emulator: SendGridEmulator) -> None:
    status, headers, _ = send(sendgrid_emulator, mail())
    assert status == 202 and headers["X-Message-Id"]
    assert sendgrid_emulator.recipients() == ["a@example.com"]


def test_sendgrid_requires_the_api_key(sendgrid_emulator: SendGridEmulator) -> None:
    status, _, body = send(sendgrid_emulator, mail(), key="SG.wrong")
    assert status == 401 and body["errors"][0]["message"]
    assert sendgrid_emulator.accepted == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"from": None}, "from.email"),
        ({"personalizations": []}, "personalizations"),
        ({"personalizations": [{"to": []}]}, "personalizations.0.to"),
        ({"personalizations": [{"to": [{"email": f"p{i}@example.com"}]} for i in range(1001)]}, "personalizations"),
        (
            {"personalizations": [{"to": [{"email": "a@example.com"}]}, {"to": [{"email": "A@example.com"}]}]},
            "personalizations.1",
        ),
        ({"subject": ""}, "personalizations.0.subject"),
        ({"content": [{"type": "text/html", "value": ""}]}, "content.0.value"),
        ({"attachments": [{"filename": "x.ics", "content": "not base64!"}]}, "attachments.0.content"),
    ],
)
def test_sendgrid_validates_like_the_service(
    sendgrid_emulator: SendGridEmulator, change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in {**mail(), **change}.items() if v is not None}
    status, _, answer = send(sendgrid_emulator, body)
    assert status == 400
    assert field in [e["field"] for e in answer["errors"]]
    assert sendgrid_emulator.accepted == []


def test_sendgrid_sandbox_validates_without_delivering(sendgrid_emulator: SendGridEmulator) -> None:
    status, _, _ = send(sendgrid_emulator, mail(mail_settings={"sandbox_mode": {"enable": True}}))
    assert status == 200 and sendgrid_emulator.accepted == [] and len(sendgrid_emulator.sandboxed) == 1


def test_sendgrid_rate_limit_answers_429_with_reset_header(sendgrid_emulator: SendGridEmulator) -> None:
    sendgrid_emulator.rate_limit_next(1_900_000_000)
    status, headers, body = send(sendgrid_emulator, mail())
    assert status == 429 and headers["X-RateLimit-Reset"] == "1900000000" and "errors" in body
    assert send(sendgrid_emulator, mail())[0] == 202


# --- shared machinery ---------------------------------------------------------------------------------------


def test_fault_share_is_reproducible_and_counted(sendgrid_emulator: SendGridEmulator) -> None:
    def outcomes() -> list[int]:
        sendgrid_emulator.reset()
        sendgrid_emulator.fail_share(0.5, lambda rng: Fault(status=rng.choice([500, 503])), seed=7)
        return [
            send(sendgrid_emulator, mail(personalizations=[{"to": [{"email": f"{i}@example.com"}]}]))[0]
            for i in range(20)
        ]

    first, second = outcomes(), outcomes()
    assert first == second
    assert {500, 503, 202} == set(first)
    assert sendgrid_emulator.counts["mail.send"] == 20
    assert len(sendgrid_emulator.accepted) == first.count(202) == 20 - sendgrid_emulator.faults_served


def test_faults_can_target_one_operation(calendar_emulator: CalendarEmulator) -> None:
    calendar_emulator.fail_next(503, operation="events.get")
    assert call("POST", calendar_emulator.url + EVENTS, event_body())[0] == 200
    assert call("GET", calendar_emulator.url + EVENTS + "/abc123def")[0] == 503
    assert call("GET", calendar_emulator.url + EVENTS + "/abc123def")[0] == 200

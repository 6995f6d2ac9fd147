"""The Google Forms and Calendar connectors, through googleapiclient over real HTTP against the emulators."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from google.auth.exceptions import GoogleAuthError, RefreshError
from googleapiclient.errors import HttpError

from config.settings import Settings
from connectors.base import (
    Address,
    Calendar,
    CalendarError,
    CalendarEvent,
    ConfigurationError,
    ConnectorError,
    IntakeError,
    IntakeSource,
    IntakeUnavailable,
    OutcomeUnknown,
    Presence,
    RosterSource,
    SurveyError,
    SurveySource,
    TransientError,
)
from connectors.google.auth import CALENDAR_SCOPES, FORMS_SCOPES, GoogleClient, load_credentials
from connectors.google.calendar import GoogleCalendar
from connectors.google.forms import FormReader, GoogleFormsIntake
from connectors.remote import (
    build_google_calendar,
    build_google_intake,
    build_google_roster,
    build_google_surveys,
)
from tests.emulators import CalendarEmulator, Fault, FormsEmulator, GoogleEmulator, Question

pytest_plugins = ["tests.emulators.fixtures"]
TZ = ZoneInfo("Asia/Jerusalem")
MENTEE_QUESTIONS: list[Question | str] = [
    "Full name",
    Question("Preferred languages", "checkbox", ("עברית", "English")),
    Question("Topics (most important first)", "checkbox", ("Python", "Open source")),
    Question("Career stage", "radio", ("Junior", "Senior")),
    "Weekly availability",
    Question("Goals", "paragraph"),
    Question("May we contact you?", "radio", ("Yes", "No")),
]


def answers(name: str, email: str) -> dict[str, str | list[str]]:
    return {
        "Full name": name,
        "Email address": email,
        "Preferred languages": ["English"],
        "Topics (most important first)": ["Python"],
        "Career stage": "Junior",
        "Weekly availability": "Tue 18:00-20:00",
        "May we contact you?": "Yes",
    }


def settings_for(url: str, **extra: Any) -> Settings:
    return Settings(
        intake="google",
        roster="google",
        calendar="google",
        google_api_endpoint=url,
        google_mentee_form_id="mentees",
        google_mentor_form_id="mentors",
        google_survey_form_id="survey",
        http_timeout_seconds=5,
        **extra,
    )


def sleeps() -> tuple[list[float], Any]:
    slept: list[float] = []
    return slept, slept.append


# --- Forms: intake ----------------------------------------------------------------------------------------


def test_intake_maps_answers_by_question_title(forms_emulator: FormsEmulator) -> None:
    (rid,) = forms_emulator.seed("mentees", MENTEE_QUESTIONS, [answers("Noa", "noa@example.com")])
    intake = build_google_intake(settings_for(forms_emulator.url))
    assert isinstance(intake, IntakeSource) and intake.name == "forms:mentees"

    batch = intake.fetch(None)

    (raw,) = batch.responses
    response = forms_emulator.forms["mentees"].responses[rid]
    assert raw.source == "forms:mentees" and raw.ref == rid
    assert raw.submitted_at is not None and raw.submitted_at.tzinfo is not None
    assert raw.answers["Full name"] == "Noa"
    assert raw.answers["Preferred languages"] == ["English"]  # a checkbox is a list even with one choice
    assert raw.answers["Career stage"] == "Junior"
    assert raw.answers["Email address"] == "noa@example.com"
    assert raw.answers["Response ID"] == rid
    assert raw.answers["Timestamp"] == response["lastSubmittedTime"] == batch.watermark
    assert "Goals" not in raw.answers  # unanswered questions are absent, as in the API


def test_intake_is_incremental_and_brings_edits_again(forms_emulator: FormsEmulator) -> None:
    first, second = forms_emulator.seed(
        "mentees", MENTEE_QUESTIONS, [answers("Noa", "noa@example.com"), answers("Eli", "eli@example.com")]
    )
    intake = build_google_intake(settings_for(forms_emulator.url))
    batch = intake.fetch(None)
    assert [r.ref for r in batch.responses] == [first, second]

    forms_emulator.counts.clear()
    nothing = intake.fetch(batch.watermark)
    assert nothing.responses == [] and nothing.watermark == batch.watermark
    assert forms_emulator.counts["responses.list"] == 1

    edit = {k: v for k, v in answers("Noa", "noa@example.com").items() if k != "Email address"}
    forms_emulator.edit_response("mentees", first, {**edit, "Goals": "more"})
    edited = intake.fetch(batch.watermark)
    assert [r.ref for r in edited.responses] == [first]
    assert edited.responses[0].answers["Goals"] == "more"
    assert edited.watermark is not None and edited.watermark > str(batch.watermark)


def test_intake_pages_with_at_most_one_list_call_per_5000(forms_emulator: FormsEmulator) -> None:
    forms_emulator.create_form("mentees", ["Full name"])
    for i in range(5001):
        forms_emulator.add_response("mentees", {"Full name": f"n{i}"})
    intake = build_google_intake(settings_for(forms_emulator.url))
    batch = intake.fetch(None)
    assert len({r.ref for r in batch.responses}) == 5001
    assert forms_emulator.counts["responses.list"] == 2  # ⌈5001/5000⌉, no extra empty page
    assert batch.watermark == max(str(r.answers["Timestamp"]) for r in batch.responses)


def test_intake_pages_follow_the_page_token(forms_emulator: FormsEmulator) -> None:
    forms_emulator.create_form("mentees", ["Full name"])
    refs = [forms_emulator.add_response("mentees", {"Full name": str(i)}) for i in range(7)]
    reader = FormReader(
        GoogleClient(settings_for(forms_emulator.url), "forms", "v1", "", FORMS_SCOPES), "mentees", page_size=3
    )
    batch = GoogleFormsIntake(reader).fetch("2000-01-01T00:00:00Z")
    assert [r.ref for r in batch.responses] == refs
    assert forms_emulator.counts["responses.list"] == 3


def test_intake_keeps_answers_to_questions_deleted_since(forms_emulator: FormsEmulator) -> None:
    forms_emulator.create_form("mentees", ["Full name", "Old question"])
    rid = forms_emulator.add_response("mentees", {"Full name": "Noa", "Old question": "kept"})
    old_id = forms_emulator.forms["mentees"].ids["Old question"]
    del forms_emulator.forms["mentees"].items[1]  # the editor deleted the question after the answer came
    (raw,) = build_google_intake(settings_for(forms_emulator.url)).fetch(None).responses
    assert raw.ref == rid and raw.answers["Full name"] == "Noa"
    assert raw.answers[f"question {old_id}"] == "kept"


def test_intake_grid_rows_are_keyed_like_the_sheets_export(forms_emulator: FormsEmulator) -> None:
    forms_emulator.create_form("mentees", [Question("Slots", "grid", ("18:00", "20:00"), ("Sun", "Tue"))])
    forms_emulator.add_response("mentees", {"Slots [Sun]": ["18:00", "20:00"], "Slots [Tue]": ["20:00"]})
    (raw,) = build_google_intake(settings_for(forms_emulator.url)).fetch(None).responses
    assert raw.answers["Slots [Sun]"] == ["18:00", "20:00"] and raw.answers["Slots [Tue]"] == ["20:00"]


def test_intake_keeps_good_answers_when_one_is_odd(forms_emulator: FormsEmulator) -> None:
    forms_emulator.seed("mentees", MENTEE_QUESTIONS, [answers("Noa", "noa@example.com")])
    forms_emulator.raw_response("mentees", "ODD", {"responseId": "ODD", "lastSubmittedTime": "yesterday"})
    batch = build_google_intake(settings_for(forms_emulator.url)).fetch(None)
    odd = next(r for r in batch.responses if r.ref == "ODD")
    assert odd.submitted_at is None  # the domain sets it aside; the good answer still comes
    assert any(r.answers.get("Full name") == "Noa" for r in batch.responses)


def quick(source: Any) -> Any:
    """The connector with its retries' backoff sleeps recorded instead of slept."""
    slept: list[float] = []
    source.reader.client.sleep = slept.append
    source.slept = slept
    return source


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (503, IntakeUnavailable),
        (429, IntakeUnavailable),
        (500, IntakeUnavailable),
        (403, ConfigurationError),
        (401, ConfigurationError),
        (400, IntakeError),
    ],
)
def test_intake_errors_are_mapped_by_what_the_caller_does(
    forms_emulator: FormsEmulator, status: int, kind: type[Exception]
) -> None:
    forms_emulator.create_form("mentees", ["Full name"])
    forms_emulator.fail_next(status, times=4, operation="responses.list")  # outlasts the connector's 3 retries
    with pytest.raises(ConnectorError) as caught:
        quick(build_google_intake(settings_for(forms_emulator.url))).fetch(None)
    assert type(caught.value) is kind
    assert isinstance(caught.value.__cause__, (HttpError, GoogleAuthError))  # a 401 is a failed token refresh
    assert isinstance(caught.value, TransientError) == (status >= 429)
    if isinstance(caught.value, TransientError):  # the connector retried: the task must not repeat that
        assert forms_emulator.counts["responses.list"] == 4 and not caught.value.task_may_retry
    else:
        assert forms_emulator.counts["responses.list"] == 1
    if kind is ConfigurationError:
        assert "MENTORFLOW_GOOGLE_MENTEE_FORM_ID" in str(caught.value)
        assert "MENTORFLOW_GOOGLE_CREDENTIALS_FILE" in str(caught.value)


@pytest.mark.parametrize("build", [build_google_intake, build_google_roster, build_google_surveys])
def test_one_failed_read_of_a_form_is_retried(forms_emulator: FormsEmulator, build: Any) -> None:
    for form in ("mentees", "mentors", "survey"):
        forms_emulator.create_form(form, ["Full name"])
        forms_emulator.add_response(form, {"Full name": "Noa"})
    source = quick(build(settings_for(forms_emulator.url, survey_token_secret="a-real-secret-value-1234")))
    forms_emulator.fail_next(503, operation="responses.list")
    forms_emulator.fail_next(429, operation="forms.get")
    answers = source.fetch(None) if build is build_google_intake else source.fetch()
    assert len(answers.responses if build is build_google_intake else answers) == 1
    assert len(source.slept) == 2 and forms_emulator.faults_served == 2


def test_intake_unknown_form_names_the_setting(forms_emulator: FormsEmulator) -> None:
    with pytest.raises(IntakeError, match="form id") as caught:
        build_google_intake(settings_for(forms_emulator.url)).fetch(None)
    assert not isinstance(caught.value, TransientError)


def test_intake_timeout_is_transient(forms_emulator: FormsEmulator) -> None:
    forms_emulator.create_form("mentees", ["Full name"])
    forms_emulator.slow_next(0.6, times=4, operation="forms.get")
    intake = quick(
        build_google_intake(settings_for(forms_emulator.url).model_copy(update={"http_timeout_seconds": 0.2}))
    )
    with pytest.raises(IntakeUnavailable, match="timeout"):
        intake.fetch(None)
    assert forms_emulator.counts["forms.get"] == 4


def test_intake_rejects_a_watermark_that_is_not_an_instant(forms_emulator: FormsEmulator) -> None:
    forms_emulator.create_form("mentees", ["Full name"])
    intake = build_google_intake(settings_for(forms_emulator.url))
    with pytest.raises(IntakeError, match="watermark"):
        intake.fetch("3f2a9c")
    forms_emulator.add_response("mentees", {"Full name": "x"}, at=datetime(2025, 6, 1, 12, tzinfo=UTC))
    assert len(intake.fetch("2025-06-01T14:59:00+03:00").responses) == 1  # an offset instant is converted


# --- Forms: roster and surveys ----------------------------------------------------------------------------


def test_roster_and_surveys_read_every_answer(forms_emulator: FormsEmulator) -> None:
    forms_emulator.seed(
        "mentors",
        ["Full name", Question("Topics", "checkbox", ("python", "ml"))],
        [{"Full name": "Dana", "Topics": ["python", "ml"], "Email address": "dana@example.com"}],
    )
    forms_emulator.seed(
        "survey",
        ["token", Question("satisfaction", "scale")],
        [{"token": "t1", "satisfaction": "5"}, {"token": "t2", "satisfaction": "2"}],
    )
    settings = settings_for(forms_emulator.url, surveys="google", survey_token_secret="a-real-secret-value-1234")
    roster, surveys = build_google_roster(settings), build_google_surveys(settings)
    assert isinstance(roster, RosterSource) and isinstance(surveys, SurveySource)
    (mentor,) = roster.fetch()
    assert mentor.answers["Topics"] == ["python", "ml"] and mentor.answers["Email address"] == "dana@example.com"
    assert [(a.answers["token"], a.answers["satisfaction"]) for a in surveys.fetch()] == [("t1", "5"), ("t2", "2")]


def test_survey_errors_are_survey_errors(forms_emulator: FormsEmulator) -> None:
    forms_emulator.create_form("survey", ["token"])
    surveys = quick(
        build_google_surveys(
            settings_for(forms_emulator.url, surveys="google", survey_token_secret="a-real-secret-value-1234")
        )
    )
    forms_emulator.fail_next(503, times=4)
    with pytest.raises(SurveyError) as caught:
        surveys.fetch()
    assert isinstance(caught.value, TransientError)
    forms_emulator.fail_next(404)
    with pytest.raises(SurveyError) as refused:
        surveys.fetch()
    assert not isinstance(refused.value, TransientError)


# --- credentials and builders -----------------------------------------------------------------------------


def service_account_file(tmp_path: Path, token_uri: str = "https://oauth2.googleapis.com/token") -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path / "sa.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "p",
                "private_key_id": "k",
                "private_key": pem,
                "client_email": "mentorflow@p.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_uri,
            }
        )
    )
    return path


def test_service_account_acts_as_the_subject_with_narrow_scopes(tmp_path: Path) -> None:
    settings = Settings(google_credentials_file=service_account_file(tmp_path), google_subject="lead@example.org")
    credentials = load_credentials(settings, CALENDAR_SCOPES)
    assert credentials._subject == "lead@example.org"  # type: ignore[attr-defined]
    assert tuple(credentials.scopes) == CALENDAR_SCOPES  # type: ignore[attr-defined]


def test_oauth_user_token_file(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_text(
        json.dumps({"type": "authorized_user", "client_id": "c", "client_secret": "s", "refresh_token": "r"})
    )
    credentials = load_credentials(Settings(google_credentials_file=path), FORMS_SCOPES)
    assert tuple(credentials.scopes) == FORMS_SCOPES  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("content", "subject", "names"),
    [
        (None, None, "MENTORFLOW_GOOGLE_CREDENTIALS_FILE"),
        ("not json", None, "MENTORFLOW_GOOGLE_CREDENTIALS_FILE"),
        ('{"type": "external_account"}', None, "MENTORFLOW_GOOGLE_CREDENTIALS_FILE"),
        ('{"type": "authorized_user", "client_id": "c"}', None, "MENTORFLOW_GOOGLE_CREDENTIALS_FILE"),
        ("service-account", None, "MENTORFLOW_GOOGLE_SUBJECT"),
    ],
)
def test_bad_credentials_name_the_setting(tmp_path: Path, content: str | None, subject: str | None, names: str) -> None:
    path = tmp_path / "creds.json"
    if content == "service-account":
        path = service_account_file(tmp_path)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ConfigurationError, match=names) as caught:
        load_credentials(Settings(google_credentials_file=path, google_subject=subject), FORMS_SCOPES)
    assert "BEGIN PRIVATE KEY" not in str(caught.value)


def test_a_key_refused_by_the_token_endpoint_is_a_configuration_error(
    tmp_path: Path, google_emulator: GoogleEmulator
) -> None:
    google_emulator.create_form("mentees", ["Full name"])
    path = service_account_file(tmp_path, token_uri=google_emulator.url + "/token")
    settings = settings_for(google_emulator.url, google_credentials_file=path, google_subject="lead@example.org")
    google_emulator.refuse_tokens = "invalid_grant"
    for check in (
        build_google_calendar(settings).check_credentials,
        build_google_intake(settings).check_credentials,
        lambda: build_google_intake(settings).fetch(None),
    ):
        with pytest.raises(ConfigurationError) as caught:
            check()
        message = str(caught.value)
        assert "MENTORFLOW_GOOGLE_CREDENTIALS_FILE" in message and "MENTORFLOW_GOOGLE_SUBJECT" in message
        assert "invalid_grant" in message and "lead@example.org" not in message
        assert isinstance(caught.value.__cause__, RefreshError)
    google_emulator.refuse_tokens = None  # a good key: one cheap call each, and the token is used
    build_google_calendar(settings).check_credentials()
    build_google_intake(settings).check_credentials()
    assert google_emulator.counts["freebusy.query"] == 1 and google_emulator.counts["forms.get"] == 1
    assert all(
        {k.lower(): v for k, v in r.headers.items()}.get("authorization") == "Bearer ya29.emulator"
        for op, r in google_emulator.requests
        if op in ("freebusy.query", "forms.get")
    )


def test_no_credentials_without_an_emulator_endpoint() -> None:
    with pytest.raises(ConfigurationError, match="MENTORFLOW_GOOGLE_CREDENTIALS_FILE"):
        load_credentials(Settings(), FORMS_SCOPES)


def test_builders_name_a_missing_form_id(forms_emulator: FormsEmulator) -> None:
    settings = Settings(intake="google", google_api_endpoint=forms_emulator.url)
    with pytest.raises(ConfigurationError, match="MENTORFLOW_GOOGLE_MENTEE_FORM_ID"):
        build_google_intake(settings)
    with pytest.raises(ConfigurationError, match="MENTORFLOW_GOOGLE_SURVEY_FORM_ID"):
        build_google_surveys(settings)


# --- Calendar -----------------------------------------------------------------------------------------------


def meeting(event_id: str = "c0ffee0123456789", hours: int = 50) -> CalendarEvent:
    start = datetime(2025, 3, 4, 18, 0, tzinfo=TZ) + timedelta(hours=hours)
    return CalendarEvent(
        event_id=event_id,
        summary="First meeting",
        description="Why this match: python",
        start=start,
        end=start + timedelta(hours=1),
        timezone="Asia/Jerusalem",
        organizer=Address(email="program@example.org", name="Program"),
        attendees=[Address(email="noa@example.com", name="Noa"), Address(email="dana@example.com", name="Dana")],
    )


def calendar(emulator: CalendarEmulator, sleep: Any = None, **options: Any) -> GoogleCalendar:
    built = build_google_calendar(settings_for(emulator.url, **options))
    built.client.sleep = sleep or (lambda _s: None)
    return built


def test_create_sends_the_event_google_needs(calendar_emulator: CalendarEmulator) -> None:
    cal = calendar(calendar_emulator)
    assert isinstance(cal, Calendar)
    event = meeting()
    ref = cal.create(event)
    stored = calendar_emulator.events()[event.event_id]
    assert ref.event_id == event.event_id and ref.link == stored["htmlLink"] and ref.ics is None
    assert [a["email"] for a in stored["attendees"]] == ["noa@example.com", "dana@example.com"]
    assert stored["start"] == {"dateTime": event.start.isoformat(), "timeZone": "Asia/Jerusalem"}
    assert stored["description"] == event.description
    assert stored["reminders"]["useDefault"] is False and stored["reminders"]["overrides"]
    assert stored["conferenceData"]["createRequest"]["requestId"] == f"{event.event_id}-meet"
    assert stored["hangoutLink"].startswith("https://meet.google.com/")
    assert calendar_emulator.notifications == [("insert", event.event_id, "all")]
    assert cal.invitation(event) is None


def test_create_twice_returns_the_existing_event(calendar_emulator: CalendarEmulator) -> None:
    cal = calendar(calendar_emulator)
    first, second = cal.create(meeting()), cal.create(meeting())
    assert first == second
    assert calendar_emulator.counts["events.insert"] == 2 and calendar_emulator.counts["events.get"] == 1
    assert len(calendar_emulator.events()) == 1


def test_a_5xx_after_the_event_was_stored_is_recovered(calendar_emulator: CalendarEmulator) -> None:
    slept, sleep = sleeps()
    cal = calendar(calendar_emulator, sleep=sleep)
    calendar_emulator.fail_next(500, after=True, operation="events.insert")
    ref = cal.create(meeting())
    assert ref.link == calendar_emulator.events()[ref.event_id]["htmlLink"]
    assert len(calendar_emulator.events()) == 1 and len(slept) == 1
    # googleapiclient's retry met a 409 (the first attempt got through): the event is read back once
    assert calendar_emulator.counts["events.insert"] == 2 and calendar_emulator.counts["events.get"] == 1


def test_a_timeout_after_the_event_was_stored_is_recovered(calendar_emulator: CalendarEmulator) -> None:
    slept, sleep = sleeps()
    cal = build_google_calendar(settings_for(calendar_emulator.url).model_copy(update={"http_timeout_seconds": 0.2}))
    cal.client.sleep = sleep
    calendar_emulator.slow_next(0.5, operation="events.insert")
    ref = cal.create(meeting())
    assert list(calendar_emulator.events()) == [ref.event_id] and len(slept) == 1


def test_a_persistent_5xx_leaves_the_outcome_unknown(calendar_emulator: CalendarEmulator) -> None:
    slept, sleep = sleeps()
    cal = calendar(calendar_emulator, sleep=sleep)
    calendar_emulator.fail_next(503, times=4, operation="events.insert")
    with pytest.raises(OutcomeUnknown) as caught:
        cal.create(meeting())
    assert isinstance(caught.value, CalendarError) and not caught.value.task_may_retry
    assert len(slept) == 3 and calendar_emulator.counts["events.insert"] == 4
    assert cal.lookup(meeting().event_id) is Presence.ABSENT


def test_a_refused_event_is_a_calendar_error(calendar_emulator: CalendarEmulator) -> None:
    event = meeting()
    backwards = event.model_copy(update={"end": event.start - timedelta(hours=1)})
    with pytest.raises(CalendarError, match="timeRangeEmpty") as caught:
        calendar(calendar_emulator).create(backwards)
    assert not isinstance(caught.value, TransientError)


def test_lookup(calendar_emulator: CalendarEmulator) -> None:
    cal = calendar(calendar_emulator)
    assert cal.lookup("c0ffee0123456789") is Presence.ABSENT
    cal.create(meeting())
    assert cal.lookup("c0ffee0123456789") is Presence.DONE
    calendar_emulator.cancel("c0ffee0123456789")  # someone deleted it: Google keeps it, cancelled
    assert cal.lookup("c0ffee0123456789") is Presence.ABSENT


def test_a_cancelled_event_is_restored_under_its_id(calendar_emulator: CalendarEmulator) -> None:
    cal = calendar(calendar_emulator)
    first = cal.create(meeting())
    calendar_emulator.cancel(first.event_id)
    again = cal.create(meeting())  # insert → 409 (the id stays taken), get → cancelled, update → confirmed
    stored = calendar_emulator.events()[first.event_id]
    assert stored["status"] == "confirmed" and again.event_id == first.event_id
    assert again.video_link == first.video_link  # the same Meet room
    assert cal.lookup(first.event_id) is Presence.DONE
    assert ("update", first.event_id, "all") in calendar_emulator.notifications  # both people are told again


def test_busy_reads_freebusy_and_skips_calendars_it_cannot_see(calendar_emulator: CalendarEmulator) -> None:
    cal = calendar(calendar_emulator)
    block = (datetime(2025, 3, 5, 9, tzinfo=UTC), datetime(2025, 3, 5, 10, tzinfo=UTC))
    calendar_emulator.add_busy("dana@example.com", *block)
    start = datetime(2025, 3, 5, tzinfo=UTC)
    assert cal.busy(start, start + timedelta(days=1), ["dana@example.com", "stranger@example.com"]) == [block]


def test_changes_come_from_one_list_call_per_read(calendar_emulator: CalendarEmulator) -> None:
    cal = calendar(calendar_emulator)
    now = datetime(2025, 3, 1, tzinfo=UTC)
    for n in range(3):
        cal.create(meeting(f"c0ffee{n:010d}", hours=50 + 2 * n))
    first = cal.changes(None, now)  # no position yet: every upcoming event
    assert sorted(c.event_id for c in first.changes) == [f"c0ffee{n:010d}" for n in range(3)]
    assert cal.changes(first.position, now).changes == []  # nothing changed since

    calendar_emulator.respond("c0ffee0000000001", "dana@example.com", "declined")
    calendar_emulator.cancel("c0ffee0000000002")
    later = cal.changes(first.position, now)
    by_id = {c.event_id: c for c in later.changes}
    assert sorted(by_id) == ["c0ffee0000000001", "c0ffee0000000002"]
    assert by_id["c0ffee0000000001"].responses == {"noa@example.com": "needsAction", "dana@example.com": "declined"}
    assert by_id["c0ffee0000000002"].cancelled
    assert calendar_emulator.counts["events.list"] == 3 and calendar_emulator.counts["events.get"] == 0


def test_an_expired_sync_token_falls_back_to_a_full_read(calendar_emulator: CalendarEmulator) -> None:
    cal = calendar(calendar_emulator)
    now = datetime(2025, 3, 1, tzinfo=UTC)
    cal.create(meeting())
    position = cal.changes(None, now).position
    calendar_emulator.expire_sync_tokens()
    calendar_emulator.counts.clear()
    again = cal.changes(position, now)  # 410 fullSyncRequired → every upcoming event, and a new token
    assert [c.event_id for c in again.changes] == [meeting().event_id]
    assert again.position != position and calendar_emulator.counts["events.list"] == 2
    assert cal.changes(again.position, now).changes == []


def test_busy_of_many_people_takes_one_query_per_50(calendar_emulator: CalendarEmulator) -> None:
    cal = calendar(calendar_emulator)
    start = datetime(2025, 3, 5, tzinfo=UTC)
    end = start + timedelta(days=15)
    people = [f"p{n}@example.com" for n in range(120)]
    for email in people:
        calendar_emulator.add_busy(email, start + timedelta(hours=1), start + timedelta(hours=2))
    cal.prefetch_busy(start, end, people)
    assert calendar_emulator.counts["freebusy.query"] == 3  # ⌈120/50⌉
    assert cal.busy(start, end, people[:2]) == [(start + timedelta(hours=1), start + timedelta(hours=2))] * 2
    created = cal.create(meeting().model_copy(update={"attendees": [Address(email="p7@example.com")]}))
    assert created and (meeting().start, meeting().end) in cal.busy(start, end, ["p7@example.com"])
    assert calendar_emulator.counts["freebusy.query"] == 3  # answered from what was read, plus its own event
    cal.busy(start, end, ["someone-else@example.com"])
    assert calendar_emulator.counts["freebusy.query"] == 4


def test_move_patches_the_same_event(calendar_emulator: CalendarEmulator) -> None:
    cal = calendar(calendar_emulator)
    created = cal.create(meeting())
    later = meeting(hours=74)
    moved = cal.move(created.event_id, later.start, later.end, "Asia/Jerusalem")
    stored = calendar_emulator.events()[created.event_id]
    assert moved == created
    assert stored["start"]["dateTime"] == later.start.isoformat() and stored["sequence"] == 1
    assert stored["conferenceData"]["conferenceId"]  # same Meet room
    assert calendar_emulator.counts["events.insert"] == 1 and calendar_emulator.counts["events.patch"] == 1
    assert ("patch", created.event_id, "all") in calendar_emulator.notifications
    with pytest.raises(CalendarError):
        cal.move("abcdefabcdef", later.start, later.end, "Asia/Jerusalem")


def test_calendar_faults_on_a_share_of_requests_leave_one_event_per_id(calendar_emulator: CalendarEmulator) -> None:
    cal = calendar(calendar_emulator)
    calendar_emulator.fail_share(
        0.4, lambda rng: Fault(status=rng.choice([500, 503, 429]), after=rng.random() < 0.5), seed=11
    )
    ids = [f"{n:05d}abcdef" for n in range(30)]
    for event_id in ids:
        for _ in range(10):  # what the ledger and task retries do: look up, create only when absent
            try:
                if cal.lookup(event_id) is Presence.ABSENT:
                    cal.create(meeting(event_id))
                break
            except TransientError:  # anything else (a 409 leaking out, say) fails the test
                continue
        else:
            pytest.fail("an event never got created")
    calendar_emulator.clear_faults()
    events = calendar_emulator.events()
    assert calendar_emulator.faults_served >= 20
    assert calendar_emulator.counts["events.insert"] > len(ids)  # repeats happened, and became 409s
    assert sorted(events) == sorted(ids)  # exactly one event per id, no stray ids
    assert all(len(e["attendees"]) == 2 for e in events.values())


def test_one_endpoint_serves_forms_and_calendar(google_emulator: GoogleEmulator) -> None:
    google_emulator.seed("mentees", MENTEE_QUESTIONS, [answers("Noa", "noa@example.com")])
    settings = settings_for(google_emulator.url)
    assert len(build_google_intake(settings).fetch(None).responses) == 1
    build_google_calendar(settings).create(meeting())
    assert list(google_emulator.events()) == [meeting().event_id]
    google_emulator.fail_next(409, operation="events.insert")
    assert build_google_calendar(settings).create(meeting()).event_id == meeting().event_id


def test_the_task_layer_does_not_repeat_the_connectors_retries(calendar_emulator: CalendarEmulator) -> None:
    """One retry layer: 4 inserts at most per run (it was 4 connector attempts × 4 task attempts = 16)."""
    from prefect.states import Failed

    from connectors.base import MailUnavailable
    from tasks.common import retry_if_transient

    calendar_emulator.fail_next(503, times=4, operation="events.insert")
    with pytest.raises(OutcomeUnknown) as caught:
        calendar(calendar_emulator).create(meeting())
    assert calendar_emulator.counts["events.insert"] == 4
    assert retry_if_transient(None, None, Failed(data=caught.value)) is False  # type: ignore[arg-type]
    assert retry_if_transient(None, None, Failed(data=MailUnavailable("503"))) is True  # type: ignore[arg-type]

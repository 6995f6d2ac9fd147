"""Intake validation: form answers and roster records become models, or are set aside with every reason."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from pydantic import EmailStr, TypeAdapter, ValidationError

from config import CONFIG_DIR, SAMPLES_DIR
from config.rules import load_rules
from domain.fields import parse_availability, parse_email, parse_timestamp, parsed_emails
from domain.followup import survey_token
from domain.intake import parse_mentee, parse_mentor, parse_survey_answer
from domain.models import MenteeApplication, Mentor, RawResponse, Role, SetAside, SurveyAnswer, Weekday, WeeklyWindow
from domain.rules import ProgramRules

TZ = "Asia/Jerusalem"
JERUSALEM = ZoneInfo(TZ)


@pytest.fixture(scope="module")
def rules() -> ProgramRules:
    return load_rules(CONFIG_DIR / "program.yaml")


def good_answers(**overrides: str | list[str]) -> dict[str, str | list[str]]:
    answers: dict[str, str | list[str]] = {
        "Timestamp": "2026-11-20T10:15:32+02:00",
        "Full name": "Dana Example",
        "Email address": "Dana.Example@Example.org",
        "Preferred languages": "English, עברית",
        "Topics (most important first)": "Python; oss",
        "Career stage": "Junior",
        "Goals": "- learn testing\n- contribute upstream",
        "Weekly availability": "Tue 18:00-20:00; Thu 19:00-21:00",
        "May we contact you?": "Yes",
    }
    answers.update(overrides)
    return answers


def mentee(
    rules: ProgramRules, submitted_at: datetime | None = None, **overrides: str | list[str]
) -> MenteeApplication | SetAside:
    raw = RawResponse(source="test", ref="row 2", submitted_at=submitted_at, answers=good_answers(**overrides))
    return parse_mentee(raw, rules, TZ)


def reasons(result: object) -> list[str]:
    assert isinstance(result, SetAside), result
    return result.reasons


# --- mentees ---------------------------------------------------------------------------------------------------


def test_a_good_answer_becomes_an_application(rules: ProgramRules) -> None:
    app = mentee(rules)
    assert isinstance(app, MenteeApplication)
    assert app.email == "dana.example@example.org"
    assert app.languages == ["en", "he"]
    assert app.topics == ["python", "open-source"]
    assert app.career_stage == 1
    assert app.response_id == "test#row 2"
    assert app.submitted_at == datetime(2026, 11, 20, 8, 15, 32, tzinfo=UTC)
    assert app.consent_contact is True and app.consent_quote is False
    assert app.goals.startswith("- learn testing")  # a bullet is not a formula


def test_every_problem_is_reported_at_once_without_personal_data(rules: ProgramRules) -> None:
    result = mentee(
        rules,
        **{
            "Full name": "Dana\x00Example",
            "Email address": "secret.person(at)example.org",
            "Topics (most important first)": "Python, Cobol",
            "Preferred languages": "Klingon",
            "Weekly availability": "Funday 9-10",
            "Career stage": "wizard",
            "May we contact you?": "no",
        },
    )
    assert reasons(result) == [
        "consent_contact: the form must allow contact",
        "name: contains control characters",
        "email: not a valid address",
        "languages: the answer: not a language this program knows (e.g. he, en)",
        "topics: item 2 of 2: not a topic of the program (see the topic list in the form)",
        "career_stage: unknown stage (a number 0-4 or one of: Student / career changer, Junior, Mid-level, "
        "Senior, Staff / leader)",
        "availability: the answer does not start with a day of the week (e.g. 'Tue 18:00-20:00')",
    ]
    for personal in ("secret.person", "Cobol", "Klingon", "Funday", "wizard"):
        assert not any(personal in r for r in reasons(result))


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("Full name", "", "name: missing"),
        ("Full name", "x" * 121, "name: too long (121 characters, at most 120)"),
        ("Goals", "y" * 2001, "goals: too long (2001 characters, at most 2000)"),
        ("Full name", "\u200b\u200f \u2060", "name: has no visible characters"),
        ("Full name", "Dana\x1bExample", "name: contains control characters"),
        ("Goals", "learn\x07 testing", "goals: contains control characters"),
        (
            "Weekly availability",
            "Saturday 10-14",
            "availability: only on Shabbat (Friday evening or Saturday), when no meetings are held",
        ),
        (
            "Weekly availability",
            "Fri 18-22; Sat 20-22",
            "availability: only on Shabbat (Friday evening or Saturday), when no meetings are held",
        ),
        ("Weekly availability", "Tue 18:00-18:30", "availability: no window is long enough for a 60-minute meeting"),
        ("Timestamp", "2099-01-01T10:00:00+02:00", "timestamp: in the future (a wrong clock or a mistyped date)"),
        ("Email address", "", "email: missing"),
        ("Email address", "dana@", "email: not a valid address"),
        ("Topics (most important first)", "", "topics: missing"),
        ("Preferred languages", [], "languages: missing"),
        ("Career stage", "7", "career_stage: must be 0-4"),
        ("May we contact you?", "", "consent_contact: the form must allow contact"),
        ("May we contact you?", "maybe later", "consent_contact: not a yes/no answer"),
        ("May we quote your feedback?", "perhaps", "consent_quote: not a yes/no answer"),
        ("Continue with a former mentor (email)", "not-an-email", "continue_with: not a valid address"),
        ("Timestamp", "yesterday-ish", "timestamp: not a date and time this program can read"),
    ],
)
def test_one_bad_field_gives_one_specific_reason(rules: ProgramRules, field: str, value: str, reason: str) -> None:
    assert reasons(mentee(rules, **{field: value})) == [reason]


def test_each_email_is_validated_once_and_bad_ones_are_still_refused(
    rules: ProgramRules, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parser's email_validator call is the only one per address (issue #12); the model keeps EmailStr's
    check for every caller that did not just parse the address, and bad addresses are set aside as before."""
    import email_validator

    import domain.fields

    calls: list[str] = []
    real = email_validator.validate_email

    def counting(value: str, **kwargs: object) -> object:
        calls.append(value)
        return real(value, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(email_validator, "validate_email", counting)  # pydantic's EmailStr
    monkeypatch.setattr(domain.fields, "validate_email", counting)  # our parser
    answer = {"Continue with a former mentor (email)": "mailto:Noa@Example.ORG"}
    app = mentee(rules, **answer)
    assert isinstance(app, MenteeApplication)
    assert (app.email, app.continue_with) == ("dana.example@example.org", "noa@example.org")
    assert len(calls) == 2
    # without the parser's context (a stored application read back, a test, a hand-built one) the model checks
    calls.clear()
    assert MenteeApplication.model_validate(app.model_dump(mode="json")) == app
    assert len(calls) == 2
    data = app.model_dump(mode="json") | {"email": "dana@"}
    with pytest.raises(ValidationError):
        MenteeApplication.model_validate(data)
    with pytest.raises(ValidationError):  # a context that names other addresses spares none of these
        MenteeApplication.model_validate(data, context=parsed_emails("dana.example@example.org"))
    assert reasons(mentee(rules, **{"Email address": "dana@"})) == ["email: not a valid address"]


@pytest.mark.parametrize(
    "text",
    [
        "Dana.Example@Example.org",
        " mailto:dana+mentoring@Sub.Example.CO.IL ",
        "o'brien_x-y@mail.example.com",
        "DANA@EXAMPLE.ORG",
        "דנה@דוגמה.ישראל",
        "Zoë@Bücher.example",
    ],
)
def test_an_email_spared_a_second_check_is_what_the_check_returns(rules: ProgramRules, text: str) -> None:
    """What the model holds when the parser's check spares its own (ASCII addresses) is EmailStr's result."""
    app = mentee(rules, **{"Email address": text})
    assert isinstance(app, MenteeApplication)
    assert app.email == TypeAdapter(EmailStr).validate_python(parse_email(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes", True),
        ("כן", True),
        ("true", True),
        ("I agree to be contacted", True),
        ("מאשר/ת", True),
        ("No", False),
        ("לא", False),
        ("false", False),
        ("I do not agree", False),
    ],
)
def test_consent_answers(rules: ProgramRules, text: str, expected: bool) -> None:
    result = mentee(rules, **{"May we quote your feedback?": text})
    assert isinstance(result, MenteeApplication)
    assert result.consent_quote is expected


def test_the_newsletter_is_its_own_consent_read_from_the_form(rules: ProgramRules) -> None:
    """Opting in to the newsletter is a separate question; no answer means no newsletter."""
    opted = mentee(rules, **{"Send me the newsletter?": "yes"})
    silent = mentee(rules)
    he = mentee(rules, **{"לשלוח לי את הניוזלטר?": "לא"})
    assert isinstance(opted, MenteeApplication) and opted.newsletter is True
    assert isinstance(silent, MenteeApplication) and silent.newsletter is False
    assert isinstance(he, MenteeApplication) and he.newsletter is False


def test_languages_and_topics_accept_codes_labels_aliases_and_lists(rules: ProgramRules) -> None:
    app = mentee(
        rules,
        **{
            "Preferred languages": ["Hebrew", "he", "English"],
            "Topics (most important first)": ["קוד פתוח", "Python", "py", "ci/cd"],
        },
    )
    assert isinstance(app, MenteeApplication)
    assert app.languages == ["he", "en"]
    assert app.topics == ["open-source", "python", "devops"]  # ranked order kept, duplicates dropped


def test_titles_match_after_trimming_and_case_folding_and_unknown_columns_are_ignored(rules: ProgramRules) -> None:
    answers = {f"  {k.upper()} ": v for k, v in good_answers().items()} | {"Favourite colour": "=evil()"}
    app = parse_mentee(RawResponse(source="s", ref="r", answers=answers), rules, TZ)
    assert isinstance(app, MenteeApplication)
    assert app.name == "Dana Example"


def test_response_id_column_wins_and_timestamp_falls_back_to_the_source(rules: ProgramRules) -> None:
    at = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    answers = good_answers(**{"Response ID": "ACYDB-1"})
    del answers["Timestamp"]
    app = parse_mentee(RawResponse(source="forms:F", ref="7", submitted_at=at, answers=answers), rules, TZ)
    assert isinstance(app, MenteeApplication)
    assert (app.response_id, app.submitted_at) == ("ACYDB-1", at)
    answers.pop("Response ID")
    assert reasons(parse_mentee(RawResponse(source="s", ref="r", answers=answers), rules, TZ)) == [
        "timestamp: missing (neither the form nor the source gives one)"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026/11/20 10:15:32 AM GMT+2", datetime(2026, 11, 20, 8, 15, 32, tzinfo=UTC)),
        ("2026/11/20 10:15:32 PM GMT+02:00", datetime(2026, 11, 20, 20, 15, 32, tzinfo=UTC)),
        ("11/20/2026 10:15:32", datetime(2026, 11, 20, 10, 15, 32, tzinfo=JERUSALEM)),
        ("20/11/2026 10:15:32", datetime(2026, 11, 20, 10, 15, 32, tzinfo=JERUSALEM)),
        ("2026-11-20T10:15:32Z", datetime(2026, 11, 20, 10, 15, 32, tzinfo=UTC)),
        ("2026-11-20 10:15:32", datetime(2026, 11, 20, 10, 15, 32, tzinfo=JERUSALEM)),
        ("2026-07-20T10:15:32", datetime(2026, 7, 20, 7, 15, 32, tzinfo=UTC)),  # summer time: UTC+3
    ],
)
def test_timestamps(text: str, expected: datetime) -> None:
    parsed = parse_timestamp(text, TZ)
    assert parsed == expected and parsed.tzinfo is not None


# --- availability ----------------------------------------------------------------------------------------------


def w(day: Weekday, start: str, end: str) -> WeeklyWindow:
    return WeeklyWindow(day=day, start=time.fromisoformat(start), end=time.fromisoformat(end))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Tue 18:00-20:00; Thu 19:00-21:00", [w(Weekday.TUE, "18:00", "20:00"), w(Weekday.THU, "19:00", "21:00")]),
        ("Tuesday 18-20", [w(Weekday.TUE, "18:00", "20:00")]),
        ("יום שלישי 18:00–20:00\nחמישי 9-11", [w(Weekday.TUE, "18:00", "20:00"), w(Weekday.THU, "09:00", "11:00")]),
        ("ראשון 9-11, 20:30-22", [w(Weekday.SUN, "09:00", "11:00"), w(Weekday.SUN, "20:30", "22:00")]),
        ("sun: 20-24", [w(Weekday.SUN, "20:00", "23:59")]),
        ("Mon 18.30-20.00; mon 18:30-20:00", [w(Weekday.MON, "18:30", "20:00")]),
    ],
)
def test_availability_formats(text: str, expected: list[WeeklyWindow]) -> None:
    assert parse_availability(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("whenever", "the answer names no day, part of day or time"),
        ("Tue", "the answer has no time range after the day"),
        ("Tue 18:00-20:00; Funday 9-10", "piece 2 of 2 does not start with a day of the week"),
        ("Tue soon", "the answer has a time range that is not like 18:00-20:00"),
        ("Tue 20-18", "the answer has a time range that ends before it starts"),
        ("Tue 18-25", "the answer has an hour outside 00:00-24:00"),
        ("  ;  ", "no time window given"),
    ],
)
def test_availability_errors_say_where(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message):
        parse_availability(text)


@given(st.lists(st.tuples(st.sampled_from(list(Weekday)), st.integers(0, 22), st.integers(1, 4)), min_size=1))
def test_availability_reads_back_what_label_writes(items: list[tuple[Weekday, int, int]]) -> None:
    windows = {WeeklyWindow(day=d, start=time(h), end=time(min(h + n, 23))) for d, h, n in items}
    assert parse_availability("; ".join(x.label() for x in windows)) == sorted(
        windows, key=lambda x: (x.day, x.start, x.end)
    )


# --- mentors ---------------------------------------------------------------------------------------------------


def roster_record(**overrides: str | list[str]) -> RawResponse:
    answers: dict[str, str | list[str]] = {
        "name": "Avi Example",
        "email": "avi@example.com",
        "expertise": ["python", "DevOps"],
        "years": "12",
        "languages": ["he"],
        "availability": ["Sun 18:00-20:00"],
        "booking_url": "https://cal.example.com/avi",
    }
    answers.update(overrides)
    return RawResponse(source="roster:test", ref="mentor 1", answers=answers)


def test_mentor_defaults_and_status_words(rules: ProgramRules) -> None:
    mentor = parse_mentor(roster_record(active="paused"), rules)
    assert isinstance(mentor, Mentor)
    assert (mentor.capacity, mentor.career_stage, mentor.active) == (1, 4, False)
    assert mentor.expertise == ["python", "devops"]
    available = parse_mentor(roster_record(active="available", capacity="3", career_stage="3"), rules)
    assert isinstance(available, Mentor) and (available.active, available.capacity, available.career_stage) == (
        True,
        3,
        3,
    )


def test_mentor_problems_are_collected(rules: ProgramRules) -> None:
    result = parse_mentor(
        roster_record(
            email="nope",
            expertise="Cobol",
            capacity="lots",
            years="200",
            booking_url="javascript:alert(1)",
            active="sometimes",
        ),
        rules,
    )
    assert reasons(result) == [
        "booking_url: not an http(s) link",
        "email: not a valid address",
        "years: must be 0-70",
        "capacity: not a whole number",
        "active: not a yes/no answer",
    ]  # an expertise phrase that maps to no topic ("Cobol") is never a reason


# --- survey answers --------------------------------------------------------------------------------------------


def test_survey_answer_is_identified_by_its_token() -> None:
    raw = RawResponse(
        source="surveys",
        ref="row 2",
        answers={
            "token": survey_token(42, Role.MENTOR, "s3cret", datetime(2026, 12, 14, tzinfo=UTC)),
            "timestamp": "2026-11-30T10:00:00+02:00",
            "satisfaction": "4",
            "met": "yes",
            "still_in_touch": "כן",
            "adopted_idea": "no",
            "free_text": "Great talk",
            "consent_quote": "yes",
        },
    )
    answer = parse_survey_answer(raw, "s3cret", TZ)
    assert isinstance(answer, SurveyAnswer)
    assert (answer.match_id, answer.role, answer.satisfaction, answer.met, answer.adopted_idea) == (
        42,
        Role.MENTOR,
        4,
        True,
        False,
    )
    assert answer.submitted_at == datetime(2026, 11, 30, 10, tzinfo=JERUSALEM) + timedelta(0)


def test_survey_answer_with_a_forged_token_or_bad_score_is_set_aside() -> None:
    raw = RawResponse(
        source="surveys",
        ref="row 3",
        answers={
            "token": survey_token(42, Role.MENTOR, "other-secret", datetime(2026, 12, 14, tzinfo=UTC)),
            "timestamp": "2026-11-30T10:00:00+02:00",
            "satisfaction": "7",
            "met": "yes",
            "still_in_touch": "yes",
            "adopted_idea": "",
            "free_text": "",
        },
    )
    assert reasons(parse_survey_answer(raw, "s3cret", TZ)) == [
        "token: not a valid survey link",
        "satisfaction: must be 1-5",
        "adopted_idea: missing",
    ]


def test_a_survey_answer_without_a_score_is_kept_as_a_partial_answer() -> None:
    """Issue #10 (the lead's minutes): an answer that skipped the satisfaction score (say, "we did not meet") was set
    aside as a whole, a fix-it for the lead; what it does say (met, still in touch) now counts."""
    from domain.followup import survey_summary

    raw = RawResponse(
        source="surveys",
        ref="row 4",
        answers={
            "token": survey_token(42, Role.MENTEE, "s3cret", datetime(2026, 12, 14, tzinfo=UTC)),
            "timestamp": "2026-11-30T10:00:00+02:00",
            "satisfaction": "",
            "met": "no",
            "still_in_touch": "no",
            "adopted_idea": "no",
        },
    )
    answer = parse_survey_answer(raw, "s3cret", TZ)
    assert isinstance(answer, SurveyAnswer) and answer.satisfaction is None and answer.met is False
    summary = survey_summary([answer])
    assert summary["answers"] == 1 and summary["met_pct"] == 0.0 and summary["satisfaction_avg"] is None


# --- the sample data -------------------------------------------------------------------------------------------


def sample_mentee_responses() -> list[RawResponse]:
    """The sample exports read the way a form export is read: CSV rows numbered as a spreadsheet shows them."""
    out = []
    with (SAMPLES_DIR / "mentees-he.csv").open(encoding="utf-8-sig", newline="") as fh:
        for n, row in enumerate(csv.DictReader(fh), start=2):
            out.append(RawResponse(source="mentees-he.csv", ref=f"row {n}", answers=row))
    for item in json.loads((SAMPLES_DIR / "mentees-en.json").read_text(encoding="utf-8")):
        answers = {
            k: v if isinstance(v, list) else str(v).lower() if isinstance(v, bool) else str(v) for k, v in item.items()
        }
        out.append(RawResponse(source="mentees-en.json", ref=item["Response ID"], answers=answers))
    return out


INTENDED_SET_ASIDE = {
    ("mentees-he.csv", "row 5"): ["email: not a valid address"],
    ("mentees-he.csv", "row 8"): ["topics: item 2 of 2: not a topic of the program (see the topic list in the form)"],
    ("mentees-he.csv", "row 14"): ["name: has no visible characters"],
    ("mentees-en.json", "ACYDBNj-en-03"): ["name: missing"],
    ("mentees-en.json", "ACYDBNj-en-06"): ["name: too long (400 characters, at most 120)"],
    ("mentees-en.json", "ACYDBNj-en-08"): [
        "availability: only on Shabbat (Friday evening or Saturday), when no meetings are held"
    ],
    ("mentees-en.json", "ACYDBNj-en-10"): ["consent_contact: the form must allow contact"],
}


def test_sample_mentees_parse_with_exactly_the_intended_rows_set_aside(rules: ProgramRules) -> None:
    raws = sample_mentee_responses()
    assert first_bytes(SAMPLES_DIR / "mentees-he.csv") == b"\xef\xbb\xbf"
    assert len(raws) >= 40
    parsed = [parse_mentee(r, rules, TZ) for r in raws]
    set_aside = {(p.source, p.ref): p.reasons for p in parsed if isinstance(p, SetAside)}
    assert set_aside == INTENDED_SET_ASIDE
    apps = [p for p in parsed if isinstance(p, MenteeApplication)]
    assert all(a.submitted_at.year == 2026 and a.submitted_at.month == 11 for a in apps)
    assert all(str(a.email).endswith(("@example.org", "@example.com")) for a in apps)
    # One person answered twice: the later answer (more topics, more time) is the one that counts.
    twice = sorted((a for a in apps if a.email == "avigail.raz@example.org"), key=lambda a: a.submitted_at)
    assert len(twice) == 2
    assert twice[-1].topics == ["frontend", "testing"] and len(twice[-1].availability) == 2
    assert len({a.email for a in apps}) == len(apps) - 1 >= 33


def first_bytes(path: Path) -> bytes:
    return path.read_bytes()[:3]


def test_sample_roster_parses_and_covers_the_program(rules: ProgramRules) -> None:
    entries = yaml.safe_load((SAMPLES_DIR / "mentors.yaml").read_text(encoding="utf-8"))
    raws = [
        RawResponse(
            source="roster",
            ref=f"mentor {n}",
            answers={k: [str(x) for x in v] if isinstance(v, list) else str(v) for k, v in e.items()},
        )
        for n, e in enumerate(entries, start=1)
    ]
    mentors = [parse_mentor(r, rules) for r in raws]
    assert all(isinstance(m, Mentor) for m in mentors), [m for m in mentors if isinstance(m, SetAside)]
    good = [m for m in mentors if isinstance(m, Mentor)]
    assert len(good) >= 12
    assert [m.active for m in good].count(False) == 1
    assert all(1 <= m.capacity <= 3 for m in good)
    assert {"he", "en"} <= {lang for m in good for lang in m.languages}
    covered = {t for m in good if m.active for t in m.expertise}
    assert "security" not in covered  # the sample's call for mentors
    assert all(str(m.email).endswith("@example.com") for m in good)

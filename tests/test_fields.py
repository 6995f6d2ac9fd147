"""The one set of field parsers: free-text availability, text checks, CSV cells, dates, and one behaviour for
intake and ``mentorflow match``."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config import CONFIG_DIR
from config.rules import load_rules
from domain.fields import meetable_problem, parse_availability, parse_timestamp, spreadsheet_cell, text_problem
from domain.intake import parse_mentee, parse_mentor
from domain.models import MenteeApplication, Mentor, RawResponse, SetAside, Weekday, WeeklyWindow
from domain.rules import ProgramRules
from mentorflow.standalone_match import MENTEE_COLUMNS, MENTOR_COLUMNS, read_mentees, read_mentors

TZ = "Asia/Jerusalem"
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
SUN_THU = [Weekday.SUN, Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU]


@pytest.fixture(scope="module")
def rules() -> ProgramRules:
    return load_rules(CONFIG_DIR / "program.yaml")


def days(windows: list[WeeklyWindow]) -> set[Weekday]:
    return {w.day for w in windows}


def hours(windows: list[WeeklyWindow]) -> set[tuple[time, time]]:
    return {(w.start, w.end) for w in windows}


# --- free-text availability -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "weekdays", "span"),
    [
        ("כל ערב", SUN_THU, ("18:00", "22:00")),
        ("ערבים", SUN_THU, ("18:00", "22:00")),
        ("בערבים, בדרך כלל", SUN_THU, ("18:00", "22:00")),
        ("evenings", SUN_THU, ("18:00", "22:00")),
        ("weekday evenings", SUN_THU, ("18:00", "22:00")),
        ("Sun–Thu 18–21", SUN_THU, ("18:00", "21:00")),
        ("א׳-ה׳ 9-11", SUN_THU, ("09:00", "11:00")),
        ("ימי שלישי בערב", [Weekday.TUE], ("18:00", "22:00")),
        ("mornings before 9", SUN_THU, ("07:00", "09:00")),
        ("evenings after 8", SUN_THU, ("20:00", "22:00")),
        ("שלישי וחמישי אחרי 19", [Weekday.TUE, Weekday.THU], ("19:00", "21:00")),
        ("Tue 6pm to 8pm", [Weekday.TUE], ("18:00", "20:00")),
        ("בין 18 ל-21", SUN_THU, ("18:00", "21:00")),
        ("Sunday and Wednesday evenings", [Weekday.SUN, Weekday.WED], ("18:00", "22:00")),
        ("בבקרים", SUN_THU, ("08:00", "12:00")),
    ],
)
def test_free_text_availability(text: str, weekdays: list[Weekday], span: tuple[str, str]) -> None:
    windows = parse_availability(text)
    assert days(windows) == set(weekdays)
    assert hours(windows) == {(time.fromisoformat(span[0]), time.fromisoformat(span[1]))}


def test_parts_of_day_and_weekdays_come_from_the_rules(rules: ProgramRules) -> None:
    evening = rules.availability.parts_of_day["evening"].model_copy(update={"window": "19:00-23:00"})
    custom = rules.availability.model_copy(
        update={"parts_of_day": {**rules.availability.parts_of_day, "evening": evening}, "weekdays": [Weekday.MON]}
    )
    assert parse_availability("evenings", custom) == [WeeklyWindow(day=Weekday.MON, start=time(19), end=time(23))]


def test_structured_and_free_pieces_mix() -> None:
    windows = parse_availability("Tue 18:00-20:00; ערבים")
    assert WeeklyWindow(day=Weekday.TUE, start=time(18), end=time(20)) in windows
    assert len(windows) == 6


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Saturday mornings", "only on Shabbat"),
        ("שבת בבוקר", "only on Shabbat"),
        ("Fri 18-22", "only on Shabbat"),
        ('סופ"ש בערב', "only on Shabbat"),
        ("Tue 18:00-18:30", "no window is long enough for a 60-minute meeting"),
    ],
)
def test_impossible_availability(rules: ProgramRules, text: str, problem: str) -> None:
    found = meetable_problem(parse_availability(text), rules.scheduling)
    assert found is not None and found.startswith(problem)


def test_friday_morning_is_possible(rules: ProgramRules) -> None:
    assert meetable_problem(parse_availability("Fri 9-12; Sat 10-12"), rules.scheduling) is None


# --- text is checked for what it is ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "+972-50-1234567 (WhatsApp)",
        "Learn <React> hooks",
        "=SUM(A1)",
        "@dana",
        "- learn testing",
        "שלום\n<b>עולם</b>",
        "Dana\u200fExample",
    ],
)
def test_harmless_text_is_fine(text: str) -> None:
    assert text_problem(text, 200) is None


@pytest.mark.parametrize(
    ("text", "name", "problem"),
    [
        ("x" * 201, False, "too long (201 characters, at most 200)"),
        ("a\x00b", False, "contains control characters"),
        ("a\x1b[31mb", False, "contains control characters"),
        ("\u200b\u200f\u2060", True, "has no visible characters"),
    ],
)
def test_text_problems(text: str, name: bool, problem: str) -> None:
    assert text_problem(text, 200, name=name) == problem


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+972-50-1234567", "'+972-50-1234567"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Dana", "Dana"),
        ("", ""),
    ],
)
def test_spreadsheet_cells(cell: str, written: str) -> None:
    assert spreadsheet_cell(cell) == written


def form_answers(**overrides: str) -> dict[str, str | list[str]]:
    answers: dict[str, str | list[str]] = {
        "Timestamp": "2026-11-20T10:15:32+02:00",
        "Full name": "Dana Example",
        "Email address": "dana@example.org",
        "Preferred languages": "English",
        "Topics (most important first)": "Python",
        "Career stage": "Junior",
        "Weekly availability": "Tue 18:00-20:00",
        "May we contact you?": "Yes",
    }
    answers.update(overrides)
    return answers


def test_intake_accepts_phone_numbers_and_angle_brackets(rules: ProgramRules) -> None:
    app = parse_mentee(
        RawResponse(
            source="t",
            ref="1",
            answers=form_answers(
                **{"Goals": "Learn <React> hooks", "Accessibility needs": "+972-50-1234567 (WhatsApp)"}
            ),
        ),
        rules,
        TZ,
        NOW,
    )
    assert isinstance(app, MenteeApplication)
    assert (app.goals, app.accessibility_needs) == ("Learn <React> hooks", "+972-50-1234567 (WhatsApp)")


def test_reasons_do_not_quote_the_answer(rules: ProgramRules) -> None:
    secret = "Underwater basket weaving for my secret project"
    result = parse_mentee(
        RawResponse(
            source="t",
            ref="1",
            answers=form_answers(
                **{
                    "Topics (most important first)": f"Python; {secret}",
                    "Preferred languages": secret,
                    "Weekly availability": secret,
                }
            ),
        ),
        rules,
        TZ,
        NOW,
    )
    assert isinstance(result, SetAside)
    assert not any(word in r for r in result.reasons for word in ("basket", "secret", "Underwater"))


# --- dates ------------------------------------------------------------------------------------------------------


def test_hebrew_form_dates_are_day_first(rules: ProgramRules) -> None:
    he = parse_mentee(
        RawResponse(
            source="t",
            ref="1",
            answers={
                **{k: v for k, v in form_answers().items() if k != "Timestamp"},
                "חותמת זמן": "05/11/2026 10:00:00",
            },
        ),
        rules,
        TZ,
        NOW,
    )
    en = parse_mentee(
        RawResponse(source="t", ref="1", answers=form_answers(Timestamp="05/11/2026 10:00:00")), rules, TZ, NOW
    )
    assert isinstance(he, MenteeApplication) and isinstance(en, MenteeApplication)
    assert (he.submitted_at.month, he.submitted_at.day) == (11, 5)
    assert (en.submitted_at.month, en.submitted_at.day) == (5, 11)
    assert parse_timestamp("05/11/2026 10:00", TZ, day_first=True) == datetime(2026, 11, 5, 10, tzinfo=ZoneInfo(TZ))


def test_a_future_timestamp_is_set_aside(rules: ProgramRules) -> None:
    ahead = parse_mentee(
        RawResponse(source="t", ref="1", answers=form_answers(Timestamp="2026-12-24T10:00:00")), rules, TZ, NOW
    )
    assert isinstance(ahead, SetAside)
    assert ahead.reasons == ["timestamp: in the future (a wrong clock or a mistyped date)"]
    answers = {k: v for k, v in form_answers().items() if k != "Timestamp"}
    from_source = parse_mentee(
        RawResponse(source="t", ref="1", submitted_at=datetime(2027, 1, 1, tzinfo=UTC), answers=answers), rules, TZ, NOW
    )
    assert isinstance(from_source, SetAside) and from_source.reasons[0].startswith("timestamp: in the future")
    # a few minutes of clock skew are not the future
    skew = parse_mentee(
        RawResponse(source="t", ref="1", answers=form_answers(Timestamp="2026-12-01T14:05:00+02:00")), rules, TZ, NOW
    )
    assert isinstance(skew, MenteeApplication)


# --- mentorflow match and intake accept and reject the same values -------------------------------------------

MENTEE_VALUES = {
    "topics": ["Python, Backend", "python; career", "פייתון", "קוד פתוח", "basket weaving", "Python, Cobol", ""],
    "languages": ["he", "Hebrew", "עברית, English", "ar", "Klingon", ""],
    "career_stage": ["1", "Junior", "7", "wizard"],
    "availability": [
        "Tue 19:00-21:00",
        "ראשון 19:00-21:00; שלישי 19-21",
        "כל ערב",
        "Sun–Thu 18–21",
        "Saturday 10-14",
        "Funday 18:00-20:00",
        "Tue 18:00-18:30",
        "",
    ],
    "name": ["Lior A", '=HYPERLINK("x")', "+972 Dana", "\u200b\u200f", "a\x00b"],
    "email": ["lior@example.org", "not-an-email"],
}
GOOD_MENTEE = {
    "id": "m1",
    "name": "Lior A",
    "email": "lior@example.org",
    "languages": "he",
    "topics": "python",
    "career_stage": "1",
    "availability": "Tue 19:00-21:00",
    "previous_mentors": "",
    "continue_with": "",
    "waiting_since": "2026-11-20",
}
FORM_TITLE = {
    "topics": "Topics (most important first)",
    "languages": "Preferred languages",
    "career_stage": "Career stage",
    "availability": "Weekly availability",
    "name": "Full name",
    "email": "Email address",
}


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize(("field", "value"), [(f, v) for f, vs in MENTEE_VALUES.items() for v in vs])
def test_match_command_and_intake_agree_on_mentee_fields(
    rules: ProgramRules, tmp_path: Path, field: str, value: str
) -> None:
    problems: list[str] = []
    sheet = write_csv(tmp_path / "mentees.csv", MENTEE_COLUMNS, [{**GOOD_MENTEE, field: value}])
    standalone = read_mentees(sheet, rules, problems, NOW)
    answers = form_answers(
        **{
            "Full name": "Lior A",
            "Email address": "lior@example.org",
            "Preferred languages": "he",
            "Topics (most important first)": "python",
            "Career stage": "1",
            "Weekly availability": "Tue 19:00-21:00",
            FORM_TITLE[field]: value,
        }
    )
    intake = parse_mentee(RawResponse(source="t", ref="1", answers=answers), rules, TZ, NOW)
    assert bool(standalone) == isinstance(intake, MenteeApplication), (problems, intake)
    if standalone:
        app = standalone[0][1].application
        assert isinstance(intake, MenteeApplication)
        read = {
            "topics": app.topics,
            "languages": app.languages,
            "career_stage": app.career_stage,
            "availability": app.availability,
            "name": app.name,
            "email": app.email,
        }
        assert read[field] == getattr(intake, field)
    else:
        assert isinstance(intake, SetAside)
        assert problems[0].split(": ", 1)[1] == "; ".join(intake.reasons)


def test_match_command_accepts_what_roster_intake_accepts(rules: ProgramRules, tmp_path: Path) -> None:
    """The two values the issue names: a comma-separated topic list and Hebrew availability."""
    row = {
        "name": "Dana",
        "email": "dana@example.org",
        "languages": "עברית, English",
        "expertise": "Python, Backend",
        "career_stage": "3",
        "years": "9",
        "capacity": "2",
        "availability": "שלישי 18-20; כל ערב",
        "active": "yes",
    }
    problems: list[str] = []
    [mentor] = read_mentors(write_csv(tmp_path / "mentors.csv", MENTOR_COLUMNS, [row]), rules, problems)
    roster = parse_mentor(RawResponse(source="roster:test", ref="mentor 1", answers=row), rules)
    assert problems == [] and isinstance(roster, Mentor)
    assert mentor.expertise == roster.expertise == ["python", "backend"]
    assert mentor.availability == roster.availability and len(mentor.availability) == 6

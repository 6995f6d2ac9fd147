"""The community's mentors page as a roster, free-text mentors, and ``mentorflow roster check``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from config import CONFIG_DIR, SAMPLES_DIR
from config.rules import load_rules
from connectors.base import IntakeError
from connectors.local.roster import FileRoster
from domain.intake import NO_EMAIL, parse_mentor
from domain.matching import propose_matches
from domain.models import (
    MenteeApplication,
    Mentor,
    MentoringRequest,
    RawResponse,
    RequestStatus,
    SetAside,
    Weekday,
    WeeklyWindow,
    booking_key,
    mentor_key,
)
from domain.rules import ProgramRules
from mentorflow.cli import app
from mentorflow.roster_check import check_roster

PAGE = SAMPLES_DIR / "mentors-page.md"


@pytest.fixture(scope="module")
def rules() -> ProgramRules:
    return load_rules(CONFIG_DIR / "program.yaml")


def test_the_page_is_read_as_it_is() -> None:
    records = FileRoster(PAGE).fetch()
    assert len(records) == 16  # every mentor row of the table, in order; front matter and prose skipped
    first = records[0]
    assert first.source == "roster:mentors-page.md" and first.ref == "mentor 1"
    assert first.answers == {
        "שם מלא": "נועה ברקאי",
        "במה אני יכול לעזור": "ראיונות עבודה, קו״ח, חיפוש עבודה ראשונה",
        "קישור ליצירת קשר": "https://calendly.com/example-noa-barkai/30min",
        "לינקדאין": "https://www.linkedin.com/in/example-noa-barkai/",
    }
    by_name = {r.answers["שם מלא"]: r.answers for r in records}
    assert by_name["רותם עזרא"]["קישור ליצירת קשר"] == ""  # an empty link
    assert by_name["ליאת בן דוד"]["במה אני יכול לעזור"] == ""  # an empty cell
    assert by_name["שירה אלמוג"]["קישור ליצירת קשר"].startswith("https://wa.me/")


def test_a_page_without_a_table_is_an_intake_error(tmp_path: Path) -> None:
    page = tmp_path / "_index.md"
    page.write_text("---\ntitle: x\n---\n\nNo table yet.\n", encoding="utf-8")
    with pytest.raises(IntakeError, match="has no HTML table of mentors"):
        FileRoster(page).fetch()


def test_page_mentors_with_a_booking_link_and_no_email_are_imported_by_their_link(rules: ProgramRules) -> None:
    parsed = {r.answers["שם מלא"]: parse_mentor(r, rules) for r in FileRoster(PAGE).fetch()}
    noa = parsed["נועה ברקאי"]
    assert isinstance(noa, Mentor), noa
    assert noa.email is None and noa.scheduling == "booking_link" and noa.availability == []
    assert noa.key == "booking:calendly.com/example-noa-barkai/30min"
    whatsapp = parsed["שירה אלמוג"]
    assert isinstance(whatsapp, SetAside) and whatsapp.reasons[0] == f"email: {NO_EMAIL}"
    empty = parsed["ליאת בן דוד"]
    assert isinstance(empty, SetAside) and "expertise: missing" in empty.reasons


def page_record(**answers: str) -> RawResponse:
    return RawResponse(source="roster:page", ref="mentor 1", answers={"שם מלא": "Avi Example", **answers})


def test_a_booking_link_mentor_with_an_email_is_imported_without_weekly_availability(rules: ProgramRules) -> None:
    mentor = parse_mentor(
        page_record(
            **{
                "במה אני יכול לעזור": "בקוברניטיס ובענן (AWS), גינון עירוני",
                "email": "avi@example.com",
                "קישור ליצירת קשר": "https://cal.com/example-avi",
                "לינקדאין": "https://www.linkedin.com/in/example-avi/",
            }
        ),
        rules,
    )
    assert isinstance(mentor, Mentor), mentor
    assert mentor.expertise == ["devops", "cloud"]
    assert mentor.expertise_text == ["גינון עירוני"]
    assert (mentor.contact_kind, mentor.scheduling, mentor.booking_url) == (
        "booking_link",
        "booking_link",
        "https://cal.com/example-avi",
    )
    assert mentor.linkedin == "https://www.linkedin.com/in/example-avi/"
    assert mentor.availability == [] and mentor.languages == ["he"] and mentor.career_stage == 3


def test_contact_kinds(rules: ProgramRules) -> None:
    mail = parse_mentor(
        page_record(
            **{
                "במה אני יכול לעזור": "Python",
                "קישור ליצירת קשר": "mailto:avi@example.com",
                "availability": "Sun 18-20",
            }
        ),
        rules,
    )
    assert isinstance(mail, Mentor) and (mail.email, mail.contact_kind, mail.scheduling) == (
        "avi@example.com",
        "email",
        "invite",
    )
    assert mail.languages == ["en"]
    whatsapp = parse_mentor(
        page_record(
            **{
                "במה אני יכול לעזור": "Python",
                "email": "avi@example.com",
                "קישור ליצירת קשר": "https://wa.me/972500000000",
                "availability": "Sun 18-20",
            }
        ),
        rules,
    )
    assert isinstance(whatsapp, Mentor) and (whatsapp.contact_kind, whatsapp.booking_url) == ("whatsapp", "")
    bad = parse_mentor(
        page_record(
            **{"במה אני יכול לעזור": "Python", "email": "avi@example.com", "קישור ליצירת קשר": "javascript:alert(1)"}
        ),
        rules,
    )
    assert isinstance(bad, SetAside) and bad.reasons[0] == "contact: not an http(s) link"


def test_a_mentor_is_never_set_aside_for_an_unmapped_phrase(rules: ProgramRules) -> None:
    mentor = parse_mentor(
        RawResponse(
            source="roster:test",
            ref="mentor 1",
            answers={
                "name": "Avi",
                "email": "avi@example.com",
                "expertise": ["Cobol", "mainframes"],
                "years": "20",
                "languages": ["he"],
                "availability": ["Sun 18:00-20:00"],
            },
        ),
        rules,
    )
    assert isinstance(mentor, Mentor)
    assert (mentor.expertise, mentor.expertise_text) == ([], ["Cobol", "mainframes"])


def test_roster_check_json_one_object_per_row_in_table_order() -> None:
    result = CliRunner().invoke(app, ["roster", "check", str(PAGE), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["name"] for r in rows][:3] == ["נועה ברקאי", "Daniel Oren", "שירה אלמוג"]
    assert len(rows) == 16
    assert rows[0]["topics"] == ["interviews", "cv", "job-search"] and rows[0]["unmapped"] == []
    assert rows[0]["mapped"][1] == {"phrase": "קו״ח", "topics": ["cv"]}
    assert rows[0]["contact_kind"] == "booking_link" and rows[0]["set_aside"] == []
    assert rows[0]["scheduling"] == "booking_link"
    assert rows[2]["topics"] == ["devops", "cloud"] and rows[2]["contact_kind"] == "whatsapp"
    assert "מעבר מאקדמיה לתעשייה" in rows[6]["unmapped"]
    assert all({"topics", "unmapped"} <= set(r) for r in rows)


def test_roster_check_names_an_unreadable_file(tmp_path: Path) -> None:
    page = tmp_path / "_index.md"
    page.write_text("no table here", encoding="utf-8")
    result = CliRunner().invoke(app, ["roster", "check", str(page)])
    assert result.exit_code == 1 and "has no HTML table of mentors" in result.output


def test_roster_check_text_report_and_yaml_roster() -> None:
    result = CliRunner().invoke(app, ["roster", "check", str(SAMPLES_DIR / "mentors.yaml")])
    assert result.exit_code == 0, result.output
    assert "mentor 1:" in result.output and "importable (invite)" in result.output
    checks = check_roster(SAMPLES_DIR / "mentors.yaml")
    assert checks and all(not c.set_aside for c in checks)


# --- the matcher reads unmapped phrases as a weak signal ------------------------------------------------------

TUE = [WeeklyWindow(day=Weekday.TUE, start=time(18), end=time(20))]
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def mentor(email: str, text: list[str]) -> Mentor:
    return Mentor(
        email=email,
        name="M",
        expertise=["python"],
        expertise_text=text,
        years=10,
        career_stage=3,
        languages=["he"],
        capacity=1,
        availability=TUE,
    )


def request(goals: str) -> MentoringRequest:
    app_ = MenteeApplication(
        response_id="r1",
        submitted_at=NOW,
        name="Dana",
        email="dana@example.org",
        languages=["he"],
        topics=["python"],
        career_stage=2,
        goals=goals,
        availability=TUE,
        consent_contact=True,
    )
    return MentoringRequest(
        id=1, application=app_, status=RequestStatus.PENDING, created_at=NOW, updated_at=NOW, waiting_since=NOW
    )


def test_shared_words_with_unmapped_phrases_tip_the_balance(rules: ProgramRules) -> None:
    plain, accessible = mentor("a@example.com", []), mentor("b@example.com", ["נגישות אתרים", "web accessibility"])
    result = propose_matches([request("I want to learn web accessibility")], [plain, accessible], {}, rules, NOW)
    [match] = result.matches
    assert match.mentor_email == "b@example.com"
    assert match.breakdown.free_text == rules.matching.weights.free_text > 0
    assert match.score == match.breakdown.total
    neutral = propose_matches([request("grow as an engineer")], [plain, accessible], {}, rules, NOW)
    assert neutral.matches[0].breakdown.free_text == 0.0


def test_a_booking_link_mentor_without_email_who_would_need_invitations_is_set_aside(rules: ProgramRules) -> None:
    invited = parse_mentor(
        page_record(
            **{
                "במה אני יכול לעזור": "Python",
                "קישור ליצירת קשר": "https://cal.com/x",
                "availability": "Sun 18-20",
                "scheduling": "invite",
            }
        ),
        rules,
    )
    assert isinstance(invited, SetAside) and invited.reasons == [f"email: {NO_EMAIL}"]


def test_mentor_keys_are_stable_across_spellings_of_the_same_link() -> None:
    a = booking_key("https://www.Calendly.com/Dana/30min/?utm_source=page#top")
    assert a == booking_key("https://calendly.com/dana/30min") == "booking:calendly.com/dana/30min"
    assert mentor_key("Dana@Example.com", "https://calendly.com/dana") == "dana@example.com"
    long = booking_key("https://cal.com/" + "x" * 400)
    assert long.startswith("booking:cal.com#") and len(long) <= 320
    with pytest.raises(ValueError):
        mentor_key(None, "")

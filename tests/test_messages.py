"""Message rendering: Hebrew RTL by default, LTR isolation of names and links, autoescape, strict variables."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from jinja2 import Environment, UndefinedError

from config import CONFIG_DIR
from config.rules import load_rules
from domain.digest import build_digest
from domain.followup import survey_token
from domain.messages import (
    render_digest,
    render_invitation,
    render_lead_report,
    render_survey,
    template_env,
)
from domain.models import (
    Match,
    Meeting,
    MenteeApplication,
    Mentor,
    Role,
    SurveyAnswer,
    Weekday,
    WeeklyWindow,
)
from domain.rules import ProgramRules

TZ = "Asia/Jerusalem"
JERUSALEM = ZoneInfo(TZ)
EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def rules() -> ProgramRules:
    return load_rules(CONFIG_DIR / "program.yaml")


@pytest.fixture(scope="module")
def env() -> Environment:
    return template_env()


WINDOW = WeeklyWindow(day=Weekday.TUE, start=time(18), end=time(20))


def application(name: str = "נועה לוי", languages: tuple[str, ...] = ("he",)) -> MenteeApplication:
    return MenteeApplication(
        response_id="r1",
        submitted_at=datetime(2026, 11, 20, tzinfo=UTC),
        name=name,
        email="noa@example.org",
        languages=list(languages),
        topics=["python", "open-source"],
        career_stage=1,
        goals="First PR",
        availability=[WINDOW],
        accessibility_needs="כתוביות בשיחה",
        consent_contact=True,
    )


def mentor(name: str = "Dana Cohen", booking_url: str = "https://cal.example.com/dana") -> Mentor:
    return Mentor(
        email="dana@example.com",
        name=name,
        role="Staff Engineer",
        company="Example Cloud",
        expertise=["python"],
        years=12,
        career_stage=4,
        languages=["he", "en"],
        capacity=2,
        availability=[WINDOW],
        booking_url=booking_url,
    )


MEETING = Meeting(
    match_id=5,
    start=datetime(2026, 11, 24, 18, tzinfo=JERUSALEM),
    end=datetime(2026, 11, 24, 19, tzinfo=JERUSALEM),
    event_id="abcde5",
    video_link="https://meet.example.org/mentorflow-5",
    accessibility_needs="כתוביות בשיחה",
)
MATCH = Match(
    id=5,
    request_id=1,
    mentor_email="dana@example.com",
    score=6.5,
    reasons=["shared: Python"],
    shared_windows=[WINDOW],
    created_at=datetime(2026, 11, 21, tzinfo=UTC),
)


def invite(env: Environment, rules: ProgramRules, role: Role, **kw: object) -> tuple[str, str, str]:
    args: dict[str, object] = dict(
        role=role, meeting=MEETING, match=MATCH, application=application(), mentor=mentor(), rules=rules, tz=TZ
    )
    args.update(kw)
    return render_invitation(env, **args)  # type: ignore[arg-type]


def test_hebrew_invitation_is_rtl_with_ltr_runs_and_local_time(env: Environment, rules: ProgramRules) -> None:
    subject, text, html = invite(env, rules, Role.MENTEE)
    assert '<html dir="rtl" lang="he">' in html
    assert "<bdi>Dana Cohen</bdi>" in html and "<bdi>https://meet.example.org/mentorflow-5</bdi>" in html
    assert "\u2068Dana Cohen\u2069" in text and "\u2068https://cal.example.com/dana\u2069" in text
    assert "\u2068Dana Cohen\u2069" in subject
    assert "יום שלישי, 24.11.2026, 18:00–19:00 (שעון ישראל)" in text
    assert "מוזמן/ת" in text and "מנטור/ית" in text
    assert "כתוביות בשיחה" in text
    # Why this match, in Hebrew: shared topic, the shared weekly window, the stage gap (stored reasons are English).
    assert "נושאים משותפים: פייתון" in html and "shared" not in html
    assert "שניכם פנויים ביום שלישי 18:00–20:00" in text and "המנטור/ית" in text and "בקריירה" in text


def test_mentor_invitation_names_the_mentee_and_their_needs(env: Environment, rules: ProgramRules) -> None:
    subject, text, html = invite(env, rules, Role.MENTOR)
    assert "\u2068נועה לוי\u2069" in subject
    assert "noa@example.org" in text and "פייתון, קוד פתוח" in text and "First PR" in html
    assert "כתוביות בשיחה" in html


def test_english_speakers_get_english_ltr_mail(env: Environment, rules: ProgramRules) -> None:
    subject, text, html = invite(env, rules, Role.MENTEE, application=application("Ethan", ("en", "he")))
    assert '<html dir="ltr" lang="en">' in html
    assert subject.startswith("Your first mentoring meeting with")
    assert "Tuesday, 24 November 2026, 18:00–19:00 (Asia/Jerusalem)" in text
    assert "- shared: Python\n- both free Tue 18:00-20:00\n- mentor three stages ahead" in text


def test_autoescape_in_html_and_no_unsafe_links(env: Environment, rules: ProgramRules) -> None:
    _, text, html = invite(env, rules, Role.MENTEE, mentor=mentor(name=EVIL, booking_url="javascript:alert(1)"))
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "javascript:" not in html and "javascript:" not in text
    assert EVIL in text  # plain text is not HTML: it is shown as typed


def test_missing_variables_fail_loudly(env: Environment) -> None:
    with pytest.raises(UndefinedError):
        env.get_template("survey.he.html.j2").render(lang="he", dir="rtl")


def test_survey_and_its_reminder_carry_the_signed_link(env: Environment, rules: ProgramRules) -> None:
    token = survey_token(5, Role.MENTEE, "k", datetime(2026, 12, 14, tzinfo=UTC))
    args = dict(
        role=Role.MENTEE, name="נועה", other_name="Dana", meeting_start=MEETING.start, token=token, rules=rules, tz=TZ
    )
    subject, text, html = render_survey(env, kind="survey", **args)  # type: ignore[arg-type]
    url = rules.followup.survey_url_template.format(token=token)
    assert f'href="{url}"' in html and f"\u2068{url}\u2069" in text
    assert not subject.startswith("תזכורת") and "יום שלישי 24.11.2026" in text
    reminder = render_survey(env, kind="reminder", **args)  # type: ignore[arg-type]
    assert reminder.subject.startswith("תזכורת:") and "התזכורת היחידה" in reminder.text
    english = render_survey(env, kind="reminder", language="en", **args)  # type: ignore[arg-type]
    assert english.subject.startswith("Reminder:") and '<html dir="ltr" lang="en">' in english.html


def survey_answer(text: str, consent: bool) -> SurveyAnswer:
    return SurveyAnswer(
        match_id=1,
        role=Role.MENTEE,
        submitted_at=datetime(2026, 12, 1, tzinfo=UTC),
        satisfaction=5,
        met=True,
        still_in_touch=True,
        adopted_idea=True,
        free_text=text,
        consent_quote=consent,
    )


@pytest.mark.parametrize("language", ["he", "en"])
def test_digest_has_key_points_up_top_and_quotes_only_with_consent(
    env: Environment, rules: ProgramRules, language: str
) -> None:
    issue = build_digest(
        period_start=date(2026, 11, 22),
        period_end=date(2026, 12, 6),
        language=language,
        new_mentor_names=["Ruth Almog"],
        matches_made=12,
        meetings_held=9,
        answers=[survey_answer("Quote me <b>please</b>", True), survey_answer("Private remark", False)],
        requested_topics=[["python"]],
        waiting_topics=[["security"]],
        mentor_expertise=[["python"]],
        rules=rules,
    )
    subject, text, html = render_digest(env, issue, rules)
    assert ("Quote me <b>please</b>" in text) and ("Quote me &lt;b&gt;please&lt;/b&gt;" in html)
    assert "Private remark" not in text and "Private remark" not in html
    security = rules.topic_label("security", language)
    points = html.split("<ul>")[1].split("</ul>")[0]
    assert points.count("<li>") == 4 and "12" in points and security in points
    assert f'dir="{"rtl" if language == "he" else "ltr"}"' in html
    assert "22.11.2026" in subject and "Ruth" in text and "Almog" not in text


def test_lead_report_opens_with_what_needs_the_lead(env: Environment, rules: ProgramRules) -> None:
    from domain.report import ReportFacts, WaitingApproval, build_report

    since = datetime(2026, 12, 17, 9, 0, tzinfo=ZoneInfo("Asia/Jerusalem"))
    facts = ReportFacts(
        as_of=date(2026, 12, 20),
        approvals=[
            WaitingApproval(batch_id=3, proposals=2, since=since, link="http://127.0.0.1:4200/runs/flow-run/abc")
        ],
        uncertain_keys=["invite:9:mentor"],
    )
    subject, text, html = render_lead_report(env, build_report(facts), rules.program_name)
    assert "20.12.2026" in subject and '<html dir="rtl" lang="he">' in html
    lines = text.splitlines()
    assert lines[0] == "\u200fדורש אותך:" and "אצווה 3" in lines[1]
    assert "http://127.0.0.1:4200/runs/flow-run/abc" in lines[1]
    assert all(line.startswith("\u200f") for line in lines if line), "every Hebrew plain-text line starts RTL"
    assert '<a dir="ltr" href="http://127.0.0.1:4200/runs/flow-run/abc">' in html
    assert '<code dir="ltr">mentorflow status</code>' in html
    english = render_lead_report(env, build_report(facts.model_copy(update={"language": "en"})), rules.program_name)
    assert english.text.startswith("Needs you:") and "mentorflow status" in english.text


@pytest.mark.parametrize("language", ["he", "en"])
def test_a_digest_whose_answers_all_skipped_the_score_renders_without_an_average(
    env: Environment, rules: ProgramRules, language: str
) -> None:
    """Partial survey answers (no satisfaction) are kept now: the digest must not format a missing average."""
    partial = survey_answer("Did not meet yet", False).model_copy(update={"satisfaction": None})
    issue = build_digest(
        period_start=date(2026, 11, 22),
        period_end=date(2026, 12, 6),
        language=language,
        new_mentor_names=[],
        matches_made=1,
        meetings_held=0,
        answers=[partial],
        requested_topics=[],
        waiting_topics=[],
        mentor_expertise=[],
        rules=rules,
    )
    assert issue.answers == 1 and issue.satisfaction_avg is None
    _subject, text, html = render_digest(env, issue, rules)
    assert "None" not in text and "None" not in html

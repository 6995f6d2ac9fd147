"""The digest issue: indicators, topics in demand, top topics, welcomes and consented quotes only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from config import CONFIG_DIR
from config.rules import load_rules
from domain.digest import build_digest
from domain.models import DigestIssue, Role, SurveyAnswer
from domain.rules import ProgramRules


@pytest.fixture(scope="module")
def rules() -> ProgramRules:
    return load_rules(CONFIG_DIR / "program.yaml")


def answer(match_id: int, text: str, consent: bool, satisfaction: int = 5, day: int = 0) -> SurveyAnswer:
    return SurveyAnswer(
        match_id=match_id,
        role=Role.MENTEE,
        satisfaction=satisfaction,
        met=True,
        still_in_touch=satisfaction >= 4,
        adopted_idea=True,
        free_text=text,
        consent_quote=consent,
        submitted_at=datetime(2026, 12, 1, tzinfo=UTC) + timedelta(days=day),
    )


def digest(rules: ProgramRules, language: str = "he", **overrides: object) -> DigestIssue:
    args: dict[str, object] = dict(
        period_start=date(2026, 11, 22),
        period_end=date(2026, 12, 6),
        language=language,
        new_mentor_names=["רות אלמוג", "Sarah Goldberg"],
        matches_made=12,
        meetings_held=9,
        answers=[
            answer(1, "שיחה מצוינת", True, day=2),
            answer(2, "Secret thoughts", False, 2, day=1),
            answer(3, "Very practical advice", True, 4, day=0),
            answer(4, "  ", True),
        ],
        requested_topics=[["python", "career"], ["python"], ["security"], ["mobile", "python"]],
        waiting_topics=[["security"], ["security", "python"], ["mobile"]],
        mentor_expertise=[["python"], ["mobile", "javascript"]],
        rules=rules,
    )
    args.update(overrides)
    return build_digest(**args)  # type: ignore[arg-type]


def test_quotes_only_with_consent_in_answer_order(rules: ProgramRules) -> None:
    issue = digest(rules)
    assert issue.quotes == ["Very practical advice", "שיחה מצוינת"]
    assert all("Secret" not in q for q in issue.quotes)


def test_topics_in_demand_are_those_waiting_mentees_outnumber_mentors(rules: ProgramRules) -> None:
    issue = digest(rules)
    # security: 2 waiting, no mentor; python: 1 waiting, 1 mentor; mobile: 1 waiting, 1 mentor.
    assert issue.topics_in_demand == [("אבטחת מידע", 2)]
    assert digest(rules, "en").topics_in_demand == [("Security", 2)]
    assert digest(rules, "en", mentor_expertise=[]).topics_in_demand == [("Security", 2), ("Mobile", 1), ("Python", 1)]


def test_top_topics_counts_and_indicators(rules: ProgramRules) -> None:
    issue = digest(rules, "en")
    assert issue.top_topics[:2] == [("Python", 3), ("Career growth", 1)]
    assert len(issue.top_topics) <= rules.digest.top_topics
    assert (issue.answers, issue.satisfaction_avg, issue.satisfied_pct) == (4, 4.0, 75.0)  # (5 + 2 + 4 + 5) / 4
    assert issue.new_mentors == ["רות", "Sarah"]  # first names only in a public newsletter
    assert (issue.matches_made, issue.meetings_held) == (12, 9)


def test_a_quiet_period_has_no_indicators(rules: ProgramRules) -> None:
    issue = digest(rules, answers=[], new_mentor_names=[])
    assert (issue.answers, issue.satisfaction_avg, issue.in_touch_pct, issue.quotes) == (0, None, None, [])


def test_an_issue_waiting_for_its_release_is_dealt_with_before_a_new_period() -> None:
    from zoneinfo import ZoneInfo

    from domain.digest import issue_period

    tz = "Asia/Jerusalem"
    sunday = datetime(2027, 1, 17, 8, tzinfo=ZoneInfo(tz))
    last_end = sunday - timedelta(days=14, hours=8)
    held = (last_end, sunday - timedelta(hours=8))
    a_week_later = sunday + timedelta(days=7)
    assert issue_period(a_week_later, last_end, held, 14, tz) == held
    fresh = issue_period(a_week_later, last_end, None, 14, tz)
    assert fresh is not None and fresh[1] == a_week_later - timedelta(hours=8)
    stale = (last_end - timedelta(days=14), last_end)  # waiting, but its period was published since
    assert issue_period(a_week_later, last_end, stale, 14, tz) == fresh

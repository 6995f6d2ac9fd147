"""The lead's weekly report (domain/report.py): needs-you first with the command or link, honest about failures,
all in the lead's language, right to left in the artifact."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from domain.report import (
    Changes,
    Health,
    ReportFacts,
    RunProblem,
    WaitingApproval,
    build_report,
    report_markdown,
)

TZ = ZoneInfo("Asia/Jerusalem")
AT = datetime(2026, 11, 30, 9, 15, tzinfo=TZ)
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def facts(**kw: object) -> ReportFacts:
    base: dict[str, object] = {"as_of": date(2026, 12, 6), "language": "he"}
    return ReportFacts.model_validate({**base, **kw})


def prose(markdown: str) -> str:
    """The report's words without code spans, links, URLs and markup (which are left-to-right by design)."""
    text = re.sub(r"`[^`]*`|\[[^\]]*\]\([^)]*\)|https?://\S+|<[^>]+>", "", markdown)
    return text


def test_nothing_failed_only_when_true() -> None:
    quiet = build_report(facts())
    assert quiet.needs_you == [] and quiet.all_clear and "נכשלה" in quiet.all_clear
    failed = build_report(
        facts(
            failed_runs=[
                RunProblem(
                    stage="intake",
                    run_name="intake 2026-11-30 09:15",
                    state="Failed",
                    at=AT,
                    link="http://ui/runs/flow-run/1",
                )
            ]
        )
    )
    assert failed.all_clear is None
    assert failed.needs_you[0].action == "http://ui/runs/flow-run/1"
    unknown = build_report(facts(failed_runs=None))
    assert unknown.all_clear is None, "runs that could not be read are not 'nothing failed'"


def test_needs_you_lines_carry_the_command_or_link_that_resolves_them() -> None:
    doc = build_report(
        facts(
            approvals=[WaitingApproval(batch_id=4, proposals=3, since=AT, link="http://ui/runs/flow-run/abc")],
            broken_rules=["matching.weights.topic: must be ≥ 0"],
            uncertain_keys=["invite:7:mentee"],
            new_set_aside=2,
        )
    )
    actions = [line.action for line in doc.needs_you]
    assert actions[0] == "config/program.yaml" and "matching.weights.topic" in doc.needs_you[0].text
    assert "http://ui/runs/flow-run/abc" in actions
    assert actions.count("mentorflow status") == 2
    assert all(line.action for line in doc.needs_you)


def test_a_hebrew_report_has_no_english_prose() -> None:
    doc = build_report(
        facts(
            approvals=[WaitingApproval(batch_id=1, proposals=2, since=AT)],
            failed_runs=[RunProblem(stage="invite", run_name="invite 2026-11-30 09:30", state="Crashed", at=AT)],
            uncertain_keys=["x"],
            new_flags=1,
            changes=Changes(applications=5, matches_made=3),
            this_week=Health(matched=3, satisfaction=4.5),
            last_week=Health(matched=1),
        )
    )
    markdown = report_markdown(doc)
    assert LATIN_WORD.findall(prose(markdown)) == []
    # Prefect's V1 UI strips <div dir="rtl">: every Hebrew line starts with a right-to-left mark
    texts = [ln.lstrip("-#| ") for ln in markdown.splitlines() if ln.strip() and not ln.startswith("|---")]
    assert all(t.startswith("\u200f") for t in texts), texts


def test_an_english_report_stays_left_to_right() -> None:
    markdown = report_markdown(build_report(facts(language="en")))
    assert markdown.startswith("### Needs you") and "Nothing failed" in markdown


def test_health_is_compared_with_last_week() -> None:
    doc = build_report(
        facts(
            this_week=Health(
                matched=5,
                waiting=2,
                longest_wait_days=9,
                meetings_held=4,
                satisfaction=4.25,
                no_shows=1,
                surveys_unanswered=2,
            ),
            last_week=Health(matched=3, satisfaction=None),
        )
    )
    rows = {label: (this, last) for label, this, last in doc.health}
    assert rows["הותאמו"] == ("5", "3")
    assert rows["שביעות רצון (1–5)"] == ("4.2", "–")  # 4.25 to one decimal (half to even), none last week
    assert rows["סקרים שנסגרו ללא מענה"] == ("2", "0")  # counted here instead of a flag each
    assert len(rows) == 7


def test_a_hebrew_report_names_the_program_in_hebrew_in_its_subject_title_and_body() -> None:
    from config import CONFIG_DIR
    from config.rules import load_rules
    from domain.messages import render_lead_report, template_env

    rules = load_rules(CONFIG_DIR / "program.yaml")
    assert rules.name_in("en") == rules.program_name != rules.name_in("he")
    rendered = render_lead_report(template_env(), build_report(facts()), rules.name_in("he"))
    assert LATIN_WORD.findall(prose(rendered.subject)) == []  # the subject is the artifact's title too
    assert LATIN_WORD.findall(prose(rendered.text)) == []


def test_only_set_aside_answers_nobody_else_can_be_asked_to_fix_are_needs_you() -> None:
    """issue #10: every record set aside was a "needs you" line (3 minutes each), although most ask nothing of
    the lead: the program emails an applicant with a readable email what to fix, and a survey answer or a
    self-service link for a match that ended has nothing to fix."""
    from domain.report import set_aside_needs_lead

    assert set_aside_needs_lead("mentor", person_known=False), "the lead keeps the roster"
    assert set_aside_needs_lead("mentee", person_known=False), "no email to send a fix-it note to"
    assert not set_aside_needs_lead("mentee", person_known=True), "the program sent the fix-it note"
    assert not set_aside_needs_lead("survey", person_known=False)
    assert not set_aside_needs_lead("self-service", person_known=False)
    doc = build_report(facts(language="en", changes=Changes(set_aside_handled=3)))
    assert doc.needs_you == [] and doc.all_clear
    assert any("nothing for you to do" in line.text and "3" in line.text for line in doc.changed)

"""The mapping report every roster import shows the lead (issue #11): in the intake artifact and in
``mentorflow status``, from the same computation as ``mentorflow roster check``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config import CONFIG_DIR
from config.rules import load_rules
from config.settings import Settings
from domain.intake import check_mentor
from domain.models import RawResponse
from domain.rules import ProgramRules
from domain.topics import mapping_report
from mentorflow.bootstrap import build_services, use_services
from mentorflow.roster_check import render_checks
from mentorflow.views import render_status

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=ZoneInfo("Asia/Jerusalem"))
PAGE = """<table><tr><th>שם מלא</th><th>במה אני יכול לעזור</th><th>קישור ליצירת קשר</th></tr>
<tr><td>נועה ברקאי</td><td>פייתון, Cobol</td><td><a href="https://calendly.com/noa/30min">x</a></td></tr>
<tr><td>יובל כהן</td><td>cobol; ראיונות עבודה</td><td><a href="https://cal.com/yuval">x</a></td></tr>
<tr><td>Avi Levi</td><td>Python, mainframes</td><td><a href="https://cal.com/avi">x</a></td></tr></table>
"""


@pytest.fixture(scope="module")
def rules() -> ProgramRules:
    return load_rules(CONFIG_DIR / "program.yaml")


def with_alias(rules: ProgramRules, topic: str, alias: str) -> ProgramRules:
    topics = [t.model_copy(update={"aliases": [*t.aliases, alias]}) if t.key == topic else t for t in rules.topics]
    return rules.model_copy(update={"topics": topics})


def row(n: int, text: str) -> RawResponse:
    return RawResponse(source="roster:test", ref=f"mentor {n}", answers={"name": f"M{n}", "expertise": text})


def test_unmapped_phrases_are_counted_per_mentor_most_used_first(rules: ProgramRules) -> None:
    checks = [check_mentor(row(n, t), rules) for n, t in enumerate(["פייתון, Cobol", "COBOL; cobol", "mainframes"])]
    report = mapping_report(checks)
    assert [(p.phrase, p.mentors) for p in report.unmapped] == [("Cobol", 2), ("mainframes", 1)]
    assert [(p.phrase, p.topics, p.mentors) for p in report.mapped] == [("פייתון", ["python"], 1)]
    text = render_checks(checks)
    assert "Phrases mapped to no topic, most used first:\n    Cobol (2)\n    mainframes (1)" in text
    assert "2 distinct phrases mapped to no topic" in text


def test_import_artifact_and_status_show_the_mapping_and_an_alias_clears_it(tmp_path: Path, store_url: str) -> None:
    from tasks.intake import sync_roster
    from tasks.reporting import mapping_section

    (tmp_path / "mentors.md").write_text(PAGE, encoding="utf-8")
    settings = Settings(data_dir=tmp_path, roster_path=tmp_path / "mentors.md", database_url=store_url, _env_file=None)  # type: ignore[call-arg]
    rules = load_rules(CONFIG_DIR / "program.yaml")

    def import_and_status(r: ProgramRules) -> tuple[str, str]:
        services = build_services(settings, rules=r)
        with use_services(services):
            report = sync_roster.fn(NOW)
        with services.store.unit_of_work() as uow:
            status = render_status(uow.reporting.status_report())
        return mapping_section(report.mapping), status

    section, status = import_and_status(rules)
    unmapped, mapped = section.split("| topics | phrases |")
    assert "| Cobol | 2 |" in unmapped and "| mainframes | 1 |" in unmapped
    assert unmapped.index("Cobol") < unmapped.index("mainframes")  # most used first
    assert "| python | Python · פייתון |" in mapped and "| interviews | ראיונות עבודה |" in mapped
    assert "Roster phrases mapped to no topic (2;" in status
    assert "  Cobol (2 mentors)\n  mainframes (1 mentor)" in status

    section, status = import_and_status(with_alias(rules, "backend", "cobol"))
    assert "Cobol" not in section.split("| topics | phrases |")[0] and "| mainframes | 1 |" in section
    assert "| backend | Cobol ×2 |" in section
    assert "Cobol" not in status and "  mainframes (1 mentor)" in status


def test_the_section_escapes_mentors_text() -> None:
    from domain.topics import MappingReport, PhraseCount
    from tasks.reporting import mapping_section

    md = mapping_section(MappingReport(unmapped=[PhraseCount(phrase="[x](https://evil.example)", mentors=1)]))
    assert "](https://evil" not in md and r"\[x\]" in md

"""The report flow end to end: failed runs read from Prefect, a broken rule named instead of silencing it."""

from __future__ import annotations

import email
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

import mentorflow.bootstrap as bootstrap

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_server")]
ROOT = Path(__file__).resolve().parent.parent
TZ = ZoneInfo("Asia/Jerusalem")


def reports(data_dir: Path) -> list[EmailMessage]:
    return [
        email.message_from_bytes(p.read_bytes(), policy=default)  # type: ignore[misc]
        for p in sorted((data_dir / "outbox").glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    ]


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return part.get_content()  # type: ignore[no-any-return]


@pytest.fixture
def fresh_services(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Path:
    """The report builds its services from the environment (as a deployment run does)."""
    monkeypatch.setenv("MENTORFLOW_DATA_DIR", str(data_dir))
    monkeypatch.setattr(bootstrap, "_current", None)
    return data_dir


def test_the_weeks_failed_runs_are_in_needs_you_and_a_quiet_week_says_nothing_failed(fresh_services: Path) -> None:
    from prefect import flow, tags

    from flows.report import report

    @flow(name="followup-broken", flow_run_name="followup 2026-12-01 10:00")
    def broken() -> None:
        raise RuntimeError("survey form unreachable")

    with tags("mentorflow", "followup"):
        assert broken(return_state=True).is_failed()
    now = datetime.now(TZ)
    assert report(now).needs_you >= 1
    text = body(reports(fresh_services)[-1])
    assert "ריצת מעקב" in text and "כישלון" in text and "/runs/flow-run/" in text
    assert "שום ריצה לא נכשלה" not in text

    quiet = report(now - timedelta(days=30))  # a week in which no run failed
    assert quiet.needs_you == 0
    assert "שום ריצה לא נכשלה" in body(reports(fresh_services)[-1])


def test_a_broken_program_rule_does_not_silence_the_report(
    fresh_services: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.report import report

    rules = yaml.safe_load((ROOT / "config" / "program.yaml").read_text(encoding="utf-8"))
    rules["matching"]["weights"]["topic"] = "lots"
    rules["lead_email"] = "the-lead@example.org"
    broken = fresh_services / "program.yaml"
    broken.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("MENTORFLOW_RULES_PATH", str(broken))

    summary = report(datetime.now(TZ) - timedelta(days=60))
    assert summary.outcome == "performed"
    sent = reports(fresh_services)[-1]
    assert "the-lead@example.org" in sent["To"]
    text = body(sent)
    assert "כלל בתוכנית שבור" in text and "matching.weights.topic" in text

"""Every IntakeSource: answers keyed by question title, a watermark, nothing again when nothing changed,
and a new answer after the watermark comes through."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from config.settings import Settings
from connectors.base import IntakeBatch, IntakeSource
from connectors.local.intake import FileIntake
from connectors.remote import build_google_intake
from tests.emulators.forms import FormsEmulator
from tests.emulators.server import shared

TITLES = ["Full name", "Weekly availability", "Goals"]


@dataclass
class Harness:
    source: IntakeSource
    submit: Callable[[dict[str, str]], None]  # one respondent answers the form


def files(tmp_path: Path) -> Harness:
    def submit(answers: dict[str, str]) -> None:  # the lead drops one more export into the inbox
        number = len(list(tmp_path.glob("*.json"))) + 1
        (tmp_path / f"export-{number}.json").write_text(json.dumps([answers], ensure_ascii=False), encoding="utf-8")

    return Harness(FileIntake(tmp_path), submit)


def forms(tmp_path: Path) -> Harness:
    emulator = shared(FormsEmulator)
    emulator.reset()
    emulator.create_form("mentees", list(TITLES))
    settings = Settings(
        intake="google", google_api_endpoint=emulator.url, google_mentee_form_id="mentees", http_timeout_seconds=5
    )

    def submit(answers: dict[str, str]) -> None:
        emulator.add_response("mentees", dict(answers))

    return Harness(build_google_intake(settings), submit)


IMPLEMENTATIONS: dict[str, Callable[[Path], Harness]] = {"files": files, "forms": forms}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    return IMPLEMENTATIONS[request.param](tmp_path)


def names(batch: IntakeBatch) -> list[str]:
    return sorted(str(r.answers.get("Full name")) for r in batch.responses)


def test_implements_the_protocol(harness: Harness) -> None:
    assert isinstance(harness.source, IntakeSource) and harness.source.name


def test_answers_come_keyed_by_question_title(harness: Harness) -> None:
    harness.submit({"Full name": "נועה", "Weekly availability": "Tue 18:00-20:00", "Goals": "open source"})
    harness.submit({"Full name": "Eli", "Weekly availability": "Sun 19:00-21:00", "Goals": ""})
    batch = harness.source.fetch(None)
    assert names(batch) == ["Eli", "נועה"]
    noa = next(r for r in batch.responses if r.answers["Full name"] == "נועה")
    assert noa.answers["Weekly availability"] == "Tue 18:00-20:00" and noa.answers["Goals"] == "open source"
    assert all(r.ref for r in batch.responses) and batch.watermark


def test_nothing_new_means_an_empty_batch_and_the_same_watermark(harness: Harness) -> None:
    harness.submit({"Full name": "Noa", "Weekly availability": "Tue 18:00-20:00"})
    first = harness.source.fetch(None)
    again = harness.source.fetch(first.watermark)
    assert again.responses == [] and again.watermark == first.watermark


def test_a_new_answer_after_the_watermark_comes_through(harness: Harness) -> None:
    harness.submit({"Full name": "Noa", "Weekly availability": "Tue 18:00-20:00"})
    first = harness.source.fetch(None)
    harness.submit({"Full name": "Eli", "Weekly availability": "Sun 19:00-21:00"})
    second = harness.source.fetch(first.watermark)
    assert "Eli" in names(second) and second.watermark != first.watermark
    assert harness.source.fetch(second.watermark).responses == []

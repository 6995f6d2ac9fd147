"""The lead's CLI: everyday commands never import Prefect, and every command finds the same data folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Runs CLI commands one after another in one fresh interpreter (each in its folder, with its environment) and
# reports each one's output and whether Prefect had been imported by then: modules stay loaded, so a command that
# imported Prefect shows in its own answer and in every later one.
PROBE = """
import json, os, sys
from typer.testing import CliRunner
from mentorflow.cli import app
answers = []
for call in json.loads(sys.argv[1]):
    os.chdir(call["cwd"])
    os.environ.update(call["env"])
    result = CliRunner().invoke(app, call["args"])
    answers.append({"exit": result.exit_code, "output": result.output,
                    "prefect": sorted(m for m in sys.modules if m == "prefect" or m.startswith("prefect."))[:3]})
print(json.dumps(answers))
"""


def cli(calls: list[tuple[list[str], Path, dict[str, str]]]) -> list[dict]:
    """(args, folder, environment) of each command → its answer."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MENTORFLOW_", "PREFECT_"))}
    spec = json.dumps([{"args": args, "cwd": str(cwd), "env": env} for args, cwd, env in calls])
    done = subprocess.run(
        [sys.executable, "-c", PROBE, spec], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


EVERYDAY = [["status"], ["approve"], ["ledger", "release", "no-such-key"], ["end-match", "999"], ["--help"]]


def test_everyday_commands_never_import_prefect(data_dir: Path, tmp_path: Path) -> None:
    answers = cli([(args, tmp_path, {"MENTORFLOW_DATA_DIR": str(data_dir)}) for args in EVERYDAY])
    for args, answer in zip(EVERYDAY, answers, strict=True):
        assert answer["exit"] == 0, answer["output"]
        assert answer["prefect"] == [], f"`mentorflow {' '.join(args)}` imported {answer['prefect']}"


def test_status_names_the_data_folder_and_finds_it_from_any_folder(tmp_path: Path) -> None:
    """Without MENTORFLOW_DATA_DIR the store lives in the user's data directory, not in the current folder."""
    home, here, there = tmp_path / "xdg", tmp_path / "here", tmp_path / "there"
    for folder in (here, there):
        folder.mkdir()
    env = {"XDG_DATA_HOME": str(home), "HOME": str(tmp_path)}
    first, second = cli([(["status"], here, env), (["status"], there, env)])
    expected = f"Data folder: {home / 'mentorflow'}"
    assert expected in first["output"] and expected in second["output"]
    assert str(home / "mentorflow" / "mentorflow.db") in second["output"]
    assert list(here.iterdir()) == [] and list(there.iterdir()) == [], "nothing is created in the current folder"


def test_status_never_shows_the_database_password(tmp_path: Path) -> None:
    from config.settings import Settings
    from mentorflow.views import render_where

    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,  # type: ignore[call-arg]
        database_url="postgresql+psycopg://lead:s3cret-pw@db.example/mentorflow",
    )
    where = render_where(settings)
    assert "s3cret-pw" not in where and "db.example/mentorflow" in where


def test_run_refuses_a_configured_server_that_does_not_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from mentorflow.orchestrator import PrefectServerUnreachable, choose_server

    with (
        temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}),
        pytest.raises(PrefectServerUnreachable, match="127.0.0.1:9"),
    ):
        choose_server(timeout=2)


def test_run_without_a_server_says_it_starts_a_temporary_one_and_stays_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from mentorflow.orchestrator import choose_server

    for name in ("PREFECT_SERVER_ANALYTICS_ENABLED", "DO_NOT_TRACK"):
        monkeypatch.setenv(name, "x")  # remembered, so the test leaves the environment as it found it
        monkeypatch.delenv(name)
    with temporary_settings({PREFECT_API_URL: None}):
        assert "temporary" in choose_server()
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false" and os.environ["DO_NOT_TRACK"] == "1"


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_run_uses_the_configured_server_when_it_answers() -> None:
    from prefect.settings import PREFECT_API_URL

    from mentorflow.orchestrator import choose_server

    assert choose_server() == f"Prefect: using the server at {PREFECT_API_URL.value()}"

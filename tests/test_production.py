"""The production profile, started for real on this machine (docs/production.md):

Prefect server on PostgreSQL with basic auth, `mentorflow setup-prefect`, two process workers that know the
server's auth string but not the program's secrets (those are Secret blocks), mentorflow's store on
PostgreSQL, Google and SendGrid as the emulators. A form answer goes watch → intake → match → invite through
deployments, events and triggers, and an unauthenticated API call is refused.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from benchmarks.program import MENTEE_QUESTIONS, MENTOR_QUESTIONS, SURVEY_QUESTIONS
from tests.emulators.google import GoogleEmulator
from tests.emulators.sendgrid import SendGridEmulator
from tests.emulators.server import shared
from tests.stack import ROOT, Stack

pytestmark = [pytest.mark.prefect, pytest.mark.postgres]

SECRETS = ("MENTORFLOW_SENDGRID_API_KEY", "MENTORFLOW_SURVEY_TOKEN_SECRET")


@pytest.fixture
def prefect_database(postgres_url: str) -> Iterator[str]:
    """A database of its own for the Prefect server (asyncpg driver), dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"prefect_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(make_url(postgres_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(drivername="postgresql+asyncpg", database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def program_env(tmp_path: Path, store_url: str, google: GoogleEmulator, sendgrid: SendGridEmulator) -> dict[str, str]:
    rules = yaml.safe_load((ROOT / "config" / "program.yaml").read_text(encoding="utf-8"))
    rules["scheduling"]["video_link_template"] = None  # Google makes the video room
    rules["matching"]["approval"] = "auto"
    (tmp_path / "program.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    return {
        "MENTORFLOW_DATA_DIR": str(tmp_path / "data"),
        "MENTORFLOW_DATABASE_URL": store_url,
        "MENTORFLOW_RULES_PATH": str(tmp_path / "program.yaml"),
        "MENTORFLOW_INTAKE": "google",
        "MENTORFLOW_ROSTER": "google",
        "MENTORFLOW_CALENDAR": "google",
        "MENTORFLOW_SURVEYS": "google",
        "MENTORFLOW_MAILER": "sendgrid",
        "MENTORFLOW_GOOGLE_API_ENDPOINT": google.url,
        "MENTORFLOW_GOOGLE_MENTEE_FORM_ID": "mentee-form",
        "MENTORFLOW_GOOGLE_MENTOR_FORM_ID": "mentor-form",
        "MENTORFLOW_GOOGLE_SURVEY_FORM_ID": "survey-form",
        "MENTORFLOW_SENDGRID_HOST": sendgrid.url,
        "MENTORFLOW_HTTP_TIMEOUT_SECONDS": "5",
        "MENTORFLOW_SENDGRID_API_KEY": sendgrid.api_key,
        "MENTORFLOW_SURVEY_TOKEN_SECRET": "a-real-test-secret-8Kp3Zw6N",
    }


def seed_program(google: GoogleEmulator, mentees: int = 0) -> None:
    topics = "Python, Backend, Career growth, Job interviews"
    windows = "Sun 9:00-13:00; Mon 9:00-13:00; Tue 9:00-13:00; Wed 9:00-13:00; Thu 9:00-13:00"
    google.seed("mentee-form", MENTEE_QUESTIONS, [])
    google.seed(
        "mentor-form",
        MENTOR_QUESTIONS,
        [
            {
                "name": f"Mentor {j}",
                "email": f"mentor{j}@example.org",
                "expertise": topics,
                "years": "10",
                "career_stage": "3",
                "languages": "Hebrew, English",
                "capacity": "3",
                "availability": windows,
            }
            for j in range(4)
        ],
    )
    google.seed("survey-form", SURVEY_QUESTIONS, [])


def submit(google: GoogleEmulator, i: int) -> None:
    google.add_response(
        "mentee-form",
        {
            "Full name": f"Mentee {i}",
            "Preferred languages": "Hebrew, English",
            "Topics (most important first)": "Python",
            "Career stage": "1",
            "Goals": "grow",
            "Weekly availability": "Sun 9:00-13:00; Tue 9:00-13:00",
            "Accessibility needs": "",
            "May we contact you?": "Yes",
            "May we quote your feedback?": "No",
        },
        email=f"mentee{i}@example.org",
    )


def invitations(sendgrid: SendGridEmulator) -> list[dict[str, Any]]:
    return [b for b in sendgrid.accepted if b.get("custom_args", {}).get("mentorflow_key", "").startswith("invite:")]


def start_stack(tmp_path: Path, env: dict[str, str], prefect_db: str | None) -> Stack:
    stack = Stack(home=tmp_path, program_env=env, prefect_database_url=prefect_db, worker_hidden=SECRETS)
    try:
        stack.start()
        stack.pause_schedules()  # only the chain under test runs (the schedules are the safety net)
    except BaseException:
        stack.stop()
        raise
    return stack


def test_production_profile_runs_the_chain_through_workers_and_refuses_strangers(
    tmp_path: Path, postgres_url: str, prefect_database: str
) -> None:
    google, sendgrid = shared(GoogleEmulator), shared(SendGridEmulator)
    google.reset()
    sendgrid.reset()
    seed_program(google)
    env = program_env(tmp_path, postgres_url, google, sendgrid)
    with start_stack(tmp_path, env, prefect_database) as stack:
        # closed: no credentials, no API; the right ones, an answer
        assert httpx.post(stack.api_url + "/flow_runs/filter", json={}, timeout=10).status_code == 401
        assert (
            httpx.post(
                stack.api_url + "/flow_runs/filter", json={}, auth=tuple(stack.auth.split(":", 1)), timeout=10
            ).status_code
            == 200
        )
        assert "secret block mentorflow-sendgrid-api-key: created" in stack.setup_output
        assert sendgrid.api_key not in stack.setup_output

        stack.run_deployment("intake-watch/intake-watch", {"hours": 0.06, "every_seconds": 10})
        stack.wait_for_workers(2)
        for i in range(3):
            submit(google, i)
        deadline = time.monotonic() + 480  # each run starts a process: ~10 s idle, a minute on a busy 2-core box
        while len(invitations(sendgrid)) < 6 and time.monotonic() < deadline:
            time.sleep(1)
        runs = stack.flow_runs()
        assert len(invitations(sendgrid)) == 6, (runs, stack.log("worker-0")[-3000:], stack.log("worker-1")[-3000:])
        names = {r["name"].split()[0] for r in runs}
        assert {"intake-watch", "intake", "match", "invite"} <= names, runs
        assert all("mentorflow" in r["tags"] for r in runs)
        assert not any("Mentee" in r["name"] or "@" in r["name"] for r in runs), "no personal data in run names"

"""A synthetic program for the benchmarks and the emulator tests: seeded form answers and a roster, the settings
that point mentorflow at the Google and SendGrid emulators, and a quiet Prefect test server.

People and emails are fictional (``example.org``). Only ``Settings`` and ``build_services`` of mentorflow are
imported, and only when called, so the benchmarks can measure an older checkout with it (``--code DIR``).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

ROOT = Path(__file__).resolve().parent.parent
TZ = ZoneInfo("Asia/Jerusalem")
DAY0 = datetime(2026, 11, 22, 9, 0, tzinfo=TZ)
TOPICS = [
    "Python",
    "JavaScript",
    "Backend",
    "Frontend",
    "DevOps",
    "Data engineering",
    "Open source",
    "Career growth",
    "Job interviews",
    "Testing",
]
DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu"]
MENTEE_QUESTIONS = [
    "Full name",
    "Preferred languages",
    "Topics (most important first)",
    "Career stage",
    "Goals",
    "Weekly availability",
    "Accessibility needs",
    "May we contact you?",
    "May we quote your feedback?",
]
MENTOR_QUESTIONS = ["name", "email", "expertise", "years", "career_stage", "languages", "capacity", "availability"]
NEWSLETTER_QUESTION = "Send me the newsletter?"
SURVEY_QUESTIONS = ["token", "satisfaction", "met", "still_in_touch", "adopted_idea"]
LINK_SECRET = "a-real-test-secret-8Kp3Zw6N"


def windows(rng: random.Random) -> str:
    """Three weekly two-hour windows on different days, as a form answer ("Sun 18:00-20:00; …")."""
    return "; ".join(f"{d} {h}:00-{h + 2}:00" for d in rng.sample(DAYS, 3) for h in [rng.choice([9, 12, 18, 19])])


def mentee_answers(
    count: int, rng: random.Random, *, lists: bool = False, newsletter: bool = False
) -> list[dict[str, Any]]:
    """The answers of ``count`` mentees to the intake form (by its questions, plus the email); all may be
    contacted. Multiple-choice answers are text ("Hebrew, English", as the Forms API gives them) or, with
    ``lists``, lists (as in a form's JSON export)."""

    def chosen(values: list[str]) -> str | list[str]:
        return values if lists else ", ".join(values)

    return [
        {
            "Email address": f"mentee{i}@example.org",
            "Full name": f"Mentee {i}",
            "Preferred languages": chosen(rng.choice([["Hebrew"], ["English"], ["Hebrew", "English"]])),
            "Topics (most important first)": chosen(rng.sample(TOPICS, rng.randint(1, 3))),
            "Career stage": str(rng.randint(0, 3)),
            "Goals": "grow",
            "Weekly availability": windows(rng),
            "Accessibility needs": "",
            "May we contact you?": "Yes",
            "May we quote your feedback?": "No",
            **({NEWSLETTER_QUESTION: "Yes"} if newsletter else {}),
        }
        for i in range(count)
    ]


def seed_forms(
    google: Any,
    mentees: int,
    mentors: int,
    *,
    mentor_topics: int = 4,
    capacity: int | None = None,
    newsletter: bool = False,
) -> None:
    """The mentee and mentor forms in the Google emulator (everyone may be contacted) and an empty survey form.
    Mentors know ``mentor_topics`` topics each and take ``capacity`` mentees (default: 2 or 3, drawn); with
    ``newsletter`` the mentee form asks for the newsletter and every mentee says yes."""
    rng = random.Random(7)
    questions = [*MENTEE_QUESTIONS, NEWSLETTER_QUESTION] if newsletter else MENTEE_QUESTIONS
    google.seed("mentee-form", questions, mentee_answers(mentees, rng, newsletter=newsletter))
    google.seed(
        "mentor-form",
        MENTOR_QUESTIONS,
        [
            {
                "name": f"Mentor {j}",
                "email": f"mentor{j}@example.org",
                "expertise": ", ".join(rng.sample(TOPICS, mentor_topics)),
                "years": str(rng.randint(4, 20)),
                "career_stage": str(rng.randint(2, 4)),
                "languages": "Hebrew, English",
                "capacity": str(capacity or rng.randint(2, 3)),
                "availability": windows(rng) + "; " + windows(rng),
            }
            for j in range(mentors)
        ],
    )
    google.seed("survey-form", SURVEY_QUESTIONS, [])


def emulator_settings(
    folder: Path, google: Any, sendgrid: Any = None, *, api_key: str | None = None, http_timeout_seconds: float = 5
) -> Any:
    """Settings with intake, roster and calendar on the Google emulator; with ``sendgrid``, surveys on Google and
    mail through SendGrid too (else the local outbox). Google makes the video room (no link template)."""
    from config.settings import Settings

    rules = yaml.safe_load((ROOT / "config" / "program.yaml").read_text(encoding="utf-8"))
    rules["scheduling"]["video_link_template"] = None
    (folder / "program.yaml").write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    remote_mail: dict[str, Any] = (
        {
            "surveys": "google",
            "mailer": "sendgrid",
            "google_survey_form_id": "survey-form",
            "sendgrid_api_key": api_key or sendgrid.api_key,
            "sendgrid_host": sendgrid.url,
        }
        if sendgrid is not None
        else {}
    )
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=folder,
        rules_path=folder / "program.yaml",
        intake="google",
        roster="google",
        calendar="google",
        google_api_endpoint=google.url,
        google_mentee_form_id="mentee-form",
        google_mentor_form_id="mentor-form",
        survey_token_secret=LINK_SECRET,
        http_timeout_seconds=http_timeout_seconds,
        **remote_mail,
    )


@contextmanager
def prefect_server(home: Path, startup_timeout: int = 600, log_level: str = "INFO") -> Iterator[None]:
    """Prefect's test server with its own home, no heartbeat, a bounded task pool and no analytics; the flows'
    logs from ``log_level`` up go to the server."""
    import os

    os.environ["PREFECT_HOME"] = str(home)
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_HOME,
        PREFECT_LOGGING_LEVEL,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    quiet = {
        PREFECT_HOME: home,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
        PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS: 4,
        PREFECT_SERVER_ANALYTICS_ENABLED: False,
        PREFECT_LOGGING_LEVEL: log_level,
    }
    with temporary_settings(quiet), prefect_test_harness(server_startup_timeout=startup_timeout):
        yield

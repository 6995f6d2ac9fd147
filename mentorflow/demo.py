"""``make demo``: the whole program on the sample data, across five weeks of "as of" dates.

Runs on the embedded defaults (SQLite, files) unless MENTORFLOW_* settings say otherwise. Running it
again with the same folder sends nothing twice: every side effect is in the ledger.
"""

from __future__ import annotations

import csv
import os
import random
import shutil
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from config import SAMPLES_DIR
from config.settings import Settings
from domain.followup import survey_token
from domain.keys import SurveyKey, parse_key
from mentorflow.bootstrap import Services, build_services, use_services

if TYPE_CHECKING:
    from flows.intake import IntakeSummary

SAMPLES = SAMPLES_DIR
MATCHED = ("approved", "scheduled", "met", "completed")


def _seed(directory: Path) -> None:
    """Put the sample roster and form exports where the local connectors read them."""
    inbox = directory / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    for name in ("mentees-he.csv", "mentees-en.json"):
        if not (inbox / name).exists():
            shutil.copy(SAMPLES / name, inbox / name)
    if not (directory / "mentors.yaml").exists():
        shutil.copy(SAMPLES / "mentors.yaml", directory / "mentors.yaml")
    (directory / "surveys").mkdir(exist_ok=True)


def _simulate_answers(services: Services, at: datetime) -> int:
    """Demo only: people answer most surveys that went out (seeded, so reruns write the same answers)."""
    folder = services.settings.survey_inbox()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "demo-answers.csv"
    if path.exists():
        return 0
    secret = services.settings.survey_token_secret.get_secret_value()
    with services.store.unit_of_work() as uow:
        sent = sorted(uow.ledger.keys(SurveyKey.prefix("survey")))
    rows = []
    for key in sent:
        survey = parse_key(key)
        assert isinstance(survey, SurveyKey)
        rng = random.Random(key)
        if rng.random() < 0.2:
            continue  # some never answer: the reminder and the "no answer" flag show
        met = rng.random() > 0.05
        rows.append(
            {
                "token": survey_token(survey.match_id, survey.role, secret),
                "timestamp": (at + timedelta(hours=rng.randint(1, 30))).isoformat(),
                "satisfaction": rng.choice([2, 3, 4, 4, 5, 5, 5]) if met else 1,
                "met": "yes" if met else "no",
                "still_in_touch": "yes" if met and rng.random() > 0.2 else "no",
                "adopted_idea": "yes" if met and rng.random() > 0.1 else "no",
                "free_text": rng.choice(
                    [
                        "שיחה מצוינת, קיבלתי כיוון ברור",
                        "Great first talk, very practical advice",
                        "",
                        "Helpful, we set a second meeting",
                    ]
                ),
                "consent_quote": "yes" if rng.random() > 0.4 else "no",
            }
        )
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["token"])
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def run_demo(directory: Path, start: str, fresh: bool = False) -> str:
    """Run every stage over the sample data and return the summary the newcomer sees."""
    if fresh and directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # Prefect keeps its own state next to the demo's, so nothing leaks into ~/.prefect.
    os.environ.setdefault("PREFECT_HOME", str((directory / ".prefect").resolve()))
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    _seed(directory)
    # The demo's state is always its own folder, never the program's real data folder or store.
    settings = Settings(data_dir=directory, database_url=None)
    services = build_services(settings)

    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS,
        temporary_settings,
    )

    from flows.digest import digest
    from flows.followup import followup
    from flows.intake import intake
    from flows.invite import invite
    from flows.match import match
    from flows.report import report

    tz = ZoneInfo(settings.timezone)
    day0 = datetime.combine(datetime.fromisoformat(start).date(), time(9, 0), tzinfo=tz)
    with services.store.unit_of_work() as uow:
        before = uow.reporting.status_report().ledger_by_status.get("done", 0)
    with (
        use_services(services),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None, PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS: 4}),
    ):
        taken_in = intake(day0)
        match(day0, approval="auto")
        invite(day0)
        followup(day0 + timedelta(days=12))  # surveys go out a few days after the first meetings
        _simulate_answers(services, day0 + timedelta(days=12))
        followup(day0 + timedelta(days=14))  # answers in, flags raised
        digest(day0 + timedelta(days=14))
        followup(day0 + timedelta(days=17))  # one reminder to those who did not answer
        followup(day0 + timedelta(days=30))  # follow-up closes
        digest(day0 + timedelta(days=28))
        report(day0 + timedelta(days=28))
    return summarize(services, taken_in, before)


def summarize(services: Services, taken_in: IntakeSummary, done_before: int) -> str:
    """What the newcomer reads at the end of ``make demo``."""
    settings = services.settings
    with services.store.unit_of_work() as uow:
        report = uow.reporting.status_report()
        done = uow.reporting.ledger_counts(["event:", "invite:", "survey:", "reminder:"])
        answers = len(uow.followup.survey_answers())
    new_effects = report.ledger_by_status.get("done", 0) - done_before
    lines = [
        "mentorflow demo: done.",
        f"  received         {taken_in.mentees.received} new mentee answers this run "
        f"({sum(report.requests_by_status.values())} requests in the store), {taken_in.roster.read} mentor records",
        f"  set aside        {len(report.set_aside)} (reasons below and in `mentorflow status`)",
        f"  matched          {sum(report.requests_by_status[s] for s in MATCHED)}",
        f"  waiting          {len(report.waiting)}",
        f"  invites written  {done['event:']} calendar events, {done['invite:']} invitation emails",
        f"  surveys sent     {done['survey:']} (+{done['reminder:']} reminders); {answers} answers in",
        f"  digests written  {report.digests}",
        f"  side effects this run: {new_effects} new (a second `make demo` makes 0)",
        "",
        "Set aside:",
        *[f"  {s.source} {s.ref}: {'; '.join(s.reasons)}" for s in report.set_aside],
        "",
        "Outputs:",
        f"  invites (.ics)   {settings.invites_dir().resolve()}",
        f"  outbox (.eml)    {settings.outbox().resolve()}",
        f"  digests          {settings.digests_dir().resolve()}",
        f"  store            {settings.store_url()}",
    ]
    return "\n".join(lines)

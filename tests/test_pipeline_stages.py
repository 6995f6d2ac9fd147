"""The pipeline runs only the stages with anything due: a run that finds nothing new skips the rest after intake,
and a stage whose time-based work falls due runs as before."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from config.settings import Settings
from domain.models import RequestStatus
from flows.pipeline import Skipped, pipeline
from mentorflow.bootstrap import build_services, use_services
from tasks.newsletter import approve_newsletter
from tasks.stages import read_stage_facts

pytestmark = pytest.mark.usefixtures("prefect_server")

TZ = ZoneInfo("Asia/Jerusalem")
DAY0 = datetime(2026, 11, 22, 9, 0, tzinfo=TZ)


def test_a_run_with_nothing_new_skips_idle_stages_and_due_work_still_runs(data_dir: Path) -> None:
    services = build_services(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    with use_services(services):
        first = pipeline(DAY0, approval="auto")
        assert first["invite"].scheduled >= 25
        assert not isinstance(first["report"], Skipped)
        assert not isinstance(first["match"], Skipped) and first["match"].approved >= 25
        assert isinstance(first["followup"], Skipped), "every first meeting is ahead: nothing to follow up yet"

        # the counts agree with the lists the stages themselves read
        facts = read_stage_facts.fn(DAY0)
        with services.store.unit_of_work() as uow:
            assert facts.matches_to_invite == len(uow.matches.to_invite()) == 0
            assert facts.upcoming_meetings == len(uow.matches.upcoming_meetings(DAY0)) >= 25
            assert facts.started_meetings == 0 and facts.followup_surveys_sent == 0
            assert facts.pending_requests == len(uow.requests.all(RequestStatus.PENDING))
        assert facts.survey_rows == 0 and facts.report_sent_today

        again = pipeline(DAY0, approval="auto")
        assert isinstance(again["invite"], Skipped)
        assert isinstance(again["followup"], Skipped)
        assert isinstance(again["report"], Skipped), "today's report went out in the first run"

        # 40 days on every first meeting is past: surveys fall due, a new day's report
        later = pipeline(DAY0 + timedelta(days=40), approval="auto")
        assert not isinstance(later["followup"], Skipped) and later["followup"].surveys_sent >= 2 * 25
        assert not isinstance(later["report"], Skipped) and later["report"].outcome == "performed"
        # the first run's issue still waits for the lead (its preview mailed): that run would only show it again
        assert first["digest"].awaiting_approval and isinstance(later["digest"], Skipped)

        # right after: matching's plan, made again, changes nothing
        idle = pipeline(DAY0 + timedelta(days=40), approval="auto")
        assert isinstance(idle["match"], Skipped) and isinstance(idle["digest"], Skipped)

        # the lead approves the issue: the next run's digest sends it
        assert approve_newsletter(services, [], DAY0 + timedelta(days=40, hours=1)) is not None
        approved = pipeline(DAY0 + timedelta(days=40, hours=2), approval="auto")
        assert not isinstance(approved["digest"], Skipped) and approved["digest"].published

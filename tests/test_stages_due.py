"""Which pipeline stages have anything to do (domain.pipeline): a stage with work is never skipped."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.pipeline import StageFacts, StagesDue, followup_due_in_store, invite_due, stages_due

TZ = "Asia/Jerusalem"
NOW = datetime(2026, 11, 22, 9, 0, tzinfo=ZoneInfo(TZ))
MIDNIGHT = datetime(2026, 11, 22, tzinfo=ZoneInfo(TZ))
PERIOD = 14


def facts(**changes: Any) -> StageFacts:
    """Nothing due: no request waiting, nothing to invite or follow up, the digest and the report done."""
    quiet: dict[str, Any] = {
        "pending_requests": 0,
        "waiting_batches": 0,
        "matches_to_invite": 0,
        "calendar_reads_replies": False,
        "upcoming_meetings": 0,
        "started_meetings": 0,
        "followup_surveys_sent": 0,
        "no_show_endings": 0,
        "survey_rows": 0,
        "released_copies": 0,
        "digest_last_end": MIDNIGHT - timedelta(days=3),
        "digest_waiting": None,
        "report_sent_today": True,
    }
    return StageFacts(**(quiet | changes))


def due(**changes: Any) -> StagesDue:
    return stages_due(facts(**changes), NOW, PERIOD, TZ)


def test_nothing_due_skips_every_stage_after_intake() -> None:
    assert due() == StagesDue(match=False, invite=False, followup=False, digest=False, report=False)


@pytest.mark.parametrize(
    ("change", "stage"),
    [
        ({"pending_requests": 1}, "match"),  # waitlisted requests are re-planned every run
        ({"waiting_batches": 1}, "match"),  # a batch waiting for the lead may time out
        ({"matches_to_invite": 1}, "invite"),
        ({"calendar_reads_replies": True, "upcoming_meetings": 1}, "invite"),  # declines to read
        ({"started_meetings": 1}, "followup"),  # surveys, booking nudges fall due from the meeting on
        ({"followup_surveys_sent": 1}, "followup"),  # reminders and closing are time-based
        ({"no_show_endings": 1}, "followup"),  # an unfinished ending is finished by a later run
        ({"survey_rows": 1}, "followup"),  # answers to take in, or set aside again for the lead
        ({"survey_rows": None}, "followup"),  # the source was not read (or could not be): run
        ({"released_copies": 1}, "digest"),
        ({"digest_waiting": (MIDNIGHT - timedelta(days=3), MIDNIGHT)}, "digest"),  # a preview waits for release
        ({"digest_last_end": MIDNIGHT - timedelta(days=PERIOD)}, "digest"),  # a period just completed
        ({"digest_last_end": None}, "digest"),  # never an issue yet
        ({"report_sent_today": False}, "report"),
    ],
)
def test_each_kind_of_work_makes_its_stage_due(change: dict[str, Any], stage: str) -> None:
    result = due(**change).model_dump()
    assert result[stage] is True
    assert [s for s, is_due in result.items() if is_due] == [stage], "only the stage the fact is about"


def test_calendar_without_replies_reads_no_declines() -> None:
    assert not due(upcoming_meetings=5).invite  # local calendar: invite has nothing to read


def test_what_match_approves_is_invited_in_the_same_run() -> None:
    assert invite_due(facts(), approved=2)
    assert not invite_due(facts(), approved=0)


def test_survey_source_is_read_only_when_the_store_does_not_decide() -> None:
    assert not followup_due_in_store(facts(survey_rows=None))
    assert followup_due_in_store(facts(started_meetings=1, survey_rows=None))


def test_a_digest_period_not_complete_yet_is_not_due() -> None:
    assert not due(digest_last_end=MIDNIGHT - timedelta(days=PERIOD - 1)).digest

"""The email fault campaign at a small size (benchmarks/email_faults.py runs it at full size).

60 mentees and 90 mentors through intake, matching, invitations, surveys, reminders and a newsletter of 150
recipients, with 20 % of SendGrid calls faulty in every way and the pipeline killed three times: nobody gets an
email twice, nobody misses one, and nothing is left for the lead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.email_faults import campaign
from tests.emulators.google import GoogleEmulator
from tests.emulators.sendgrid import SendGridEmulator

pytestmark = pytest.mark.usefixtures("prefect_server")
pytest_plugins = ["tests.emulators.fixtures"]


def test_every_email_exactly_once_through_faults_and_kills(
    tmp_path: Path, google_emulator: GoogleEmulator, sendgrid_emulator: SendGridEmulator
) -> None:
    figures = campaign(
        tmp_path, google_emulator, sendgrid_emulator, mentees=60, mentors=90, fault_share=0.2, kill_at=[18, 90, 180]
    )
    assert figures.kills == 3 and figures.faults_served > 20
    assert figures.requests["scheduled_sends.create"] > 0, "unknown outcomes were settled by cancelling"
    assert figures.delivered_copies >= 150 + 3 * 60
    assert figures.accepted_twice == 0, figures.twice
    assert figures.missing == 0, (figures.passes, figures.left)
    assert figures.uncertain == 0, (figures.passes, figures.left)

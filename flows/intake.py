"""Intake: the mentor roster and new mentee answers into the store."""

from datetime import datetime

from prefect import flow
from pydantic import BaseModel

from flows.naming import run_name
from mentorflow.bootstrap import current_services
from tasks.common import resolve_now
from tasks.events import APPLICATIONS_STORED, announce
from tasks.intake import IntakeReport, RosterReport, fetch_responses, save_applications, sync_roster
from tasks.reporting import md_table, publish_report, set_aside_section


class IntakeSummary(BaseModel):
    roster: RosterReport
    mentees: IntakeReport


@flow(name="intake", flow_run_name=run_name("intake"), log_prints=False)
def intake(as_of: datetime | None = None) -> IntakeSummary:
    """Sync the roster, then read, validate and store new mentee answers."""
    now = resolve_now(as_of, current_services().settings.timezone)
    roster = sync_roster(now)
    mentees = save_applications(fetch_responses(), now)
    if mentees.created:
        announce(APPLICATIONS_STORED, "intake", mentees.created)
    publish_report(
        "intake-report",
        f"Intake as of {now:%Y-%m-%d %H:%M}",
        [
            md_table(
                ["", "mentors", "mentee answers"],
                [
                    ("read", roster.read, mentees.received),
                    ("new", roster.added, mentees.created),
                    ("updated", roster.updated, mentees.updated),
                    ("set aside", len(roster.set_aside), len(mentees.set_aside)),
                    ("returning after erasure", "", mentees.returning),
                    ("given before an erasure (not taken in)", "", mentees.erased),
                ],
            ),
            set_aside_section(roster.set_aside, "Mentor records set aside"),
            set_aside_section(mentees.set_aside, "Mentee answers set aside"),
        ],
    )
    return IntakeSummary(roster=roster, mentees=mentees)

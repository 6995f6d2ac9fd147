"""Intake: the mentor roster and new mentee answers into the store."""

from datetime import datetime

from prefect import flow
from pydantic import BaseModel

from flows.naming import run_name
from mentorflow.bootstrap import current_services
from tasks.common import as_is, resolve_now
from tasks.events import APPLICATIONS_STORED, announce
from tasks.intake import IntakeReport, RosterReport, fetch_responses, save_applications, sync_roster
from tasks.preflight import mailer_ready
from tasks.reporting import mapping_section, md_table, publish_report, set_aside_section
from tasks.selfservice import (
    AckReport,
    ActionsReport,
    FixReport,
    acknowledge_applications,
    send_fix_notes,
    take_self_service_actions,
)


class IntakeSummary(BaseModel):
    roster: RosterReport
    mentees: IntakeReport
    actions: ActionsReport | None = None
    acknowledged: AckReport | None = None
    fix_notes: FixReport | None = None


@flow(name="intake", flow_run_name=run_name("intake"), log_prints=False)
def intake(as_of: datetime | None = None) -> IntakeSummary:
    """Sync the roster, then read, validate and store new mentee answers."""
    now = resolve_now(as_of, current_services().settings.timezone)
    roster = sync_roster(now)
    batch = fetch_responses()
    mentees = save_applications(as_is(batch), now)
    mail = mailer_ready()  # a refused key leaves the emails to a later run; the actions count at once
    actions = take_self_service_actions(now, confirm=mail)  # before matching: a withdrawal or a pause counts
    acknowledged = acknowledge_applications(now) if mail else None
    fixes = send_fix_notes(as_is(batch), now) if mail else None
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
            md_table(
                ["acknowledged", "told what to fix", "self-service actions taken", "self-service answers set aside"],
                [
                    (
                        acknowledged.sent if acknowledged else "mail not ready",
                        fixes.sent if fixes else "mail not ready",
                        ", ".join(f"{k}: {v}" for k, v in sorted(actions.taken.items())) or "none",
                        len(actions.set_aside),
                    )
                ],
            ),
            set_aside_section(actions.set_aside, "Self-service answers set aside"),
            set_aside_section(roster.set_aside, "Mentor records set aside"),
            mapping_section(roster.mapping),
            set_aside_section(mentees.set_aside, "Mentee answers set aside"),
        ],
    )
    return IntakeSummary(roster=roster, mentees=mentees, actions=actions, acknowledged=acknowledged, fix_notes=fixes)

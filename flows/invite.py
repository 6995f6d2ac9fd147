"""Invite: a first meeting in both calendars and an invitation to both people, for each approved match."""

from datetime import datetime

from prefect import flow
from pydantic import BaseModel

from flows.naming import run_name
from mentorflow.bootstrap import current_services
from tasks.common import resolve_now
from tasks.invites import (
    INVITE_BATCH,
    InviteOutcome,
    invite_matches,
    list_matches_to_invite,
    read_busy_times,
    reschedule_declined,
)
from tasks.preflight import check_credentials
from tasks.reporting import md_table, publish_report


class InviteSummary(BaseModel):
    matches: int
    scheduled: int
    no_slot: list[tuple[int, str]]
    uncertain: list[tuple[int, str]]
    failed: list[tuple[int, str]]
    rescheduled: list[tuple[int, str]] = []


@flow(name="invite", flow_run_name=run_name("invite"))
def invite(as_of: datetime | None = None) -> InviteSummary:
    """Invite every approved match (one match's failure never stops the others); move declined meetings."""
    now = resolve_now(as_of, current_services().settings.timezone)
    match_ids = list_matches_to_invite()
    outcomes: list[InviteOutcome] = []
    failed: list[tuple[int, str]] = []
    if match_ids:
        check_credentials(calendar=True, mailer=True)  # a refused key stops the run before any event or email
        read_busy_times(match_ids, now)
    for start in range(0, len(match_ids), INVITE_BATCH):
        batch = invite_matches(match_ids[start : start + INVITE_BATCH], now)
        outcomes += batch.outcomes
        failed += batch.failed
    moved = reschedule_declined(now)
    summary = InviteSummary(
        matches=len(match_ids),
        scheduled=sum(o.status == "scheduled" for o in outcomes),
        no_slot=[(o.match_id, o.detail) for o in outcomes if o.status == "no_slot"],
        uncertain=[(o.match_id, o.detail) for o in outcomes if o.status == "uncertain"],
        failed=failed,
        rescheduled=[(r.match_id, f"{' and '.join(r.declined_by)} declined: {r.outcome}") for r in moved],
    )
    attention = summary.no_slot + summary.uncertain + summary.failed + summary.rescheduled
    publish_report(
        "invite-report",
        f"Invitations as of {now:%Y-%m-%d %H:%M}",
        [
            md_table(
                ["approved matches", "invited", "no slot", "uncertain", "failed"],
                [
                    (
                        summary.matches,
                        summary.scheduled,
                        len(summary.no_slot),
                        len(summary.uncertain),
                        len(summary.failed),
                    )
                ],
            ),
            "### Needs attention\n" + (md_table(["match", "what"], attention) if attention else "Nothing."),
        ],
    )
    return summary

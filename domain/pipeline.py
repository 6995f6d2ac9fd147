"""Which stages of a pipeline run have anything to do: a stage with nothing due is not run at all.

Each rule errs toward running: a fact that could mean work makes the stage due, and only a stage that provably
does nothing (no send, no store change, no time-based step falling due) is skipped. Intake is always run: what
it reads (roster, form answers, self-service answers) is only known by reading it. A skipped stage publishes no
artifact: the lead's last one of it stands (the match report and a waiting preview are not shown again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from domain.approval import ApprovalPlan, WaitingProposal, timed_out
from domain.digest import issue_period
from domain.models import AwareDatetime, Frozen
from domain.newsletter import Release


class StageFacts(Frozen):
    """What the store (and, when needed, the survey source) says, read once after intake."""

    pending_requests: int  # waiting for a mentor, paused ones included: matching re-plans them every run
    waiting_batches: int  # proposals waiting for the lead: they may time out, or be retired
    match_idle: bool = False  # matching's plan, made now, would change nothing (:func:`match_would_change`)
    matches_to_invite: int  # approved, no invitations out yet (mentor not paused)
    calendar_reads_replies: bool  # the calendar reports declines (Google): invite reads them
    upcoming_meetings: int  # scheduled first meetings still ahead: their declines would be read
    started_meetings: int  # meetings in follow-up whose start has come: surveys, nudges, flags fall due from there
    followup_surveys_sent: int  # surveys and reminders sent for matches still in follow-up: reminders, closing
    no_show_endings: int  # no-show endings left unfinished (a cancel or an email not done): follow-up finishes them
    survey_rows: int | None  # rows in the survey source; None: not read (the store made follow-up due already)
    released_copies: int  # newsletter copies the lead released: owed by the next digest run
    digest_last_end: AwareDatetime | None
    digest_waiting: tuple[AwareDatetime, AwareDatetime] | None  # the period of a preview waiting for release
    digest_waiting_release: Release | None = None  # what the digest would do now with that preview (None: unknown)
    digest_preview_mailed: bool = False  # that preview's mail to the lead is recorded done
    report_sent_today: bool  # the lead's report of this day is recorded sent


class StagesDue(Frozen):
    """Whether each stage after intake runs (invite may also be made due by what match approved)."""

    match: bool
    invite: bool
    followup: bool
    digest: bool
    report: bool


def followup_due_in_store(facts: StageFacts) -> bool:
    """Whether the store alone makes follow-up due (else the survey source decides: answers to take in, or rows
    to set aside again for the lead)."""
    return facts.started_meetings > 0 or facts.followup_surveys_sent > 0 or facts.no_show_endings > 0


def stages_due(facts: StageFacts, now: datetime, period_days: int, tz: str) -> StagesDue:
    """The stages with anything to do at ``now`` (see the module's rule: when in doubt, run)."""
    return StagesDue(
        match=(facts.pending_requests > 0 or facts.waiting_batches > 0) and not facts.match_idle,
        invite=invite_due(facts, approved=0),
        followup=followup_due_in_store(facts) or facts.survey_rows is None or facts.survey_rows > 0,
        digest=facts.released_copies > 0 or digest_due(facts, now, period_days, tz),
        report=not facts.report_sent_today,
    )


def digest_due(facts: StageFacts, now: datetime, period_days: int, tz: str) -> bool:
    """Whether the digest has an issue to deal with, other than a preview still waiting for the lead (not
    approved, its quiet period not over) whose mail went out: that run would only show the same preview again."""
    period = issue_period(now, facts.digest_last_end, facts.digest_waiting, period_days, tz)
    if period is None:
        return False
    waits = period == facts.digest_waiting and facts.digest_waiting_release == "wait"
    return not (waits and facts.digest_preview_mailed)


def match_would_change(
    plan: ApprovalPlan,
    waiting: Sequence[WaitingProposal],
    wait_reasons: Mapping[int, str],
    now: datetime,
    timeout_hours: int,
) -> bool:
    """Whether a match run now, making ``plan``, would change anything: approve a pair (now or on time-out),
    record another reason why someone waits, retire a batch, or ask the lead about anything but the batch
    already waiting, exactly as it waits (``wait_reasons``: the stored reason of each pending request).

    A run with nothing to change is skipped: the plan is made anyway (a pair may become possible with time),
    and the batch already waiting keeps its time, so its approval time-out runs from when the lead was asked."""
    if plan.approve_now.matches or timed_out(list(waiting), now, timeout_hours):
        return True
    if any(wait_reasons.get(w.request_id) != w.reason for w in plan.approve_now.waitlist):
        return True
    if not plan.ask_lead.matches:
        return bool(waiting)
    return [w.result for w in waiting] != [plan.ask_lead]


def invite_due(facts: StageFacts, approved: int) -> bool:
    """Whether invite has work: matches to invite (``approved``: those the match run just approved, which the
    facts, read before it, do not count), or declines to read for meetings still ahead."""
    return approved > 0 or facts.matches_to_invite > 0 or (facts.calendar_reads_replies and facts.upcoming_meetings > 0)

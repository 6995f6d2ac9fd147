"""Follow-up: after each first meeting, a short survey to both sides, one reminder, flags for the lead."""

from datetime import datetime

from prefect import flow
from pydantic import BaseModel

from domain.keys import SurveyKey
from flows.naming import run_name
from mentorflow.bootstrap import current_services
from store.ledger import Outcome
from tasks.common import resolve_now
from tasks.followup import SendReport, assess_meetings, collect_answers, nudge_bookings, plan_followup, send_surveys
from tasks.preflight import check_credentials
from tasks.reporting import md_table, publish_report, set_aside_section


class FollowupSummary(BaseModel):
    answers_new: int
    surveys_sent: int
    reminders_sent: int
    met: int
    completed: int
    flags: int
    nudges_sent: int = 0
    rematched: int = 0  # pairs that did not meet: the program ended the match and queued the mentee first
    uncertain: int
    failed: list[tuple[str, str]]


@flow(name="followup", flow_run_name=run_name("followup"))
def followup(as_of: datetime | None = None) -> FollowupSummary:
    """Collect answers first (so nobody who answered gets a reminder), then send what is due, then assess."""
    now = resolve_now(as_of, current_services().settings.timezone)
    answers = collect_answers(now)
    plan = plan_followup(now)
    if plan.due:
        check_credentials(mailer=True)
    sent = send_surveys(plan.due, now) if plan.due else SendReport(outcomes=[], failed=[])
    failed = [(str(SurveyKey(kind=d.kind, match_id=d.match_id, role=d.role)), why) for d, why in sent.failed]
    assessed = assess_meetings(plan, now)
    bookings = nudge_bookings(now)
    performed = [d for d, o in sent.outcomes if o is Outcome.PERFORMED]
    summary = FollowupSummary(
        answers_new=answers.new,
        surveys_sent=sum(k.kind == "survey" for k in performed),
        reminders_sent=sum(k.kind == "reminder" for k in performed),
        met=assessed.met,
        completed=assessed.completed,
        flags=len(assessed.new_flags) + len(bookings.new_flags),
        nudges_sent=len(bookings.nudged),
        rematched=len(assessed.rematched),
        uncertain=sum(o is Outcome.UNCERTAIN for _, o in sent.outcomes),
        failed=failed,
    )
    publish_report(
        "followup-report",
        f"Follow-up as of {now:%Y-%m-%d %H:%M}",
        [
            md_table(
                [
                    "new answers",
                    "surveys sent",
                    "reminders sent",
                    "met",
                    "completed",
                    "matched again",
                    "uncertain",
                    "failed",
                ],
                [
                    (
                        summary.answers_new,
                        summary.surveys_sent,
                        summary.reminders_sent,
                        summary.met,
                        summary.completed,
                        summary.rematched,
                        summary.uncertain,
                        len(failed),
                    )
                ],
            ),
            "### New flags for the lead\n"
            + (
                md_table(
                    ["match", "flag", "detail"],
                    [(f.match_id, f.kind, f.detail) for f in [*assessed.new_flags, *bookings.new_flags]],
                )
                if assessed.new_flags or bookings.new_flags
                else "None."
            ),
            set_aside_section(answers.set_aside, "Survey answers set aside"),
            "### Failed sends\n" + (md_table(["key", "error"], failed) if failed else "None."),
        ],
    )
    return summary

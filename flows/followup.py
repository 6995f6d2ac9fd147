"""Follow-up: after each first meeting, a short survey to both sides, one reminder, flags for the lead."""

from datetime import datetime

from prefect import flow, unmapped
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel

from domain.keys import SurveyKey
from flows.naming import run_name
from mentorflow.bootstrap import current_services
from store.ledger import Outcome
from tasks.common import SIDE_EFFECT_WORKERS, collect, resolve_now
from tasks.followup import assess_meetings, collect_answers, plan_followup, send_survey
from tasks.reporting import md_table, publish_report, set_aside_section


class FollowupSummary(BaseModel):
    answers_new: int
    surveys_sent: int
    reminders_sent: int
    met: int
    completed: int
    flags: int
    uncertain: int
    failed: list[tuple[str, str]]


@flow(
    name="followup",
    flow_run_name=run_name("followup"),
    task_runner=ThreadPoolTaskRunner(max_workers=SIDE_EFFECT_WORKERS),  # type: ignore[arg-type]
)
def followup(as_of: datetime | None = None) -> FollowupSummary:
    """Collect answers first (so nobody who answered gets a reminder), then send what is due, then assess."""
    now = resolve_now(as_of, current_services().settings.timezone)
    answers = collect_answers(now)
    plan = plan_followup(now)
    keys = [SurveyKey(kind=d.kind, match_id=d.match_id, role=d.role) for d in plan.due]
    done, failed_keys = collect(keys, send_survey.map(plan.due, now=unmapped(now)))
    failed = [(str(k), reason) for k, reason in failed_keys]
    assessed = assess_meetings(plan, now)
    performed = [k for k, o in done.items() if o is Outcome.PERFORMED]
    summary = FollowupSummary(
        answers_new=answers.new,
        surveys_sent=sum(k.kind == "survey" for k in performed),
        reminders_sent=sum(k.kind == "reminder" for k in performed),
        met=assessed.met,
        completed=assessed.completed,
        flags=len(assessed.new_flags),
        uncertain=sum(o is Outcome.UNCERTAIN for o in done.values()),
        failed=failed,
    )
    publish_report(
        "followup-report",
        f"Follow-up as of {now:%Y-%m-%d %H:%M}",
        [
            md_table(
                ["new answers", "surveys sent", "reminders sent", "met", "completed", "uncertain", "failed"],
                [
                    (
                        summary.answers_new,
                        summary.surveys_sent,
                        summary.reminders_sent,
                        summary.met,
                        summary.completed,
                        summary.uncertain,
                        len(failed),
                    )
                ],
            ),
            "### New flags for the lead\n"
            + (
                md_table(["match", "flag", "detail"], [(f.match_id, f.kind, f.detail) for f in assessed.new_flags])
                if assessed.new_flags
                else "None."
            ),
            set_aside_section(answers.set_aside, "Survey answers set aside"),
            "### Failed sends\n" + (md_table(["key", "error"], failed) if failed else "None."),
        ],
    )
    return summary

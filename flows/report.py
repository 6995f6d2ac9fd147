"""The lead's one short weekly report (also left as this run's artifact)."""

from datetime import datetime

from prefect import flow
from pydantic import BaseModel

from flows.naming import run_name
from mentorflow.bootstrap import current_services
from tasks.common import resolve_now
from tasks.digest import send_lead_report
from tasks.reporting import publish_report


class ReportSummary(BaseModel):
    day: str
    outcome: str


@flow(name="report", flow_run_name=run_name("report"))
def report(as_of: datetime | None = None) -> ReportSummary:
    """Counts by status, set-aside records, waitlist, flags and uncertain side effects, to the lead."""
    now = resolve_now(as_of, current_services().settings.timezone)
    rendered, outcome = send_lead_report(now.date(), now)
    publish_report("lead-report", rendered.subject, [f"```\n{rendered.text}\n```"])
    return ReportSummary(day=f"{now.date():%Y-%m-%d}", outcome=outcome.value)

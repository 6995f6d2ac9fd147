"""The lead's one short weekly report: email and this run's artifact (right to left in Hebrew)."""

from datetime import datetime, timedelta

from prefect import flow
from pydantic import BaseModel

from config.rules import RulesError
from domain.report import build_report, report_markdown
from flows.naming import run_name
from mentorflow.bootstrap import Services, current_services, services_despite_broken_rules, use_services
from tasks.common import resolve_now
from tasks.digest import gather_report_facts, send_lead_report
from tasks.reporting import publish_report, read_failed_runs


class ReportSummary(BaseModel):
    day: str
    outcome: str
    needs_you: int = 0
    set_aside_for_lead: int = 0  # records set aside this week that the report asks the lead to deal with


@flow(name="report", flow_run_name=run_name("report"))
def report(as_of: datetime | None = None) -> ReportSummary:
    """Needs you (with commands and links), what changed, health vs last week; the week's failed runs from
    Prefect. A broken program rule does not stop it: the report goes out and names the rule."""
    broken: list[str] = []
    try:
        services: Services = current_services()
    except RulesError as exc:
        services, broken = services_despite_broken_rules(exc), exc.keys or ["config/program.yaml"]
    with use_services(services):
        now = resolve_now(as_of, services.settings.timezone)
        facts = gather_report_facts(now, broken)
        facts.failed_runs = read_failed_runs(now - timedelta(days=7), now, services.settings.timezone)
        doc = build_report(facts)
        rendered, outcome = send_lead_report(doc, now.date(), now)
        publish_report("lead-report", rendered.subject, [report_markdown(doc)], rtl=doc.language == "he")
    return ReportSummary(
        day=f"{now.date():%Y-%m-%d}",
        outcome=outcome.value,
        needs_you=len(doc.needs_you),
        set_aside_for_lead=facts.new_set_aside,
    )

"""Privacy: erase everyone who used an "erase my data" link, then apply the retention policy of the program
rules (``retention``) to the store, the form exports and Prefect's own runs and artifacts."""

from datetime import datetime

from prefect import flow
from pydantic import BaseModel

from domain.erasure import retention_due
from flows.naming import run_name
from mentorflow.bootstrap import current_services
from tasks.common import resolve_now
from tasks.erasure import (
    ErasuresReport,
    PrefectPruneReport,
    RetentionReport,
    apply_retention,
    carry_out_erasures,
    prune_prefect_runs,
)
from tasks.reporting import md_table, publish_report


class PrivacySummary(BaseModel):
    erasures: ErasuresReport
    retention: RetentionReport
    prefect: PrefectPruneReport | None


@flow(name="privacy", flow_run_name=run_name("privacy"), log_prints=False)
def privacy(as_of: datetime | None = None) -> PrivacySummary:
    """Erase on request, then delete what the retention policy says is due; a report of counts only."""
    svc = current_services()
    now = resolve_now(as_of, svc.settings.timezone)
    erasures = carry_out_erasures(now)
    retention = apply_retention(now)
    prefect = prune_prefect_runs(retention_due([], svc.rules.retention, now).prefect_before)
    publish_report(
        "privacy-report",
        f"Privacy as of {now:%Y-%m-%d %H:%M}",
        [
            md_table(
                ["what", "count"],
                [
                    ("erase links used", erasures.requested),
                    ("people forgotten", erasures.forgotten),
                    ("ended requests deleted", retention.ended_requests),
                    ("free-text answers removed", retention.answers_dropped),
                    ("form export rows blanked", retention.form_rows_blanked),
                    ("Prefect runs deleted", "no API" if prefect is None else prefect.flow_runs),
                ],
            )
        ],
    )
    return PrivacySummary(erasures=erasures, retention=retention, prefect=prefect)

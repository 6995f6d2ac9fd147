"""Digest: the community newsletter, once each digest period is complete."""

from datetime import datetime

from prefect import flow
from pydantic import BaseModel

from flows.naming import run_name
from mentorflow.bootstrap import current_services
from tasks.common import resolve_now
from tasks.digest import compose_digest, digest_period, publish_digest
from tasks.reporting import md_table, publish_report


class DigestSummary(BaseModel):
    published: bool
    period: str = ""
    outcome: str = ""


@flow(name="digest", flow_run_name=run_name("digest"))
def digest(as_of: datetime | None = None) -> DigestSummary:
    """Build and send the issue covering the period since the last one (nothing while it is incomplete)."""
    svc = current_services()
    now = resolve_now(as_of, svc.settings.timezone)
    with svc.store.unit_of_work() as uow:
        last_end = uow.digests.last_end()
    period = digest_period(now, last_end, svc.rules.digest.period_days, svc.settings.timezone)
    if period is None:
        return DigestSummary(published=False)
    start, end = period
    issue = compose_digest(start, end)
    outcome = publish_digest(issue, start, end, now)
    label = f"{issue.period_start:%Y-%m-%d} – {issue.period_end:%Y-%m-%d}"
    publish_report(
        "digest-report",
        f"Digest {label}",
        [
            md_table(
                ["new mentors", "matches made", "meetings held", "answers", "satisfied", "topics needing mentors"],
                [
                    (
                        len(issue.new_mentors),
                        issue.matches_made,
                        issue.meetings_held,
                        issue.answers,
                        "–" if issue.satisfied_pct is None else f"{issue.satisfied_pct:.0f}%",
                        ", ".join(t for t, _ in issue.topics_in_demand) or "none",
                    )
                ],
            )
        ],
    )
    return DigestSummary(published=True, period=label, outcome=outcome.value)

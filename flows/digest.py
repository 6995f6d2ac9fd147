"""Digest: the community newsletter. Each complete period's issue is composed and shown to the lead first, and
sent (to the opted-in, each in their language) once approved, or after the quiet period if the lead chose so."""

from datetime import datetime

from prefect import flow
from pydantic import BaseModel

from domain.digest import issue_period
from domain.markdown import md_code_block
from domain.newsletter import Preview
from flows.naming import run_name
from mentorflow.bootstrap import current_services
from tasks.common import resolve_now
from tasks.newsletter import (
    preview_newsletter,
    reader_counts,
    released_copies,
    render_preview,
    send_newsletter,
    send_preview,
    send_released_copies,
    skip_newsletter,
)
from tasks.preflight import check_credentials
from tasks.reporting import md_table, publish_report


class DigestSummary(BaseModel):
    published: bool
    period: str = ""
    outcome: str = ""
    awaiting_approval: bool = False
    skipped: bool = False
    sent: int = 0


def _numbers(preview: Preview, readers: dict[str, int]) -> str:
    issue = next(iter(preview.issues.values()))
    return md_table(
        ["new mentors", "matches made", "meetings held", "answers", "satisfied", "topics needing mentors", "readers"],
        [
            (
                len(issue.new_mentors),
                issue.matches_made,
                issue.meetings_held,
                issue.answers,
                "–" if issue.satisfied_pct is None else f"{issue.satisfied_pct:.0f}%",
                ", ".join(t for t, _ in issue.topics_in_demand) or "none",
                ", ".join(f"{n} in {lang}" for lang, n in readers.items()) or "nobody opted in",
            )
        ],
    )


@flow(name="digest", flow_run_name=run_name("digest"))
def digest(as_of: datetime | None = None) -> DigestSummary:
    """Preview, then (once approved) send the issue covering the period since the last one."""
    svc = current_services()
    rules = svc.rules.digest
    now = resolve_now(as_of, svc.settings.timezone)
    if released_copies(svc):  # copies of an issue already sent, left uncertain, that the lead checked and released
        check_credentials(mailer=True)
        send_released_copies(now)
    with svc.store.unit_of_work() as uow:
        last_end = uow.digests.last_end()
        waiting = uow.newsletter.waiting()
    held = (waiting.period_start, waiting.period_end) if waiting is not None else None
    period = issue_period(now, last_end, held, rules.period_days, svc.settings.timezone)
    if period is None:
        return DigestSummary(published=False)
    start, end = period
    preview = preview_newsletter(start, end, now)
    label = f"{start:%Y-%m-%d} – {preview.final_issue(rules.language).period_end:%Y-%m-%d}"
    decision = preview.decide(now, rules.approval, rules.quiet_period_hours)
    if decision == "skip":
        skip_newsletter(preview, now)
        publish_report(
            "digest-report",
            f"Digest {label}: not sent",
            ["Nothing happened in the period worth an issue; the next one covers what comes."],
        )
        return DigestSummary(published=False, period=label, skipped=True)
    if decision == "wait":
        readers = reader_counts(svc)  # only the preview shows them (every reader loaded: not for a skip)
        send_preview(preview, now)
        when = (
            "after you approve it: `mentorflow digest approve` (add `--quotes ID,ID` for the quotes to include)"
            if rules.approval == "lead"
            else f"by itself {rules.quiet_period_hours} h after this preview, unless you stop it; "
            "`mentorflow digest approve` sends it at the next run"
        )
        quotes = (
            md_table(["id", "quote (consented, scrubbed)"], [(q.id, q.text) for q in preview.quotes])
            if preview.quotes
            else "No quotes this time."
        )
        pages = [f"#### {lang}\n" + md_code_block(page.html) for lang, page in render_preview(preview).items()]
        publish_report(
            "digest-preview",
            f"Digest {label}: preview",
            [
                _numbers(preview, readers),
                f"It goes out {when}.",
                "### Quotes you may approve\n" + quotes,
                "### The issue (HTML as readers get it, without their unsubscribe link)",
                *pages,
            ],
        )
        return DigestSummary(published=False, period=label, awaiting_approval=True)
    check_credentials(mailer=True)
    report = send_newsletter(preview, now)
    publish_report(
        "digest-report",
        f"Digest {label}",
        [
            _numbers(preview, report.readers),
            md_table(["sent", "already sent", "uncertain"], [(report.sent, report.already_sent, report.uncertain)]),
        ],
    )
    return DigestSummary(published=True, period=label, outcome="sent", sent=report.sent)

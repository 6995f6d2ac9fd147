"""Plain-text views for the terminal (``mentorflow status`` and the demo's summary)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from config.settings import Settings
from domain.models import Match, Meeting, MentoringRequest, SurveyAnswer
from domain.selfservice import TakenAction
from store.reporting import StatusReport


def render_request(
    request: MentoringRequest,
    matches: list[Match],
    meetings: dict[int, Meeting | None],
    sent: list[str],
    answers: list[SurveyAnswer],
) -> str:
    """One request for the lead: status, timeline with who and why, matches, meetings, emails, survey answers."""
    lines = [
        f"Request {request.id}: {request.status.value}" + (f" ({request.wait_reason})" if request.wait_reason else "")
    ]
    lines.append("Timeline:")
    lines += [
        f"  {c.at:%Y-%m-%d %H:%M} {c.from_status.value if c.from_status else '-'} -> {c.to_status.value}"
        f" by {c.actor}" + (f": {c.note}" if c.note else "")
        for c in request.timeline
    ]
    lines.append("Matches:")
    for m in matches:
        meeting = meetings.get(m.id)
        when = f", first meeting {meeting.start:%Y-%m-%d %H:%M %Z}" if meeting else ""
        lines.append(f"  match {m.id} with mentor {m.mentor_email} ({'on' if m.active else 'ended'}){when}")
    if not matches:
        lines.append("  none")
    lines.append("Emails sent (ledger keys): " + (", ".join(sent) or "none"))
    lines.append("Survey answers:")
    lines += [
        f"  match {a.match_id} {a.role.value}: satisfaction {a.satisfaction or '-'}/5, met {a.met}, "
        f"in touch {a.still_in_touch}"
        for a in answers
    ] or ["  none"]
    return "\n".join(lines)


def render_where(settings: Settings) -> str:
    """Where this program's state and inputs are (the same from any folder; no password shown)."""
    from sqlalchemy.engine import make_url

    lines = [f"Data folder: {settings.data_dir.resolve()}  (MENTORFLOW_DATA_DIR)"]
    lines.append(f"Store: {make_url(settings.store_url()).render_as_string(hide_password=True)}")
    if settings.roster == "local":
        lines.append(f"Mentor roster: {settings.roster_file().resolve()}")
    if settings.intake == "local":
        lines.append(f"Mentee form exports: {settings.inbox().resolve()}")
    return "\n".join(lines)


def render_self_service(
    paused_requests: Mapping[int, datetime],
    paused_mentors: int,
    capacities: int,
    recent: Sequence[TakenAction],
    tz: str = "Asia/Jerusalem",
) -> str:
    """What mentees and mentors asked through their links: pauses in effect (by request id), and the last
    week's actions by outcome (no personal data)."""
    zone = ZoneInfo(tz)
    until = ", ".join(f"request {r} until {u.astimezone(zone):%Y-%m-%d}" for r, u in sorted(paused_requests.items()))
    lines = [f"Self-service: {len(paused_requests)} mentee requests paused" + (f" ({until})" if until else "")]
    lines.append(f"  {paused_mentors} mentors paused, {capacities} mentors set their own capacity")
    outcomes = Counter(f"{a.role.value} {a.action.value}: {a.outcome}" for a in recent)
    lines += [f"  last 7 days, {k}: {n}" for k, n in sorted(outcomes.items())]
    return "\n".join(lines)


def render_status(report: StatusReport) -> str:
    """The lead's at-a-glance status: no personal data, only ids, sources and reasons."""
    lines = ["Requests by status:"]
    lines += [f"  {status:<11} {n}" for status, n in report.requests_by_status.items() if n]
    lines.append(f"Mentors: {report.mentors_active} active, {report.mentors_paused} paused")
    lines.append(f"Set aside ({len(report.set_aside)}):")
    lines += [f"  [{s.kind}] {s.source} {s.ref}: {'; '.join(s.reasons)}" for s in report.set_aside] or ["  none"]
    lines.append(f"Waiting ({len(report.waiting)}):")
    lines += [f"  request {rid}: {reason}" for rid, reason in report.waiting] or ["  none"]
    lines.append(f"Flags from follow-up ({len(report.flags)}):")
    lines += [f"  flag {f.id} match {f.match_id} {f.kind}: {f.detail}" for f in report.flags] or ["  none"]
    if report.flags:
        lines.append("  (dealt with one? `mentorflow flags done ID`)")
    ledger = ", ".join(f"{k} {v}" for k, v in sorted(report.ledger_by_status.items())) or "empty"
    lines.append(f"Side effects (ledger): {ledger}")
    if report.uncertain_keys:
        lines.append("  uncertain (check, then `mentorflow ledger release KEY`): " + ", ".join(report.uncertain_keys))
    lines += [f"  failed {key}: {error}" for key, error in report.failed_keys]
    lines.append(f"Digests written: {report.digests}")
    phrases = report.unmapped_phrases
    lines.append(f"Roster phrases mapped to no topic ({len(phrases)}; an alias in config/program.yaml maps them):")
    lines += [f"  {p.phrase} ({p.mentors} mentor{'s' if p.mentors != 1 else ''})" for p in phrases] or ["  none"]
    return "\n".join(lines)

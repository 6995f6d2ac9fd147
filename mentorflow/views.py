"""Plain-text views for the terminal (``mentorflow status`` and the demo's summary)."""

from __future__ import annotations

from config.settings import Settings
from store.reporting import StatusReport


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
    lines += [f"  match {f.match_id} {f.kind}: {f.detail}" for f in report.flags] or ["  none"]
    ledger = ", ".join(f"{k} {v}" for k, v in sorted(report.ledger_by_status.items())) or "empty"
    lines.append(f"Side effects (ledger): {ledger}")
    if report.uncertain_keys:
        lines.append("  uncertain (check, then `mentorflow ledger release KEY`): " + ", ".join(report.uncertain_keys))
    lines += [f"  failed {key}: {error}" for key, error in report.failed_keys]
    lines.append(f"Digests written: {report.digests}")
    return "\n".join(lines)

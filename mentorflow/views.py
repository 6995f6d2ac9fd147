"""Plain-text views for the terminal (``mentorflow status`` and the demo's summary)."""

from __future__ import annotations

from store.reporting import StatusReport


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
    return "\n".join(lines)

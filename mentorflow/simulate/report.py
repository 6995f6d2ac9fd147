"""What a simulation shows: the weekly table (rich), a PNG chart, JSON and a markdown summary."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mentorflow.simulate.metrics import Week
from mentorflow.simulate.run import SimResult

TARGET_LEAD_MINUTES = 15

COLUMNS = (
    ("week", "week"),
    ("applications", "applications"),
    ("matched", "matched"),
    ("waiting", "waiting"),
    ("time to match median (days)", "time_to_match_median_days"),
    ("p90 (days)", "time_to_match_p90_days"),
    ("meetings held", "meetings_held"),
    ("no-shows", "no_shows"),
    ("survey response %", "survey_response_rate_pct"),
    ("proposals to approve", "approvals"),
    ("flags", "flags"),
    ("uncertain", "uncertain"),
    ("fix-its", "fix_its"),
    ("end-match", "end_matches"),
    ("ended by a side", "ended_by_a_side"),
    ("lead minutes", "lead_minutes"),
)


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def weeks_table(weeks: Sequence[Week], title: str = "") -> Table:
    table = Table(title=title or None)
    for header, _ in COLUMNS:
        table.add_column(header, justify="right")
    for w in weeks:
        table.add_row(*(_cell(getattr(w, attr)) for _, attr in COLUMNS))
    return table


def weeks_markdown(weeks: Sequence[Week]) -> str:
    lines = ["| " + " | ".join(h for h, _ in COLUMNS) + " |", "|" + "---:|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_cell(getattr(w, a)) for _, a in COLUMNS) + " |" for w in weeks]
    return "\n".join(lines)


def summary_lines(result: SimResult) -> list[str]:
    cfg = result.config
    lines = [
        f"mentorflow simulate: {cfg.weeks} weeks, {cfg.mentees} mentees, {cfg.mentors} mentors, seed {cfg.seed}, "
        f"faults {cfg.faults:.0%}: {result.flow_runs} flow runs in {result.seconds:.0f} s",
        f"checked invariants: {', '.join(c.id for c in result.checked)}",
        "feasible mentees matched within 7 days: "
        + (
            f"{result.feasible_pct:.1f}% ({result.feasible_matched} of {result.feasible_of})"
            if result.feasible_pct is not None
            else "none had 7 days yet"
        ),
        f"lead minutes per week: max {max((w.lead_minutes for w in result.weeks), default=0):g} "
        f"(target ≤ {TARGET_LEAD_MINUTES})",
    ]
    if result.faults_injected:
        lines.append("faults injected: " + ", ".join(f"{k} {v}" for k, v in sorted(result.faults_injected.items())))
    if result.failed_runs:
        lines.append("flow runs failed for good: " + ", ".join(f"{k} {v}" for k, v in result.failed_runs.items()))
        lines += [f"  {f}" for f in result.failures[:10]]
    if not result.violations:
        lines.append("violations: none — every checked invariant held after every run")
    else:
        head = "stopped at the first violation" if result.stopped_early else f"{len(result.violations)} violations"
        lines.append(f"violations: {head}")
        lines += [f"  {v.line()}" for v in result.violations[:40]]
        if len(result.violations) > 40:
            lines.append(f"  … and {len(result.violations) - 40} more (all in --json)")
    return lines


def print_result(result: SimResult, console: Console | None = None) -> None:
    console = console or Console()
    console.print(weeks_table(result.weeks, "Week by week"))
    for line in summary_lines(result):
        console.print(line, highlight=False, markup=False)


def write_json(result: SimResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_json(), indent=2, ensure_ascii=False), encoding="utf-8")


def write_chart(weeks_by_seed: Sequence[Sequence[Week]], path: Path, title: str) -> None:
    """Applications, matched and waiting per week (left), the lead's minutes against the target (right);
    with several seeds, the mean and the range across seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = max(len(ws) for ws in weeks_by_seed)
    x = list(range(1, n + 1))

    def series(attr: str) -> tuple[list[float], list[float], list[float]]:
        cols = [[float(getattr(ws[i], attr) or 0) for ws in weeks_by_seed if i < len(ws)] for i in range(n)]
        return [sum(c) / len(c) for c in cols], [min(c) for c in cols], [max(c) for c in cols]

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for attr, label in (
        ("applications", "applications"),
        ("matched", "matched"),
        ("waiting", "waiting"),
        ("meetings_held", "meetings held"),
    ):
        mean, lo, hi = series(attr)
        left.plot(x, mean, marker="o", label=label)
        if len(weeks_by_seed) > 1:
            left.fill_between(x, lo, hi, alpha=0.15)
    left.set_xlabel("week")
    left.set_ylabel("people")
    left.set_title("Program")
    left.legend()
    mean, lo, hi = series("lead_minutes")
    right.bar(x, mean, color="tab:purple", label="lead minutes (mean)")
    if len(weeks_by_seed) > 1:
        right.errorbar(
            x,
            mean,
            yerr=[[m - a for m, a in zip(mean, lo, strict=True)], [b - m for m, b in zip(mean, hi, strict=True)]],
            fmt="none",
            ecolor="black",
        )
    right.axhline(TARGET_LEAD_MINUTES, color="tab:red", linestyle="--", label=f"target {TARGET_LEAD_MINUTES} min")
    right.set_xlabel("week")
    right.set_ylabel("minutes")
    right.set_title("The lead's time (estimate)")
    right.legend()
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)

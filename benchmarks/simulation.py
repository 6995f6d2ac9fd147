"""``make simulate``: the full program simulation over several seeds, with connector faults.

Runs ``mentorflow simulate``'s simulation for each seed in one process (one Prefect server for all of them),
and writes ``benchmarks/results/simulation.json`` (every seed's figures and violations),
``simulation.md`` (the weekly table averaged over seeds, targets against what the code gives) and
``simulation.png`` (mean and range across seeds).

    python benchmarks/simulation.py [--jobs 2] [--seeds 10] [--weeks 12] [--mentees 100] [--mentors 30] [--faults 0.1]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from mentorflow.simulate.metrics import Week
from mentorflow.simulate.report import TARGET_LEAD_MINUTES, summary_lines, weeks_markdown, write_chart
from mentorflow.simulate.run import SimConfig, SimResult, prefect_quiet, simulate

RESULTS = Path(__file__).resolve().parent / "results"


def mean_weeks(results: list[SimResult]) -> list[Week]:
    """Each week's figures averaged over the seeds (None where no seed had a value)."""
    out = []
    for i, first in enumerate(results[0].weeks):
        w = Week(week=first.week, start=first.start)
        for attr in vars(first):
            if attr in {"week", "start", "lead_actions"}:
                continue
            values = [getattr(r.weeks[i], attr) for r in results if getattr(r.weeks[i], attr) is not None]
            setattr(w, attr, round(statistics.mean(values), 1) if values else None)
        out.append(w)
    return out


def markdown(results: list[SimResult], seconds: float) -> str:
    cfg = results[0].config
    violations = Counter(v.check for r in results for v in r.violations)
    seeds_with = Counter(c for r in results for c in {v.check for v in r.violations})
    feasible = [r.feasible_pct for r in results if r.feasible_pct is not None]
    lead_max = max(w.lead_minutes for r in results for w in r.weeks)
    lead_mean = statistics.mean(w.lead_minutes for r in results for w in r.weeks)
    lines = [
        f"# Program simulation: {len(results)} seeds × {cfg.weeks} weeks, {cfg.mentees} mentees, "
        f"{cfg.mentors} mentors, {cfg.faults:.0%} connector faults",
        "",
        f"{sum(r.flow_runs for r in results)} Prefect flow runs in {seconds:.0f} s of wall time "
        f"({sum(r.seconds for r in results) / max(1, sum(r.flow_runs for r in results)):.2f} s per run in its "
        "process, server start included; seeds run side by side).",
        "",
        "## Targets and what today's code gives",
        "",
        "| target | result |",
        "|---|---|",
        f"| the lead is asked for ≤ {TARGET_LEAD_MINUTES} min a week | mean {lead_mean:.1f} min, worst week "
        f"{lead_max:.1f} min {'(met)' if lead_max <= TARGET_LEAD_MINUTES else '(not met)'} |",
        "| every mentee with a feasible mentor is matched within 7 days | "
        + (
            f"{min(feasible):.1f}–{max(feasible):.1f} % by seed (mean {statistics.mean(feasible):.1f} %)"
            if feasible
            else "no mentee had 7 days"
        )
        + " |",
        f"| 0 invariant violations over {len(results)} seeds with {cfg.faults:.0%} faults | "
        f"{sum(violations.values())} violations |",
        "",
        "## Violations by check (count; seeds where it happened)",
        "",
        "| check | violations | seeds |",
        "|---|---:|---:|",
        *[f"| {c} | {n} | {seeds_with[c]} |" for c, n in sorted(violations.items())],
        "",
        "## Week by week (mean over seeds)",
        "",
        weeks_markdown(mean_weeks(results)),
        "",
        "## First seed in detail",
        "",
        "```",
        *summary_lines(results[0]),
        "```",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--mentees", type=int, default=100)
    parser.add_argument("--mentors", type=int, default=30)
    parser.add_argument("--faults", type=float, default=0.1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--jobs", type=int, default=2, help="seeds run side by side, each process with its own server")
    args = parser.parse_args()
    began = time.perf_counter()
    configs = [
        SimConfig(
            weeks=args.weeks,
            mentees=args.mentees,
            mentors=args.mentors,
            seed=seed,
            faults=args.faults,
            keep_going=True,
        )
        for seed in range(args.first_seed, args.first_seed + args.seeds)
    ]
    results: list[SimResult] = []
    # spawn: each process starts its own Prefect (a forked one would share the parent's clients)
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for result in pool.map(run_seed, configs):
            results.append(result)
            print(
                f"seed {result.config.seed}: {result.flow_runs} runs in {result.seconds:.0f} s, "
                f"{len(result.violations)} violations, feasible within 7 days {result.feasible_pct} %, "
                f"lead max {max(w.lead_minutes for w in result.weeks):g} min",
                flush=True,
            )
            write(results, time.perf_counter() - began, args)  # after every seed: a long run keeps what it did
    print((args.out / "simulation.md").read_text(encoding="utf-8"))


def run_seed(config: SimConfig) -> SimResult:
    """One seed in a process of its own (its own Prefect server, started once for the seeds it runs)."""
    with prefect_quiet():
        return simulate(config)


def write(results: list[SimResult], seconds: float, args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "simulation.json").write_text(
        json.dumps(
            {"seconds": round(seconds, 1), "seeds": [r.to_json() for r in results]}, indent=2, ensure_ascii=False
        ),
        encoding="utf-8",
    )
    (args.out / "simulation.md").write_text(markdown(results, seconds), encoding="utf-8")
    write_chart(
        [r.weeks for r in results],
        args.out / "simulation.png",
        f"mentorflow simulate: {len(results)} seeds, {args.weeks} weeks, {args.faults:.0%} faults",
    )


if __name__ == "__main__":
    main()

"""Google API calls per endpoint for the invite stage of ~1,000 matches, and for a later poll that finds nothing.

Usage: python benchmarks/google_calls.py [--mentees 1100] [--mentors 450] [--baseline results/google_calls_main.json]

Intake, roster and calendar are Google (the loopback emulator, which counts every request by operation); the
mailer is the local outbox. Stage 1 runs intake → match (auto approval) → invite on a fresh store; stage 2 runs
the same flows an hour later with nothing new (the poll that should cost one list call per form and one
``events.list`` for declines). Each count is printed beside its floor and, with ``--baseline``, beside the
figures measured on ``main`` (``--out`` writes this run's figures as JSON for that).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.program import DAY0, emulator_settings, prefect_server, seed_forms  # noqa: E402

ENDPOINTS = [
    "freebusy.query",
    "events.insert",
    "events.get",
    "events.list",
    "events.patch",
    "forms.get",
    "responses.list",
]


def count_scheduled(store: Any) -> int:
    """Scheduled requests, through the store's unit of work (or, on a store from before it, its one class)."""
    from domain.models import RequestStatus

    if hasattr(store, "unit_of_work"):
        with store.unit_of_work() as uow:
            return len(uow.requests.all(RequestStatus.SCHEDULED))
    return len(store.requests(RequestStatus.SCHEDULED))


def run(mentees: int, mentors: int, workdir: Path) -> dict[str, Any]:
    from flows.intake import intake
    from flows.invite import invite
    from flows.match import match
    from mentorflow.bootstrap import build_services, use_services
    from tests.emulators.google import GoogleEmulator
    from tests.emulators.server import shared

    google = shared(GoogleEmulator)
    google.reset()
    seed_forms(google, mentees, mentors, mentor_topics=5, capacity=3)
    settings = emulator_settings(workdir, google, http_timeout_seconds=30)
    services = build_services(settings)
    stages: dict[str, Any] = {}
    with use_services(services):
        intake(DAY0)
        match(DAY0, approval="auto")
        google.counts.clear()
        started = time.perf_counter()
        invite(DAY0)
        stages["invite"] = {"counts": dict(google.counts), "seconds": round(time.perf_counter() - started, 1)}
        scheduled = count_scheduled(services.store)
        people = {e.casefold() for ev in google.events().values() for e in (a["email"] for a in ev["attendees"])}
        google.counts.clear()
        started = time.perf_counter()
        later = DAY0 + timedelta(hours=1)
        intake(later)
        match(later, approval="auto")
        invite(later)
        stages["poll"] = {"counts": dict(google.counts), "seconds": round(time.perf_counter() - started, 1)}
    return {"mentees": mentees, "mentors": mentors, "matches": scheduled, "calendars": len(people), "stages": stages}


def floors(result: dict[str, Any]) -> dict[str, dict[str, int]]:
    """The fewest calls each endpoint needs: one insert per match, free/busy for up to 50 calendars a query."""
    return {
        "invite": {
            "freebusy.query": math.ceil(result["calendars"] / 50),
            "events.insert": result["matches"],
            "events.get": 0,
            "events.list": 1,
            "events.patch": 0,
            "forms.get": 0,
            "responses.list": 0,
        },
        "poll": {
            "freebusy.query": 0,
            "events.insert": 0,
            "events.get": 0,
            "events.list": 1,
            "events.patch": 0,
            "forms.get": 2,
            "responses.list": 2,
        },
    }


def table(result: dict[str, Any], baseline: dict[str, Any] | None) -> str:
    floor = floors(result)
    lines = [
        f"{result['matches']} matches ({result['mentees']} mentees, {result['mentors']} mentors, "
        f"{result['calendars']} calendars)",
        "",
    ]
    head = "| stage | endpoint | floor | now |" + (" main |" if baseline else "")
    lines += [head, "|---|---|---:|---:|" + ("---:|" if baseline else "")]
    for stage in ("invite", "poll"):
        counts = Counter(result["stages"][stage]["counts"])
        base = Counter(baseline["stages"][stage]["counts"]) if baseline else None
        for endpoint in ENDPOINTS:
            row = f"| {stage} | {endpoint} | {floor[stage][endpoint]} | {counts[endpoint]} |"
            lines.append(row + (f" {base[endpoint]} |" if base is not None else ""))
        seconds = f"| {stage} | (wall seconds; a shared machine, noisy) | – | {result['stages'][stage]['seconds']} |"
        lines.append(seconds + (f" {baseline['stages'][stage]['seconds']} |" if baseline else ""))
    lines += [
        "",
        "The invite stage's floor for freebusy.query leaves out the one credential check before the first "
        "side effect (a freebusy.query of the organizer's calendar).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentees", type=int, default=1100)
    parser.add_argument("--mentors", type=int, default=450)
    parser.add_argument("--baseline", type=Path, help="figures measured on main (JSON written by --out)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "google_calls.json")
    parser.add_argument("--show", action="store_true", help="print the table of the figures in --out, no run")
    args = parser.parse_args()
    baseline = json.loads(args.baseline.read_text(encoding="utf-8")) if args.baseline else None
    if args.show:
        print(table(json.loads(args.out.read_text(encoding="utf-8")), baseline))
        return

    with tempfile.TemporaryDirectory() as tmp, prefect_server(Path(tmp), startup_timeout=120):
        result = run(args.mentees, args.mentors, Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(table(result, baseline))


if __name__ == "__main__":
    main()

"""Submission-to-invitation latency through a real Prefect server, two process workers and the event chain.

A Prefect server with basic auth and the program's store (both on PostgreSQL when MENTORFLOW_TEST_POSTGRES_URL
is set, as in production, else both on SQLite), the program prepared by ``mentorflow setup-prefect``, two
workers, Google Forms/Calendar and SendGrid as the emulators, schedules off. The form watch looks every 60 s,
as in production. Mentees answer at spread-out moments; for each, the time from the answer reaching the form
to SendGrid accepting the invitation to that mentee, and where those seconds went.

    MENTORFLOW_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/latency.py [--answers 4] [--every 60]

Compared with the target (120 s) and with the schedule-only chain before the event chain (intake every
15 min, match at 09:00, invite at 09:30: from minutes to days).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.emulators.google import GoogleEmulator  # noqa: E402
from tests.emulators.sendgrid import SendGridEmulator  # noqa: E402
from tests.emulators.server import shared  # noqa: E402
from tests.stack import Stack  # noqa: E402
from tests.test_production import SECRETS, invitations, program_env, seed_program, submit  # noqa: E402

TARGET_SECONDS = 120.0
STAGES = ("intake", "match", "invite")  # the triggered runs, in chain order
EMITS = {"intake": "mentorflow.applications.stored", "match": "mentorflow.matches.approved", "invite": None}
RUN_STATES = (  # a triggered run's states, and what the time before each one was spent on
    ("Scheduled", "run created (event → automation → run)"),
    ("Pending", "picked up by a worker (poll)"),
    ("Running", "flow started (process start, imports)"),
)


def occurred(event: dict[str, object]) -> float:
    return datetime.fromisoformat(str(event["occurred"]).replace("Z", "+00:00")).timestamp()


def chain_events(stack: Stack) -> list[dict[str, object]]:
    """mentorflow's own events and every flow run's state changes, oldest first (ids and names only)."""
    body: dict[str, object] = {
        "filter": {"event": {"prefix": ["mentorflow.", "prefect.flow-run."]}, "order": "ASC"},
        "limit": 50,
    }
    page = stack.api("POST", "/events/filter", body)
    events = list(page["events"])  # type: ignore[index]
    while page.get("next_page"):  # type: ignore[union-attr]
        page = stack.api("GET", str(page["next_page"]).split("/api", 1)[1])  # type: ignore[index]
        events += page["events"]  # type: ignore[index]
    return sorted(events, key=occurred)


def flow_of(event: dict[str, object]) -> str | None:
    for related in event.get("related", []):  # type: ignore[union-attr]
        if related.get("prefect.resource.role") == "flow":
            return str(related.get("prefect.resource.name"))
    return None


def hops(events: list[dict[str, object]], answered: float, accepted: float) -> list[tuple[str, float]]:
    """Where one answer's seconds went: each event and run state it passed through, first after the last."""
    marks: list[tuple[str, float]] = [("answer", answered)]

    def first(name: str, after: float, flow: str | None = None) -> float | None:
        for e in events:
            if e["event"] == name and occurred(e) >= after and (flow is None or flow_of(e) == flow):
                return occurred(e)
        return None

    t = answered
    seen = first("mentorflow.form.answered", t)
    stages = STAGES
    if seen is None:  # the watch ran intake in its own process: an intake run starts there, then stores
        stages = STAGES[1:]
        seen = first("mentorflow.applications.stored", t)
        # the run that stored it started last before that (it may have started just before the answer came:
        # it reads the form after starting)
        began = max(
            (
                occurred(e)
                for e in events
                if e["event"] == "prefect.flow-run.Running" and flow_of(e) == "intake" and occurred(e) <= (seen or 0)
            ),
            default=None,
        )
        if began is not None:
            marks.append(("watch saw it: intake run started in the watch's process", max(began, t)))
        if seen is not None:
            marks.append(("intake (in the watch): emitted applications.stored", seen))
    else:
        marks.append(("watch saw it", seen))
    t = seen or t
    for stage in stages:
        for state, label in RUN_STATES:
            at = first(f"prefect.flow-run.{state}", t, stage)
            if at is not None:
                marks.append((f"{stage}: {label}", at))
                t = at
        emitted = EMITS[stage]
        if emitted:
            at = first(emitted, t)
            if at is not None:
                marks.append((f"{stage}: emitted {emitted.removeprefix('mentorflow.')}", at))
                t = at
    marks.append(("SendGrid accepted the invitation", accepted))
    return [(label, at - prev) for (label, at), (_, prev) in zip(marks[1:], marks, strict=False)]


@contextlib.contextmanager
def databases() -> Iterator[tuple[str | None, str | None]]:
    """With MENTORFLOW_TEST_POSTGRES_URL, the production profile's two PostgreSQL databases (Prefect's, the
    store's), made for this run and dropped after it; else (None, None): SQLite for both."""
    base = os.environ.get("MENTORFLOW_TEST_POSTGRES_URL")
    if not base:
        yield None, None
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    names = [f"latency_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("prefect", "store")]
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        prefect = make_url(base).set(drivername="postgresql+asyncpg", database=names[0])
        store = make_url(base).set(database=names[1])
        yield prefect.render_as_string(hide_password=False), store.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def invited_at(sendgrid: SendGridEmulator, address: str) -> bool:
    return any(t["email"] == address for b in invitations(sendgrid) for p in b["personalizations"] for t in p["to"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=4, help="answers, submitted one at a time")
    parser.add_argument("--every", type=float, default=60.0, help="the watch's look interval (production: 60)")
    parser.add_argument("--gap", type=float, default=37.0, help="seconds between answers (not a multiple of --every)")
    args = parser.parse_args()

    google, sendgrid = shared(GoogleEmulator), shared(SendGridEmulator)
    google.reset()
    sendgrid.reset()
    seed_program(google)
    load_before = os.getloadavg()
    results: list[float] = []
    moments: dict[str, tuple[float, float]] = {}  # address -> (answered, accepted), wall clock
    with tempfile.TemporaryDirectory(prefix="mentorflow-latency-") as tmp, databases() as (prefect_db, store_db):
        home = Path(tmp)
        store = store_db or f"sqlite:///{home / 'mentorflow.db'}"
        env = program_env(home, store, google, sendgrid)
        print(f"Prefect server and store on {'PostgreSQL' if prefect_db else 'SQLite'}", flush=True)
        with Stack(home=home, program_env=env, worker_hidden=SECRETS, prefect_database_url=prefect_db) as stack:
            started = time.monotonic()
            stack.start()
            stack.pause_schedules()
            stack.wait_for_workers(2)
            print(f"stack up in {time.monotonic() - started:.0f} s (server, setup-prefect, 2 workers)", flush=True)
            hours = (args.answers * args.gap + 240) / 3600
            stack.run_deployment("intake-watch/intake-watch", {"hours": hours, "every_seconds": args.every})
            time.sleep(args.every / 2)
            pending: dict[str, float] = {}
            for i in range(args.answers):
                submit(google, i)
                pending[f"mentee{i}@example.org"] = time.monotonic()
                moments[f"mentee{i}@example.org"] = (time.time(), 0.0)
                next_at = time.monotonic() + args.gap
                while time.monotonic() < next_at or (i == args.answers - 1 and pending):
                    for address, t0 in list(pending.items()):
                        if invited_at(sendgrid, address):
                            results.append(time.monotonic() - t0)
                            moments[address] = (moments[address][0], time.time())
                            print(f"{address.split('@')[0]}: invited {results[-1]:.1f} s after answering", flush=True)
                            del pending[address]
                    if i == args.answers - 1 and pending and time.monotonic() - min(pending.values()) > 600:
                        break
                    time.sleep(0.5)
            try:
                runs = stack.flow_runs()
                events = chain_events(stack)
            except Exception as exc:  # the figures above stand; the run list is a courtesy
                print(f"(run list unavailable: {type(exc).__name__})")
                runs, events = [], []
    breakdown = {a: hops(events, t0, t1) for a, (t0, t1) in moments.items() if t1 and events}
    for address, steps in breakdown.items():
        print(f"\n{address.split('@')[0]}: where the seconds went")
        for label, seconds in steps:
            print(f"  {seconds:6.1f}  {label}")
    # After the watch saw an answer, the chain; before it, where in the watch's minute the answer fell. The worst
    # an answer can wait is one whole minute (it came just after a look) plus the slowest chain.
    chains = [sum(sec for _, sec in steps[1:]) for steps in breakdown.values()]
    load = (load_before[0], os.getloadavg()[0])
    print()
    print(f"load average (1 min) at start and end: {load[0]:.1f}, {load[1]:.1f}")
    print("| measure | seconds | target | before (schedules only) |")
    print("|---|---:|---:|---|")
    if results:
        print(
            f"| median submission → invitation accepted | {statistics.median(results):.0f} | "
            f"{TARGET_SECONDS:.0f} | up to 15 min + the next 09:00/09:30 (Thursday evening → Sunday) |"
        )
        print(f"| worst of {len(results)} | {max(results):.0f} | {TARGET_SECONDS:.0f} | |")
    if chains:
        print(f"| worst chain (the watch saw it, or its intake run started → accepted) | {max(chains):.0f} | | |")
        print(
            f"| worst possible (a whole look interval + the worst chain) | {args.every + max(chains):.0f} | "
            f"{TARGET_SECONDS:.0f} | |"
        )
    print(f"| answers never invited | {args.answers - len(results)} | 0 | |")
    print()
    hops_json = {a.split("@")[0]: {label: round(sec, 1) for label, sec in steps} for a, steps in breakdown.items()}
    summary = {
        "load": [round(x, 1) for x in load],
        "latencies": [round(r, 1) for r in results],
        "chains": [round(c, 1) for c in chains],
        "runs": [r["name"] for r in runs],
        "hops": hops_json,
    }
    print(json.dumps(summary, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

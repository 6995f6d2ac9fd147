"""Submission-to-invitation latency through a real Prefect server, two process workers and the event chain.

A Prefect server (basic auth; PostgreSQL when MENTORFLOW_TEST_POSTGRES_URL is set, else SQLite), the program
prepared by ``mentorflow setup-prefect``, two workers, Google Forms/Calendar and SendGrid as the emulators,
schedules off. The form watch looks every 60 s, as in production. Mentees answer at spread-out moments; for
each, the time from the answer reaching the form to SendGrid accepting the invitation to that mentee.

    .venv/bin/python benchmarks/latency.py [--answers 4] [--every 60]

Compared with the target (120 s) and with the schedule-only chain before the event chain (intake every
15 min, match at 09:00, invite at 09:30: from minutes to days).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.emulators.google import GoogleEmulator  # noqa: E402
from tests.emulators.sendgrid import SendGridEmulator  # noqa: E402
from tests.emulators.server import shared  # noqa: E402
from tests.stack import Stack  # noqa: E402
from tests.test_production import SECRETS, invitations, program_env, seed_program, submit  # noqa: E402

TARGET_SECONDS = 120.0


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
    results: list[float] = []
    with tempfile.TemporaryDirectory(prefix="mentorflow-latency-") as tmp:
        home = Path(tmp)
        store = f"sqlite:///{home / 'mentorflow.db'}"
        env = program_env(home, store, google, sendgrid)
        with Stack(home=home, program_env=env, worker_hidden=SECRETS) as stack:
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
                next_at = time.monotonic() + args.gap
                while time.monotonic() < next_at or (i == args.answers - 1 and pending):
                    for address, t0 in list(pending.items()):
                        if invited_at(sendgrid, address):
                            results.append(time.monotonic() - t0)
                            print(f"{address.split('@')[0]}: invited {results[-1]:.1f} s after answering", flush=True)
                            del pending[address]
                    if i == args.answers - 1 and pending and time.monotonic() - min(pending.values()) > 600:
                        break
                    time.sleep(0.5)
            try:
                runs = stack.flow_runs()
            except Exception as exc:  # the figures above stand; the run list is a courtesy
                print(f"(run list unavailable: {type(exc).__name__})")
                runs = []
    print()
    print("| measure | seconds | target | before (schedules only) |")
    print("|---|---:|---:|---|")
    if results:
        print(
            f"| median submission → invitation accepted | {statistics.median(results):.0f} | "
            f"{TARGET_SECONDS:.0f} | up to 15 min + the next 09:00/09:30 (Thursday evening → Sunday) |"
        )
        print(f"| worst of {len(results)} | {max(results):.0f} | {TARGET_SECONDS:.0f} | |")
    print(f"| answers never invited | {args.answers - len(results)} | 0 | |")
    print()
    print(json.dumps({"latencies": [round(r, 1) for r in results], "runs": [r["name"] for r in runs]}, indent=1))


if __name__ == "__main__":
    main()

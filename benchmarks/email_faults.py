"""Email fault campaign: the pipeline against SendGrid misbehaving as real services do, killed and rerun.

Mentees and mentors come through the Google emulator (no faults there); every SendGrid call meets a share of
faults of every kind: 429 with ``X-RateLimit-Reset``, a 5xx before or after the message was accepted, the
connection dropped before or after, no answer in time (with or without the message accepted). The pipeline
(intake and its acknowledgements, match, invite, two follow-up runs: surveys then reminders, the newsletter)
is killed right after chosen accepted sends and rerun from the top by a new "process" (new services, same
store); passes repeat, faults still on, until nothing is left to send. SendGrid and the mailer share a
virtual clock, so send delays and cancellation windows pass without waiting.

Figures, from what the emulator delivered (accepted, not cancelled, send time passed) and the ledger table:
copies accepted twice, copies missing, keys left uncertain, and the requests spent on safety (batch ids,
cancellations and their upkeep, sends that were called off) per 1,000 delivered messages.

    python benchmarks/email_faults.py                     # full size: 1,000 mentees, 400 mentors, 20 %
    python benchmarks/email_faults.py --mentees 60 --mentors 90

The test suite runs :func:`campaign` at a small size (tests/test_email_faults.py). Run against an older
checkout (``--code DIR``) for the figures of the code before scheduled sends.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if __name__ == "__main__":
    # --code DIR: measure another checkout (e.g. `git archive main`) with this campaign and emulator
    code = next((sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "--code"), None)
    sys.path[:0] = [str(Path(code).resolve()), str(HERE.parent)] if code else [str(HERE.parent)]

from sqlalchemy import create_engine, text  # noqa: E402

from benchmarks.program import DAY0, emulator_settings, prefect_server, seed_forms  # noqa: E402
from connectors.base import OutcomeUnknown  # noqa: E402
from mentorflow.simulate.run import no_retry_delays  # noqa: E402

FAULT_KINDS = (
    "429",
    "5xx",
    "5xx after accepting",
    "drop",
    "drop after accepting",
    "timeout",
    "timeout after accepting",
)
CLIENT_TIMEOUT = 0.25  # seconds; a "timeout" fault answers after 0.4 s
EMAIL_KINDS = ("ack:", "invite:", "survey:", "reminder:", "newsletter:")
SAFETY_OPERATIONS = (
    "batch.create",
    "scheduled_sends.create",
    "scheduled_sends.list",
    "scheduled_sends.get",
    "scheduled_sends.delete",
)


@dataclass
class Figures:
    mentees: int
    newsletter_recipients: int
    fault_share: float
    kills: int
    passes: int
    delivered_messages: int = 0  # Mail Send requests whose copies reached people
    delivered_copies: int = 0
    accepted_twice: int = 0  # copies beyond the first, per (message key, recipient)
    twice: list[str] = field(default_factory=list)  # the message keys of those copies (ids only)
    missing: int = 0  # copies that should have gone out and did not
    uncertain: int = 0  # ledger keys left for the lead
    safety_requests: int = 0  # batch ids, cancellations and their upkeep, and sends that were called off
    safety_per_1000: float = 0.0
    faults_served: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    left: list[str] = field(default_factory=list)  # email keys not done or not delivered (ids only)
    virtual_hours: float = 0.0
    seconds: float = 0.0


def sendgrid_fault(rng: random.Random) -> Any:
    """One fault of a kind drawn evenly from :data:`FAULT_KINDS`."""
    from tests.emulators.server import Fault

    kind = rng.choice(FAULT_KINDS)
    if kind == "429":
        return Fault(status=429, headers={"X-RateLimit-Reset": "0"})
    if kind.startswith("timeout"):  # the client gives up; the request is served (or not) afterwards
        return Fault(status=0 if kind.endswith("accepting") else 503, after=True, delay=0.4)
    return Fault(status=rng.choice([500, 502, 503]), drop=kind.startswith("drop"), after=kind.endswith("accepting"))


class Killer:
    """Kills the "process" right after the accepted sends numbered in ``at`` (counted across processes).

    A killed process does nothing more: its threads still running (Prefect cannot stop a thread) die at their
    next step, so no late ledger write and no wait on the shared clock comes from a dead process."""

    def __init__(self, at: list[int], clock: Any) -> None:
        self.at = set(at)
        self.clock = clock
        self.sends = 0
        self.kills = 0
        self._lock = threading.Lock()

    def wrap(self, mailer: Any) -> None:
        generation = self.kills

        def alive() -> None:
            if self.kills != generation:
                raise SystemExit("this process was killed")

        def guard(method: Any) -> Any:
            def guarded(*args: Any, **kwargs: Any) -> Any:
                alive()
                result = method(*args, **kwargs)
                alive()
                return result

            return guarded

        real_send, real_settle = mailer.send, mailer.settle

        def send_then_maybe_die(*args: Any, **kwargs: Any) -> Any:
            # From the send until its outcome is known (or settled, when unknown) the thread works: another
            # worker's wait does not skip the clock past this send's cancellation window meanwhile.
            alive()
            self.clock.begin_work()
            unknown = False
            try:
                ref = real_send(*args, **kwargs)
            except OutcomeUnknown:
                unknown = True
                raise
            finally:
                if not unknown:
                    self.clock.end_work()
            alive()
            with self._lock:
                self.sends += 1
                if self.sends in self.at:
                    self.kills += 1
                    raise SystemExit(f"killed right after accepted send {self.sends}")
            return ref

        def settle_then_rest(*args: Any, **kwargs: Any) -> Any:
            try:
                return real_settle(*args, **kwargs)
            finally:
                self.clock.end_work()  # the work that began with an unknown send (none after a kill)

        mailer.send = send_then_maybe_die
        mailer.settle = settle_then_rest
        for name in ("prepare", "settle", "lookup"):
            if hasattr(mailer, name):
                setattr(mailer, name, guard(getattr(mailer, name)))
        mailer.sleep = guard(self.clock.sleep)


def _stages() -> list[tuple[str, Any]]:
    from flows.digest import digest
    from flows.followup import followup
    from flows.intake import intake
    from flows.invite import invite
    from flows.match import match

    return [
        ("intake", lambda: intake(DAY0)),
        ("match", lambda: match(DAY0, approval="auto")),
        ("invite", lambda: invite(DAY0)),
        ("surveys", lambda: followup(DAY0 + timedelta(days=12))),
        ("reminders", lambda: followup(DAY0 + timedelta(days=17))),
        ("newsletter", lambda: _newsletter(digest, DAY0 + timedelta(days=14))),
    ]


def _newsletter(digest: Any, at: datetime) -> Any:
    """Every mentor ticked "send me the newsletter" in the roster (as in the demo; the mentor form does not ask),
    so the issue goes to everyone: mentees (opted in on the form) and mentors. The lead approves the preview
    (its email to the lead is one more send), and the run after that sends the issue."""
    from mentorflow.bootstrap import current_services
    from tasks.newsletter import approve_newsletter

    svc = current_services()
    with svc.store.unit_of_work() as uow:
        mentors = uow.roster.mentors(active_only=True)
        uow.roster.sync([m.model_copy(update={"newsletter": True}) for m in mentors if m.email], at)
    summary = digest(at)
    if summary.awaiting_approval:
        approve_newsletter(svc, [], at)
        summary = digest(at)
    return summary


def _ledger(url: str) -> dict[str, str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {str(k): str(s) for k, s in connection.execute(text("SELECT key, status FROM ledger"))}
    finally:
        engine.dispose()


def campaign(
    tmp: Path,
    google: Any,
    sendgrid: Any,
    *,
    mentees: int,
    mentors: int,
    fault_share: float,
    kill_at: list[int],
    max_passes: int = 6,
    seed_faults: int = 11,
) -> Figures:
    """Run the campaign (see the module docstring) and measure it."""
    from mentorflow.bootstrap import build_services, use_services
    from tests.emulators.sendgrid import VirtualClock

    started = time.perf_counter()
    seed_forms(google, mentees, mentors, newsletter=True)
    clock = VirtualClock(time.time(), served=sendgrid)
    start = clock()
    sendgrid.clock = clock
    sendgrid.fail_share(fault_share, sendgrid_fault, seed=seed_faults)
    settings = emulator_settings(tmp, google, sendgrid)
    killer = Killer(kill_at, clock)
    passes = 0
    timings: dict[str, float] = {}

    def process() -> Any:  # a fresh process: new services over the same store
        clock.forget_work()  # the threads of a killed process are gone
        services = build_services(settings)
        mailer: Any = services.connectors.mailer
        mailer.clock, mailer.timeout_seconds = clock, CLIENT_TIMEOUT
        killer.wrap(mailer)
        return services

    with no_retry_delays():
        services = process()
        while passes < max_passes:
            passes += 1
            try:
                with use_services(services):
                    for name, run in _stages():
                        began = time.perf_counter()
                        run()
                        timings[name] = timings.get(name, 0.0) + time.perf_counter() - began
            except (SystemExit, Exception):  # a kill, or a stage that failed for good: rerun as a new process
                clock.sleep(120)  # two minutes later
                services = process()
                continue
            ledger = _ledger(settings.store_url())
            left = [k for k, s in ledger.items() if k.startswith(EMAIL_KINDS) and s in {"pending", "failed"}]
            if not left and killer.kills >= len(kill_at):
                break
    sendgrid.wait_idle()
    print("seconds per stage (completed runs):", {k: round(v, 1) for k, v in timings.items()}, file=sys.stderr)
    return measure(
        sendgrid,
        google,
        settings.store_url(),
        mentees + mentors,
        Figures(
            mentees=mentees,
            newsletter_recipients=mentees + mentors,
            fault_share=fault_share,
            kills=killer.kills,
            passes=passes,
            virtual_hours=round((clock() - start) / 3600, 2),
            seconds=round(time.perf_counter() - started, 1),
        ),
    )


def measure(sendgrid: Any, google: Any, store_url: str, newsletter: int, figures: Figures) -> Figures:
    """The figures, from what reached people and what the ledger holds."""
    deliveries: Counter[tuple[str, str]] = sendgrid.deliveries(at=math.inf)
    delivered = sendgrid.delivered(at=math.inf)
    ledger = _ledger(store_url)
    figures.delivered_messages = len(delivered)
    figures.delivered_copies = sum(deliveries.values())
    figures.accepted_twice = sum(n - 1 for n in deliveries.values() if n > 1)
    figures.twice = sorted({key for (key, _), n in deliveries.items() if n > 1})
    reached = {key for key, _ in deliveries}
    invites = sum(1 for key, _ in deliveries if key.startswith("invite:"))
    newsletter_copies = len({key for key, _ in deliveries if key.startswith("newsletter:")})
    one_copy = [k for k in ledger if k.startswith(("ack:", "survey:", "reminder:"))]
    figures.missing = (
        max(0, 2 * len(google.events()) - invites)
        + max(0, newsletter - newsletter_copies)
        + sum(1 for k in one_copy if k not in reached)
    )
    figures.uncertain = sum(1 for k, s in ledger.items() if k.startswith(EMAIL_KINDS) and s == "uncertain")
    figures.left = sorted(f"{k} {s}" for k, s in ledger.items() if k.startswith(EMAIL_KINDS) and s != "done")
    figures.left += sorted(f"{k} not delivered" for k in one_copy if k not in reached)
    counts = dict(sendgrid.counts)
    called_off = len(sendgrid.accepted) - figures.delivered_messages  # accepted, then discarded with their batch
    figures.safety_requests = sum(counts.get(op, 0) for op in SAFETY_OPERATIONS) + called_off
    figures.safety_per_1000 = round(1000 * figures.safety_requests / max(1, figures.delivered_messages), 1)
    figures.requests = {op: counts[op] for op in sorted(counts)}
    figures.faults_served = sendgrid.faults_served
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mentees", type=int, default=1000)
    parser.add_argument("--mentors", type=int, default=400)
    parser.add_argument("--faults", type=float, default=0.2)
    parser.add_argument(
        "--kills",
        type=int,
        nargs="*",
        default=None,
        help="accepted sends after which the run dies (default: three, spread over the run)",
    )
    parser.add_argument("--code", default=None, help="another checkout to measure (its flows, mailer and store)")
    parser.add_argument("--label", default="this branch")
    parser.add_argument("--out", type=Path, default=None, help="append the figures as a JSON line")
    args = parser.parse_args()
    kills = args.kills if args.kills is not None else [args.mentees * 3 // 10, args.mentees * 3 // 2, args.mentees * 3]

    from tests.emulators.google import GoogleEmulator
    from tests.emulators.sendgrid import SendGridEmulator

    with (
        tempfile.TemporaryDirectory() as home,
        tempfile.TemporaryDirectory() as tmp,
        prefect_server(Path(home)),
        GoogleEmulator() as google,
        SendGridEmulator() as sendgrid,
    ):
        figures = campaign(
            Path(tmp),
            google,
            sendgrid,
            mentees=args.mentees,
            mentors=args.mentors,
            fault_share=args.faults,
            kill_at=kills,
        )
    row = {"code": args.label, **asdict(figures)}
    print(json.dumps(row, indent=2))
    if args.out:
        with args.out.open("a", encoding="utf-8") as out:
            out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

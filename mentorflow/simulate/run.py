"""Run the real flows over simulated weeks with synthetic people, checking the invariants after every run.

``mentorflow simulate`` calls this; so do the test suite (a short run) and ``make simulate`` (10 seeds).
The flows run as Prefect flow runs against one Prefect server for the whole process (the ephemeral one, or the
tests' harness): the flows are what is being checked, orchestration included. Retry delays are compressed to
zero (simulated time; retries themselves still happen, as in tests/test_flows.py).
"""

from __future__ import annotations

import atexit
import csv
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from config.settings import Settings
from connectors.base import Presence
from domain.approval import LeadDecision
from domain.keys import InviteKey
from domain.models import Role
from domain.selfservice import VIA_LINK
from mentorflow.bootstrap import Services, build_services, use_services
from mentorflow.simulate.clock import Tick, schedule
from mentorflow.simulate.faults import Dice, simulator_connectors
from mentorflow.simulate.invariants import CHECKS, Check, Context, Violation, ongoing, run_checks
from mentorflow.simulate.metrics import (
    FEASIBLE_WITHIN_DAYS,
    Tracker,
    Week,
    as_dicts,
    feasible_matched_within,
    feasible_now,
    weekly,
)
from mentorflow.simulate.people import Behaviour, People, Stop
from mentorflow.simulate.query import OutputWatcher, Sent, Snapshot, snapshot

LEAD_TIME = clock_time(20, 30)  # the lead looks at the program in the evening, Sunday to Thursday
WORKDAYS = {6, 0, 1, 2, 3}  # date.weekday(): Sunday..Thursday


@dataclass(frozen=True)
class SimConfig:
    weeks: int = 12
    mentees: int = 100
    mentors: int = 30
    seed: int = 7
    faults: float = 0.0
    keep_going: bool = False
    start: date = date(2027, 1, 3)  # a Sunday
    relationship_days: int = 56  # how long a relationship stays ongoing (holds a place) unless ended earlier
    behaviour: Behaviour = Behaviour()
    # program rules changed from config/program.yaml, e.g. a shorter follow-up for a short simulation
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)


# The simulated program lets the newsletter go out by itself after its quiet period (a lead with two hours a week
# stops an issue when needed rather than approving each); everything else is as shipped.
PROGRAM_RULES: dict[str, dict[str, Any]] = {"digest": {"approval": "quiet_period"}}

# A short simulation's program: the follow-up closes after 5 days instead of 14, so that a few weeks hold
# whole relationships (survey, reminder, close) and what happens after them.
SHORT_RULES: dict[str, dict[str, Any]] = {
    "followup": {"survey_after_days": 0, "reminder_after_days": 1, "close_after_days": 3},
    "scheduling": {"min_lead_hours": 24},
    # the lead is asked about more pairs than by default (scores under 5.5, not 4.0), so that a short run still
    # has batches for the lead to answer and turn pairs down from (invariant 3)
    "matching": {"auto_approve_min_score": 5.5},
}
# A short simulation's people do more of everything, and are free on fewer evenings, so that a few dozen of
# them meet every case in two weeks.
SHORT_BEHAVIOUR = Behaviour(
    bad_first_answer=0.2,
    edit=0.3,
    withdraw=0.25,
    erase=0.1,
    unsubscribe=0.1,
    mentor_late=0.2,
    mentor_pause=0.3,
    mentor_capacity=0.3,
    decline_slot=0.15,
    no_show=0.2,
    end_early=0.3,
    end_by_link=0.5,  # both doors: the side's own link, and the lead's end-match
    end_after_days=(1, 6),
    lead_refuses=0.2,
    lead_approval_days=(6, 0, 1, 2, 3),  # every evening: two weeks hold enough batches to answer and turn down
    mentor_leave=0.35,
    survey_late=0.15,
    days=("Sun", "Tue", "Thu"),
    windows=("18:00-20:00", "19:00-21:00"),
)


def short_config(seed: int, faults: float = 0.0) -> SimConfig:
    """The test suite's simulation: two weeks, 30 mentees, 6 mentors, a compressed follow-up, busy people."""
    return SimConfig(
        weeks=2,
        mentees=30,
        mentors=6,
        seed=seed,
        faults=faults,
        keep_going=True,
        behaviour=SHORT_BEHAVIOUR,
        rules=SHORT_RULES,
    )


@dataclass
class SimResult:
    config: SimConfig
    violations: list[Violation]
    stopped_early: bool
    weeks: list[Week]
    feasible_pct: float | None
    feasible_matched: int
    feasible_of: int
    flow_runs: int
    failed_runs: dict[str, int]
    failures: list[str]
    faults_injected: dict[str, int]
    seconds: float
    checked: list[Check]
    run_seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        cfg = asdict(self.config)
        cfg["start"] = self.config.start.isoformat()
        return {
            "config": cfg,
            "violations": [
                {"check": v.check, "at": v.at.isoformat(), "flow": v.flow, "detail": v.detail} for v in self.violations
            ],
            "stopped_early": self.stopped_early,
            "checks": [{"id": c.id, "invariant": c.invariant, "title": c.title} for c in self.checked],
            "weeks": as_dicts(self.weeks),
            "feasible_matched_within_7_days_pct": self.feasible_pct,
            "feasible_mentees": self.feasible_of,
            "feasible_matched_within_7_days": self.feasible_matched,
            "lead_minutes_per_week_max": max((w.lead_minutes for w in self.weeks), default=0.0),
            "flow_runs": self.flow_runs,
            "failed_runs": self.failed_runs,
            "failures": self.failures,
            "faults_injected": self.faults_injected,
            "seconds": round(self.seconds, 1),
            "seconds_per_flow_run": {k: round(v, 3) for k, v in self.run_seconds.items()},
        }


def write_rules(directory: Path, changes: dict[str, dict[str, Any]]) -> Path:
    """The program's rules as shipped (its default approval: the lead is asked about the uncertain pairs only)
    with the config's changes."""
    from config import CONFIG_DIR

    rules = yaml.safe_load((CONFIG_DIR / "program.yaml").read_text(encoding="utf-8"))
    for section, values in [*PROGRAM_RULES.items(), *changes.items()]:
        rules.setdefault(section, {}).update(values)
    path = directory / "program.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    return path


RETRYING_TASK_MODULES = (
    "digest",
    "followup",
    "intake",
    "invites",
    "matching",
    "newsletter",
    "preflight",
    "selfservice",
)


@contextmanager
def no_retry_delays() -> Iterator[None]:
    """Retries happen at once in simulated time (as tests/test_flows.py does): every task's retry delays, the batch
    tasks' per-item pauses and an ending's pauses are zero; restored afterwards."""
    import importlib

    from prefect import Task

    import tasks.common
    import tasks.lifecycle

    modules = [importlib.import_module(f"tasks.{name}") for name in RETRYING_TASK_MODULES]
    pauses, tasks.common.TRANSIENT_RETRY_DELAYS = tasks.common.TRANSIENT_RETRY_DELAYS, (0.0, 0.0, 0.0)
    ending_pauses, tasks.lifecycle.RETRY_PAUSES = tasks.lifecycle.RETRY_PAUSES, (0.0, 0.0)
    saved: list[tuple[Task[Any, Any], Any]] = []
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Task) and value.retries:
                saved.append((value, value.retry_delay_seconds))
                value.retry_delay_seconds = [0.0] * value.retries
    try:
        yield
    finally:
        tasks.common.TRANSIENT_RETRY_DELAYS = pauses
        tasks.lifecycle.RETRY_PAUSES = ending_pauses
        for t, delay in saved:
            t.retry_delay_seconds = delay


@contextmanager
def prefect_quiet() -> Iterator[None]:
    """A Prefect of the simulator's own for this process: its own home (so no profile points the thousands of
    simulated runs at a real server), the ephemeral local server started once, warnings only, no heartbeats.

    The home is the process's, made at the first use and removed when the process exits: the ephemeral server
    started in it serves every later seed of the process, and its database file must outlive each seed (removed
    after the first seed, the server failed once it opened a new connection to it: "unable to open database
    file", then 500s, failed runs and false violations in the seeds after)."""
    home = _prefect_home()
    saved = {k: os.environ.get(k) for k in _PREFECT_ENV}
    os.environ.update(
        PREFECT_HOME=home,
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="600",
    )
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.pop("PREFECT_PROFILE", None)
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS,
        temporary_settings,
    )

    try:
        with temporary_settings(
            {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None, PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS: 4}
        ):
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@cache
def _prefect_home() -> str:
    home = tempfile.mkdtemp(prefix="mentorflow-sim-prefect-")
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return home


_PREFECT_ENV = (
    "PREFECT_HOME",
    "PREFECT_LOGGING_LEVEL",
    "PREFECT_SERVER_ANALYTICS_ENABLED",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS",
    "PREFECT_API_URL",
    "PREFECT_PROFILE",
)


def _flows() -> dict[str, Callable[..., Any]]:
    from flows.digest import digest
    from flows.followup import followup
    from flows.intake import intake
    from flows.invite import invite
    from flows.match import match
    from flows.privacy import privacy
    from flows.report import report

    return {
        "intake": intake,
        "match": match,
        "invite": invite,
        "followup": followup,
        "digest": digest,
        "report": report,
        "privacy": privacy,
    }


class Simulation:
    """One seeded simulation in its own data folder."""

    def __init__(self, config: SimConfig, directory: Path) -> None:
        self.cfg = config
        self.dir = directory
        tz = "Asia/Jerusalem"
        self.tz = ZoneInfo(tz)
        self.start = datetime.combine(config.start, clock_time(0), tzinfo=self.tz)
        self.end = self.start + timedelta(weeks=config.weeks)
        self.people = People(
            directory, self.start, config.weeks, config.mentees, config.mentors, config.seed, config.behaviour
        )
        self.lead_rng = random.Random(config.seed * 7919 + 1)
        settings = Settings(
            _env_file=None,
            data_dir=directory,
            database_url=None,  # type: ignore[call-arg]
            rules_path=write_rules(directory, config.rules),
            timezone=tz,
            intake="local",
            roster="local",
            calendar="local",
            mailer="local",
            surveys="local",
        )
        base = build_services(settings)
        self.dice = Dice(config.faults, config.seed)
        self.services = Services(
            settings=settings,
            rules=base.rules,
            store=base.store,
            connectors=simulator_connectors(base.connectors, settings.invites_dir(), tz, self.dice),
        )
        self.engine = base.store.engine
        self.watcher = OutputWatcher(settings.outbox(), settings.invites_dir())
        self.sent: list[Sent] = []
        self.runs: list[tuple[datetime, str]] = []
        self.violations: list[Violation] = []
        self.seen: set[str] = set()
        self.tracker = Tracker(self.start, config.weeks)
        self.checked = list(CHECKS)
        self.failed_runs: dict[str, int] = {}
        self.failures: list[str] = []
        self.run_seconds: dict[str, list[float]] = {}
        self.ends_due: dict[int, datetime] = {}  # match id -> when a side ends it (the lead runs end-match)
        self.link_ends: dict[int, tuple[datetime, Role]] = {}  # match id -> when which side uses its "end" link
        self.ending_by_link: dict[int, Role] = {}  # answered, not yet taken in by an intake run
        self.known_matches: set[int] = set()
        self.known_flags: set[int] = set()
        self.snap: Snapshot | None = None
        self.to_forget: list[str] = []  # erasures asked of the lead by email: `mentorflow forget` that evening

    # --- the loop -----------------------------------------------------------------------------------------

    def ticks(self) -> list[Tick]:
        # The program is running when the simulation starts: the roster is taken in before the first run.
        out = [Tick(self.start, -1, "intake"), *schedule(self.start, self.cfg.weeks)]
        day = self.start.date()
        while day < self.end.date():
            if day.weekday() in WORKDAYS:
                out.append(Tick(datetime.combine(day, LEAD_TIME, tzinfo=self.tz), 9, "lead"))
            day += timedelta(days=1)
        return sorted(out)

    def run(self) -> SimResult:
        began = time.perf_counter()
        flows = _flows()
        stopped = False
        with use_services(self.services), no_retry_delays():
            for tick in self.ticks():
                self.people.act_until(tick.at)
                self.honour_asks()
                self.end_by_links(tick.at)
                if tick.flow == "privacy" and not self.privacy_due(tick.at):
                    continue  # sampled, as intake is: see privacy_due
                if tick.flow == "lead":
                    self.lead(tick.at)
                else:
                    out = self.run_flow(flows[tick.flow], tick)
                    if tick.flow == "report" and out is not None:  # what the report asked the lead to fix
                        self.tracker.fix_its_asked[self.tracker.week_of(tick.at)] = out.set_aside_for_lead
                self.runs.append((tick.at, tick.flow))
                new = self.observe(tick)
                if tick.flow == "match":
                    self.sample_feasibility(tick.at)
                if new and not self.cfg.keep_going:
                    stopped = True
                    break
        snap = self.snap or snapshot(self.engine)
        pct, matched, of = feasible_matched_within(self.tracker, snap, self.people.world, self.end)
        return SimResult(
            config=self.cfg,
            violations=self.violations,
            stopped_early=stopped,
            weeks=weekly(self.tracker, snap, self.people.world),
            feasible_pct=pct,
            feasible_matched=matched,
            feasible_of=of,
            flow_runs=sum(len(v) for v in self.run_seconds.values()),
            failed_runs=self.failed_runs,
            failures=self.failures,
            faults_injected=dict(self.dice.injected),
            seconds=time.perf_counter() - began,
            checked=self.checked,
            run_seconds={k: sum(v) / len(v) for k, v in self.run_seconds.items()},
        )

    def run_flow(self, flow: Callable[..., Any], tick: Tick) -> Any:
        t0 = time.perf_counter()
        out = None
        try:
            out = flow(tick.at)
        except Exception as exc:  # failed for good (faults beyond its retries, or a bug): the next run picks up
            self.failed_runs[tick.flow] = self.failed_runs.get(tick.flow, 0) + 1
            # connector and validation messages carry no personal data (house rule), ids at most
            self.failures.append(
                f"{tick.flow} at {tick.at:%Y-%m-%d %H:%M}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            )
        self.run_seconds.setdefault(tick.flow, []).append(time.perf_counter() - t0)
        return out

    def observe(self, tick: Tick) -> list[Violation]:
        """Record what the run sent, let people react, and check every invariant."""
        sent = self.watcher.new_since_last(tick.at, tick.flow)
        self.sent += sent
        snap = snapshot(self.engine)
        self.react(snap, sent, tick.at)
        ctx = self.context(tick.at, tick.flow, snap)
        new = [v for v in run_checks(ctx, self.checked) if v.key not in self.seen]
        for v in new:
            self.seen.add(v.key)
            self.violations.append(v)
        self.tracker.sample(tick.at, snap)
        self.snap = snap
        return new

    def context(self, now: datetime, flow: str, snap: Snapshot) -> Context:
        since = self.runs[-2][0] if len(self.runs) > 1 else self.start - timedelta(days=1)
        return Context(
            now=now,
            flow=flow,
            snap=snap,
            world=self.people.world,
            sent=self.sent,
            calendar=self.watcher.events,
            runs=self.runs,
            since=since,
            relationship_days=self.cfg.relationship_days,
        )

    def react(self, snap: Snapshot, sent: list[Sent], now: datetime) -> None:
        """People answer what reached them; some relationships will end early."""
        meetings = {mt.event_id: mt for mt in snap.meetings}
        # In match order (event ids are salted per database), so a seed always draws the same dice for the same
        # people.
        invited = sorted(
            (meetings[s.key.removeprefix("event:")].match_id, s.to)
            for s in sent
            if s.kind == "ics" and s.key.removeprefix("event:") in meetings and s.to in self.people.world.mentors
        )
        by_match = {mt.match_id: mt for mt in snap.meetings}
        for match_id, mentor in invited:
            mt = by_match[match_id]
            if mt.event_id not in self.people.world.declined_events:
                self.people.on_invitation(match_id, mt.event_id, mentor, mt.start, now)
        for key in sorted(s.key for s in sent if s.kind in {"survey", "reminder"}):
            self.people.on_survey(key, now)
        lo, hi = self.cfg.behaviour.end_after_days
        for m in snap.matches:
            if m.id not in self.known_matches:
                self.known_matches.add(m.id)
                if self.lead_rng.random() < self.cfg.behaviour.end_early:
                    due = m.created_at + timedelta(days=self.lead_rng.uniform(lo, hi))
                    side = self.lead_rng.choice((Role.MENTEE, Role.MENTOR))
                    if self.lead_rng.random() < self.cfg.behaviour.end_by_link:
                        self.link_ends[m.id] = (due, side)
                    else:
                        self.ends_due[m.id] = due
        for m in snap.matches:  # an "end" answer the intake run took in: ended then, by that side
            if m.id in self.ending_by_link and not m.active and VIA_LINK in m.ended_reason:
                self.people.world.ended.setdefault(m.id, (now, self.ending_by_link.pop(m.id).value))

    def privacy_due(self, now: datetime) -> bool:
        """Whether the daily privacy run has anything to do: an erase link to carry out, or (in a simulation
        longer than the retention policy's shortest delay, 90 days after a match) retention. Otherwise it is
        skipped, as intake is sampled: it would only cost a flow run (60 in 12 weeks)."""
        if now >= self.start + timedelta(days=self.services.rules.retention.form_answers_days_after_match):
            return True
        with self.services.store.unit_of_work() as uow:
            return bool(uow.erasure.erase_requests())

    def honour_asks(self) -> None:
        """Erase and unsubscribe requests: a newsletter reader clicks the signed link in the issue they got (an
        unsubscribe counts at once, an erasure at the next privacy run); anyone else asks the lead to erase them
        (`mentorflow forget` at the lead's evening); an unsubscribe from someone who never got an issue is no
        request at all (they had no link to click)."""
        from domain.erasure import erase_token
        from domain.newsletter import unsubscribe_token
        from tasks.erasure import request_erasure
        from tasks.newsletter import readers, unsubscribe

        world, svc = self.people.world, self.services
        asks, world.asks = world.asks, []
        if not asks:
            return
        secret = svc.settings.survey_token_secret.get_secret_value()
        got_issue = {s.to for s in self.sent if s.kind == "digest"}
        for email, at, kind in asks:
            if kind == "unsubscribe":
                reader = next((r for r in readers(svc) if r.email == email), None)
                if email in got_issue and reader is not None:
                    token = unsubscribe_token(reader, secret, at, svc.rules.digest.unsubscribe_link_valid_days)
                    unsubscribe(svc, token, at)
                    world.stops.append(Stop(email, at, "unsubscribed", taken_in_by=None))
            elif email in got_issue:
                request_erasure(svc, erase_token(email, secret, at, svc.rules.retention.erase_link_valid_days), at)
                world.stops.append(Stop(email, at, "erased", taken_in_by="privacy"))
            else:
                self.to_forget.append(email)
                world.stops.append(Stop(email, at, "erased", taken_in_by="lead"))

    def end_by_links(self, now: datetime) -> None:
        """A side that stops uses "end this mentoring" in the invitation it got (an answer to the self-service
        form, taken in by the next intake run); a side that got no invitation (not written to, or it failed)
        writes to the lead instead, who runs `end-match` that evening."""
        from domain.links import person_key
        from domain.selfservice import Action, action_token, purpose

        due = sorted((at, match_id, side) for match_id, (at, side) in self.link_ends.items() if at <= now)
        if not due:
            return
        snap = self.snap or snapshot(self.engine)
        matches = {m.id: m for m in snap.matches}
        emails = {r.id: r.email for r in snap.requests}
        secret = self.services.settings.survey_token_secret.get_secret_value()
        folder = self.services.settings.self_service_inbox()
        folder.mkdir(parents=True, exist_ok=True)
        for at, match_id, side in due:
            del self.link_ends[match_id]
            m = matches.get(match_id)
            if m is None or not m.active:
                continue  # ended already (a no-show, the lead, the other side)
            email = m.mentor if side is Role.MENTOR else emails.get(m.request_id)
            if email is None or self.people.gone(email):
                continue
            invitation = str(InviteKey(match_id=match_id, role=side))
            if not any(s.key == invitation and s.to == email for s in self.sent):
                self.ends_due[match_id] = at
                continue
            expires = at + timedelta(days=self.services.rules.self_service.link_valid_days)
            token = action_token(side, Action.END, person_key(email, secret), secret, expires, match_id)
            row = {"token": token, "action": purpose(side, Action.END), "timestamp": at.isoformat()}
            with (folder / f"end-{match_id}.csv").open("w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=[*row, "until", "capacity", "reason"])
                writer.writeheader()
                writer.writerow(row)
            self.ending_by_link[match_id] = side

    # --- the lead -----------------------------------------------------------------------------------------

    def lead(self, now: datetime) -> None:
        """The lead's evening: answer the waiting batch (on an approval evening), end matches that stopped, look
        at flags."""
        from mentorflow.lead import decide_waiting
        from tasks.erasure import forget_person
        from tasks.lifecycle import end_relationship

        store, b, world = self.services.store, self.cfg.behaviour, self.people.world
        for email in self.to_forget:  # asked by email to be erased: `mentorflow forget EMAIL --yes`
            forget_person(self.services, email, now)
            world.lead_actions.append((now, "erasure", 1))
        self.to_forget = []
        with store.unit_of_work() as uow:
            waiting = uow.matches.waiting_proposals()  # what the lead sees (the Prefect UI or `status`)
        if waiting and now.weekday() in b.lead_approval_days and self.lead_rng.random() < b.lead_answers:
            batch = waiting[-1]
            refused = [p for p in batch.result.matches if self.lead_rng.random() < b.lead_refuses]
            ids = sorted({p.request_id for p in refused})
            decision = LeadDecision(
                action="approve_except" if ids else "approve_all",
                except_requests=ids,
                note="not this pairing" if ids else "",
            )
            for p in refused:
                world.refused[(p.request_id, str(p.mentor_email).lower())] = now
            decide_waiting(store, decision, now)
            world.lead_actions.append((now, "batch", len(batch.result.matches)))
            if ids:
                world.lead_actions.append((now, "refusal", len(ids)))
        # flags are made by flow runs only: the snapshot taken after the last run is current (no second read)
        snap = self.snap or snapshot(self.engine)
        for f in snap.flags:
            if f.id in self.known_flags:
                continue
            self.known_flags.add(f.id)
            stuck = f.kind == "no_show" or (f.kind == "declined" and "moved to" not in f.detail)
            if stuck and self.lead_rng.random() < b.lead_ends_flagged:
                self.ends_due.setdefault(f.match_id, now)
            with store.unit_of_work() as uow:  # read and decided: what `mentorflow flags done ID` does
                uow.followup.mark_flag_done(f.id, now)
        for match_id, due in sorted(self.ends_due.items()):
            if due <= now:
                del self.ends_due[match_id]
                # what `mentorflow end-match` does: free the place, cancel the meeting, tell both sides
                ending = end_relationship(self.services, match_id, "ended (simulated)", "lead", now)
                if ending is None:
                    continue
                world.ended.setdefault(match_id, (now, "lead"))
                world.lead_actions.append((now, "end match", 1))
                if ending.failed:  # the command said "run it again later": the lead does, the next evening
                    self.ends_due[match_id] = now + timedelta(days=1)
        with store.unit_of_work() as uow:
            uncertain = uow.ledger.entries("", "uncertain")
        inner = self.services.connectors.mailer.inner  # type: ignore[attr-defined]
        for e in uncertain:
            # the lead checks with the provider that it did not go out (the mailer's own settle), then releases
            if not e.key.startswith("event:") and inner.settle(e.key, e.provider_ref) is Presence.ABSENT:
                with store.unit_of_work() as uow:  # what `mentorflow ledger release` does
                    uow.ledger.release(e.key, now)

    def sample_feasibility(self, now: datetime) -> None:
        """After each match run: which mentees, in the first week of their wait, were left waiting although a
        mentor still had a free place for them (a shared topic, language and weekly hour) that the run gave to
        nobody else. Places held by the pairs waiting for the lead's approval count as taken, and a mentee in such
        a pair is not left waiting. Mentees matched or proposed in their first week count as feasible too
        (:func:`feasible_matched_within`)."""
        snap = self.snap or snapshot(self.engine)
        ctx = self.context(now, "match", snap)
        load = {m.email: len(ongoing(ctx, m.email, now)) for m in snap.mentors}
        proposed: set[int] = set()
        for p in snap.proposals:
            if p.status == "waiting":
                for request_id, mentor in p.pairs:
                    load[mentor] = load.get(mentor, 0) + 1
                    proposed.add(request_id)
        applied = self.people.world.applied_at
        barred: dict[int, set[str]] = {}  # request -> its former mentors and the mentors the lead refused for it
        for m in snap.matches:
            barred.setdefault(m.request_id, set()).add(m.mentor)
        for request_id, mentor in self.people.world.refused:
            barred.setdefault(request_id, set()).add(mentor)
        for r in snap.requests:
            if r.status != "pending" or r.id in proposed or r.email in self.tracker.feasible:
                continue
            since = applied.get(r.email, r.created_at)
            if now <= since + timedelta(days=FEASIBLE_WITHIN_DAYS) and feasible_now(
                r, snap.mentors, load, barred=barred.get(r.id, set())
            ):
                self.tracker.feasible.add(r.email)


def simulate(config: SimConfig, directory: Path | None = None) -> SimResult:
    """Run one simulation (in ``directory``, or a temporary folder removed afterwards)."""
    if directory is not None:
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        return Simulation(config, directory).run()
    with tempfile.TemporaryDirectory(prefix="mentorflow-sim-") as tmp:
        sim = Simulation(config, Path(tmp))
        try:
            return sim.run()
        finally:
            sim.engine.dispose()  # the store shares this engine (one per URL per process)

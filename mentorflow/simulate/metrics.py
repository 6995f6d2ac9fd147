"""Week-by-week figures of a simulation, the lead's time, and who had a feasible mentor.

The lead's minutes are an estimate from per-action costs (``LEAD_COSTS``, documented in docs/simulator.md):
what the lead is asked to do each week, priced at what it takes a volunteer who knows the program.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from domain.models import WeeklyWindow
from mentorflow.simulate.people import World
from mentorflow.simulate.query import MentorRec, Req, Snapshot

# minutes per action the lead is asked for
LEAD_COSTS: dict[str, float] = {
    "weekly report": 5.0,  # reading the one weekly report
    "batch": 2.0,  # opening a batch of proposals and answering it
    "proposal": 0.5,  # reading one proposed pair and its reasons
    "refusal": 1.0,  # turning a pair down (typing the id, a note)
    "flag": 3.0,  # a no-show, low score, silence or decline: read it, decide, maybe write to someone
    "uncertain": 5.0,  # a side effect whose outcome is unknown: check the provider, release or not
    "fix-it": 3.0,  # an answer set aside: ask the person to fix it
    "end match": 2.0,  # running end-match for a pair that stopped
    "erasure": 2.0,  # someone without the newsletter's link asked by email: `mentorflow forget EMAIL`
}
MEETING_MINUTES = 60
FEASIBLE_WITHIN_DAYS = 7  # the target: a mentee with a feasible mentor is matched within a week of applying


@dataclass
class Week:
    week: int
    start: str
    applications: int = 0
    matched: int = 0
    waiting: int = 0
    time_to_match_median_days: float | None = None
    time_to_match_p90_days: float | None = None
    meetings_held: int = 0
    no_shows: int = 0
    surveys_sent: int = 0
    survey_response_rate_pct: float | None = None
    approvals: int = 0
    batches: int = 0
    refusals: int = 0
    flags: int = 0
    uncertain: int = 0
    fix_its: int = 0  # answers set aside that the weekly report asks the lead to deal with ("needs you")
    fix_its_emailed: int = 0  # fix-it notes the program emailed itself (`fixit:` ledger keys, issue #11): no lead work
    end_matches: int = 0
    ended_by_a_side: int = 0  # a side used its "end this mentoring" or "could not reach" link: no lead work
    erasures: int = 0
    lead_minutes: float = 0.0
    lead_actions: dict[str, int] = field(default_factory=dict)


def _pct(num: int, den: int) -> float | None:
    return round(100 * num / den, 1) if den else None


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def feasible_now(
    req: Req,
    mentors: list[MentorRec],
    load: dict[str, int],
    require_topic: bool = True,
    barred: Collection[str] = (),
) -> bool:
    """Some active mentor shares a topic, a language and a meeting's length of weekly time, with a free place,
    and is not ``barred`` for this mentee (a former mentor, or a pair the lead turned down: never proposed
    again)."""
    app = req.application
    topics, langs = set(app.get("topics", [])), set(app.get("languages", []))
    windows = [WeeklyWindow.model_validate(w) for w in app.get("availability", [])]
    for m in mentors:
        data = m.data
        if not m.active or load.get(m.email, 0) >= m.capacity or m.email in barred:
            continue
        if require_topic and not topics & set(data.get("expertise", [])):
            continue
        if not langs & set(data.get("languages", [])):
            continue
        theirs = [WeeklyWindow.model_validate(w) for w in data.get("availability", [])]
        if any(a.overlap_minutes(b) >= MEETING_MINUTES for a in windows for b in theirs):
            return True
    return False


@dataclass
class Tracker:
    """Samples taken during the run that the final store cannot tell (waiting at week's end, feasibility)."""

    start: datetime
    weeks: int
    waiting_at_week_end: dict[int, int] = field(default_factory=dict)
    feasible: set[str] = field(default_factory=set)  # mentee emails left waiting in their first week by a match
    # run although a mentor had a free place for them that nobody else was given (see Simulation.sample_feasibility)
    fix_its_asked: dict[int, int] = field(default_factory=dict)  # week -> set-aside records the report asked about

    def week_of(self, at: datetime) -> int:
        return int((at - self.start) / timedelta(weeks=1))

    def sample(self, at: datetime, snap: Snapshot) -> None:
        self.waiting_at_week_end[self.week_of(at)] = sum(r.status == "pending" for r in snap.requests)


def weekly(tracker: Tracker, snap: Snapshot, world: World) -> list[Week]:
    """The figures of each simulated week, from the final store and the people's ground truth."""
    weeks = [Week(week=i + 1, start=f"{tracker.start + timedelta(weeks=i):%Y-%m-%d}") for i in range(tracker.weeks)]

    def wk(at: datetime) -> Week | None:
        i = tracker.week_of(at)
        return weeks[i] if 0 <= i < len(weeks) else None

    by_request = {r.id: r for r in snap.requests}
    for r in snap.requests:
        if (w := wk(r.created_at)) is not None:
            w.applications += 1
    first_match: dict[int, datetime] = {}
    for m in snap.matches:
        if (w := wk(m.created_at)) is not None:
            w.matched += 1
        first_match.setdefault(m.request_id, m.created_at)
    waits: dict[int, list[float]] = defaultdict(list)
    for request_id, at in first_match.items():
        req = by_request[request_id]
        applied = world.applied_at.get(req.email, req.created_at)
        waits[tracker.week_of(at)].append((at - applied) / timedelta(days=1))
    ended = {mid: at for mid, (at, _by) in world.ended.items()}
    active_match = {m.id for m in snap.matches}
    for mt in snap.meetings:
        w = wk(mt.start)
        if w is None or mt.match_id not in active_match or (mt.match_id in ended and ended[mt.match_id] < mt.start):
            continue
        if mt.match_id in world.no_show_matches:
            w.no_shows += 1
        else:
            w.meetings_held += 1
    answered = set(world.survey_answers)
    for key, at in world.surveys_sent.items():
        kind, match_id, role = key.split(":")
        if kind == "survey" and (w := wk(at)) is not None:
            w.surveys_sent += 1
            w.lead_actions["_answered"] = w.lead_actions.get("_answered", 0) + (f"{match_id}:{role}" in answered)
    for f in snap.flags:
        if (w := wk(f.created_at)) is not None:
            w.flags += 1
    for e in snap.ledger:
        if e.status == "uncertain" and (w := wk(e.updated_at)) is not None:
            w.uncertain += 1
    # A record set aside is the lead's only when the weekly report lists it under "needs you" (an answer nobody
    # else can be asked to fix: domain.report.set_aside_needs_lead); the report's own count, in the week the lead
    # reads it. Fix-it notes the program emailed are shown next to it (no minutes).
    for i, n in tracker.fix_its_asked.items():
        if 0 <= i < len(weeks):
            weeks[i].fix_its = n
    for e in snap.ledger:
        if e.key.startswith("fixit:") and e.status == "done" and (w := wk(e.updated_at)) is not None:
            w.fix_its_emailed += 1
    for at, action, count in world.lead_actions:
        if (w := wk(at)) is None:
            continue
        if action == "batch":
            w.batches += 1
            w.approvals += count
        elif action == "refusal":
            w.refusals += count
        elif action == "end match":
            w.end_matches += count
        elif action == "erasure":
            w.erasures += count
    for at, by in world.ended.values():
        if by != "lead" and (w := wk(at)) is not None:
            w.ended_by_a_side += 1
    for w in weeks:
        i = w.week - 1
        w.waiting = tracker.waiting_at_week_end.get(i, 0)
        if waits.get(i):
            w.time_to_match_median_days = round(statistics.median(waits[i]), 2)
            w.time_to_match_p90_days = round(_p90(waits[i]), 2)
        w.survey_response_rate_pct = _pct(w.lead_actions.pop("_answered", 0), w.surveys_sent)
        w.lead_actions = {
            "weekly report": 1,
            "batch": w.batches,
            "proposal": w.approvals,
            "refusal": w.refusals,
            "flag": w.flags,
            "uncertain": w.uncertain,
            "fix-it": w.fix_its,
            "end match": w.end_matches,
            "erasure": w.erasures,
        }
        w.lead_minutes = round(sum(LEAD_COSTS[k] * n for k, n in w.lead_actions.items()), 1)
    return weeks


def feasible_matched_within(
    tracker: Tracker, snap: Snapshot, world: World, end: datetime, days: int = FEASIBLE_WITHIN_DAYS
) -> tuple[float | None, int, int]:
    """Of the mentees who had a feasible mentor in the first ``days`` of their wait (and ``days`` left in the
    simulation, and did not withdraw or ask to be erased), the share matched within ``days`` of applying:
    (pct, matched, of).

    Feasible means: matched or proposed to the lead in that week (a pair the lead turned down is no evidence:
    the lead's word is final), or left waiting by a match run of that week although a mentor still had a free
    place, a shared topic and language, and a weekly hour in common with them that the run gave to nobody else,
    and that was neither a former mentor of theirs nor turned down for them by the lead
    (:meth:`Simulation.sample_feasibility`). A mentee for whom a place opens only
    later was not feasible within the week: that wait is the mentors' capacity (the weekly table's ``waiting``),
    not the program's speed."""
    withdrew = {s.email for s in world.stops if s.why in {"withdrew", "erased"}}
    first: dict[str, datetime] = {}
    emails = {r.id: r.email for r in snap.requests}
    for m in snap.matches:
        email = emails.get(m.request_id)
        if email is not None:
            first.setdefault(email, m.created_at)
    offered: set[str] = set(tracker.feasible)
    for email, at in first.items():
        if (applied := world.applied_at.get(email)) is not None and at <= applied + timedelta(days=days):
            offered.add(email)
    for p in snap.proposals:
        for request_id, mentor in p.pairs:
            if (request_id, mentor) in world.refused:
                continue
            email = emails.get(request_id)
            applied = world.applied_at.get(email or "")
            if email is not None and applied is not None and p.created_at <= applied + timedelta(days=days):
                offered.add(email)
    of = matched = 0
    for email in offered - withdrew:
        applied = world.applied_at.get(email)
        if applied is None or applied + timedelta(days=days) > end:
            continue
        of += 1
        matched += email in first and first[email] <= applied + timedelta(days=days)
    return _pct(matched, of), matched, of


def as_dicts(weeks: list[Week]) -> list[dict[str, object]]:
    return [asdict(w) for w in weeks]

"""Properties of the matching engine on small random batches, checked against brute force."""

from __future__ import annotations

import itertools
from datetime import time
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.rules import load_rules
from domain.matching import assign, build_instance, candidate_edges, preference_scores, propose_matches
from domain.models import Mentor, MentoringRequest, Weekday, WeeklyWindow, shared_windows
from tests.test_matching import NOW, mentor, request

RULES = load_rules(Path(__file__).resolve().parent.parent / "config" / "program.yaml")
TOPICS = ["python", "ml", "career", "devops"]
BLOCKS = [WeeklyWindow(day=d, start=time(h), end=time(h + 2)) for d in (Weekday.MON, Weekday.TUE) for h in (10, 18)]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def subset(items: list, min_size: int = 1) -> st.SearchStrategy[list]:
    return st.lists(st.sampled_from(items), min_size=min_size, max_size=len(items), unique=True)


@st.composite
def batches(draw: st.DrawFn, max_mentees: int = 5, max_mentors: int = 3) -> tuple[list[MentoringRequest], list[Mentor]]:
    m = draw(st.integers(1, max_mentors))
    mentors = [
        mentor(f"m{j}@x.org", topics=tuple(draw(subset(TOPICS))), langs=tuple(draw(subset(["he", "en"]))),
               stage=draw(st.integers(1, 4)), capacity=draw(st.integers(0, 2)), windows=tuple(draw(subset(BLOCKS))),
               active=draw(st.booleans() | st.just(True)))
        for j in range(m)
    ]
    n = draw(st.integers(1, max_mentees))
    emails = [str(x.email) for x in mentors]
    reqs = []
    for i in range(n):
        previous = tuple(draw(st.lists(st.sampled_from(emails), max_size=1)))
        keep = previous and draw(st.booleans())
        reqs.append(request(i + 1, topics=tuple(draw(subset(TOPICS))), langs=tuple(draw(subset(["he", "en"]))),
                            stage=draw(st.integers(0, 3)), windows=tuple(draw(subset(BLOCKS))),
                            waited_weeks=draw(st.sampled_from([0.0, 1.0, 3.0, 12.0])), previous=previous,
                            continue_with=previous[0] if keep else None))
    return reqs, mentors


def feasible(r: MentoringRequest, m: Mentor) -> bool:
    """The hard constraints, written out plainly."""
    a = r.application
    barred = set(r.previous_mentors) - {str(a.continue_with)} | {str(a.email)}
    return (m.active and bool(set(a.languages) & set(m.languages))
            and bool(shared_windows(list(a.availability), list(m.availability)))
            and bool(set(a.topics) & set(m.expertise)) and str(m.email) not in barred)


@FAST
@given(batches(), st.sampled_from(["fit", "participation", "stable"]))
def test_constraints_and_capacities_hold(batch: tuple[list[MentoringRequest], list[Mentor]], objective: str) -> None:
    reqs, mentors = batch
    result = propose_matches(reqs, mentors, {}, RULES, NOW, objective)  # type: ignore[arg-type]
    by_id = {r.id: r for r in reqs}
    by_email = {str(m.email): m for m in mentors}
    used: dict[str, int] = {}
    for p in result.matches:
        assert feasible(by_id[p.request_id], by_email[str(p.mentor_email)])
        used[str(p.mentor_email)] = used.get(str(p.mentor_email), 0) + 1
    assert all(used[e] <= by_email[e].capacity for e in used)
    assert sorted([p.request_id for p in result.matches] + [w.request_id for w in result.waitlist]) == sorted(by_id)


def brute_force(n: int, rows: np.ndarray, cols: np.ndarray, score: np.ndarray, cap: np.ndarray) -> list[tuple[int,
                                                                                                              float]]:
    """(matched count, total score) of every assignment respecting capacities."""
    options: list[list[tuple[int, float]]] = [[(-1, 0.0)] for _ in range(n)]
    for r, c, s in zip(rows.tolist(), cols.tolist(), score.tolist(), strict=True):
        options[r].append((c, s))
    out = []
    for choice in itertools.product(*options):
        taken = [c for c, _ in choice if c >= 0]
        if all(taken.count(c) <= cap[c] for c in set(taken)):
            out.append((len(taken), sum(s for _, s in choice)))
    return out


@FAST
@given(batches())
def test_fit_and_participation_equal_brute_force(batch: tuple[list[MentoringRequest], list[Mentor]]) -> None:
    reqs, mentors = batch
    inst = build_instance(reqs, mentors, {}, RULES.matching, NOW)
    edges = candidate_edges(inst)
    every = brute_force(len(reqs), edges.rows, edges.cols, edges.score, inst.remaining)

    def total(a: np.ndarray) -> float:
        return float(edges.score[a[edges.rows] == edges.cols].sum())

    fit = assign(inst, edges, "fit")
    assert abs(total(fit) - max(t for _, t in every)) < 1e-6
    part = assign(inst, edges, "participation")
    most = max(k for k, _ in every)
    assert int((part >= 0).sum()) == most
    assert abs(total(part) - max(t for k, t in every if k == most)) < 1e-6


@FAST
@given(batches(max_mentees=7, max_mentors=4), st.sampled_from([0.0, 0.7]))
def test_stable_has_no_blocking_pair(batch: tuple[list[MentoringRequest], list[Mentor]], penalty: float) -> None:
    reqs, mentors = batch
    rules = RULES.matching.model_copy(update={"weights": RULES.matching.weights.model_copy(
        update={"load_penalty": penalty})})
    load = {str(mentors[0].email): 1}
    inst = build_instance(reqs, mentors, load, rules, NOW)
    edges = candidate_edges(inst)
    got = assign(inst, edges, "stable")
    pref = {(int(r), int(c)): float(s) for r, c, s in zip(edges.rows, edges.cols, preference_scores(inst, edges),
                                                          strict=True)}
    mine = {i: pref[(i, int(got[i]))] for i in range(len(reqs)) if got[i] >= 0}
    for (i, j), s in pref.items():
        held = [pref[(k, j)] for k in range(len(reqs)) if got[k] == j]
        mentee_wants = i not in mine or s > mine[i]
        mentor_wants = len(held) < inst.remaining[j] or s > min(held)
        assert not (mentee_wants and mentor_wants), f"blocking pair {(i, j)}"

"""Properties of the matching engine on small random batches, checked against brute force."""

from __future__ import annotations

import itertools
from datetime import time
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linear_sum_assignment

from config.rules import load_rules
from domain.matching import assign, build_instance, candidate_edges, preference_scores, propose_matches
from domain.matching.solvers import blocking_pairs, solve_optimal, solve_stable
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
        mentor(
            f"m{j}@x.org",
            topics=tuple(draw(subset(TOPICS))),
            langs=tuple(draw(subset(["he", "en"]))),
            stage=draw(st.integers(1, 4)),
            capacity=draw(st.integers(0, 2)),
            windows=tuple(draw(subset(BLOCKS))),
            active=draw(st.booleans() | st.just(True)),
        )
        for j in range(m)
    ]
    n = draw(st.integers(1, max_mentees))
    emails = [str(x.email) for x in mentors]
    reqs = []
    for i in range(n):
        previous = tuple(draw(st.lists(st.sampled_from(emails), max_size=1)))
        keep = previous and draw(st.booleans())
        reqs.append(
            request(
                i + 1,
                topics=tuple(draw(subset(TOPICS))),
                langs=tuple(draw(subset(["he", "en"]))),
                stage=draw(st.integers(0, 3)),
                windows=tuple(draw(subset(BLOCKS))),
                waited_weeks=draw(st.sampled_from([0.0, 1.0, 3.0, 12.0])),
                previous=previous,
                continue_with=previous[0] if keep else None,
            )
        )
    return reqs, mentors


def feasible(r: MentoringRequest, m: Mentor) -> bool:
    """The hard constraints, written out plainly."""
    a = r.application
    barred = set(r.previous_mentors) - {str(a.continue_with)} | {str(a.email)}
    return (
        m.active
        and bool(set(a.languages) & set(m.languages))
        and bool(shared_windows(list(a.availability), list(m.availability)))
        and bool(set(a.topics) & set(m.expertise))
        and str(m.email) not in barred
    )


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


def brute_force(
    n: int, rows: np.ndarray, cols: np.ndarray, score: np.ndarray, cap: np.ndarray
) -> list[tuple[int, float]]:
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
    rules = RULES.matching.model_copy(
        update={"weights": RULES.matching.weights.model_copy(update={"load_penalty": penalty})}
    )
    load = {str(mentors[0].email): 1}
    inst = build_instance(reqs, mentors, load, rules, NOW)
    edges = candidate_edges(inst)
    got = assign(inst, edges, "stable")
    pref = {
        (int(r), int(c)): float(s)
        for r, c, s in zip(edges.rows, edges.cols, preference_scores(inst, edges), strict=True)
    }
    mine = {i: pref[(i, int(got[i]))] for i in range(len(reqs)) if got[i] >= 0}
    for (i, j), s in pref.items():
        held = [pref[(k, j)] for k in range(len(reqs)) if got[k] == j]
        mentee_wants = i not in mine or s > mine[i]
        mentor_wants = len(held) < inst.remaining[j] or s > min(held)
        assert not (mentee_wants and mentor_wants), f"blocking pair {(i, j)}"


# --- Solvers on random pair lists (no people): the pruned optimum and sliced deferred acceptance are exact ---


def random_pairs(
    seed: int, n: int, m: int, density: float, levels: int = 40
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted, scores on the 1e-6 grid with ties (fewer ``levels``, more ties), capacities 0–3, some load."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n, m)) < density
    rows, cols = (x.astype(np.int32) for x in np.nonzero(mask))
    score = np.round(rng.integers(1, levels, len(rows)) * 0.25 + rng.integers(0, 3, len(rows)) * 1e-6, 6)
    return rows, cols, score, rng.integers(0, 4, m), rng.integers(0, 2, m)


def objective(
    a: np.ndarray, rows: np.ndarray, cols: np.ndarray, score: np.ndarray, load: np.ndarray, penalty: float
) -> tuple[int, float]:
    """(matched, total score minus the load penalty of the places used): what the optimal solvers maximise."""
    taken = np.bincount(a[a >= 0], minlength=len(load))
    places = sum(penalty * (load[j] + k) for j in range(len(load)) for k in range(taken[j]))
    return int((a >= 0).sum()), round(float(score[a[rows] == cols].sum()) - places, 6)


def reference_optimum(
    n: int,
    rows: np.ndarray,
    cols: np.ndarray,
    score: np.ndarray,
    remaining: np.ndarray,
    load: np.ndarray,
    penalty: float,
    bonus: float,
) -> float:
    """Dense Hungarian (scipy) over every place plus one 'unmatched' column per mentee: an independent solver."""
    owner = np.repeat(np.arange(len(remaining)), remaining)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(remaining) - remaining, remaining)
    gain = np.full((n, len(owner) + n), -1e9)
    gain[:, len(owner) :] = 0.0
    dense = np.full((n, len(remaining)), np.nan)
    dense[rows, cols] = score
    real = ~np.isnan(dense[:, owner])
    gain[:, : len(owner)][real] = (dense[:, owner] + bonus - penalty * (load[owner] + k))[real]
    r, c = linear_sum_assignment(gain, maximize=True)
    return float(gain[r, c].sum())


@FAST
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.75]), st.booleans())
def test_pruned_optimum_equals_dense_hungarian(seed: int, penalty: float, most: bool) -> None:
    n, m = 40, 12
    rows, cols, score, remaining, load = random_pairs(seed, n, m, 0.6)
    bonus = 1000.0 if most else 0.0
    want = reference_optimum(n, rows, cols, score, remaining, load, penalty, bonus)
    # One flow over all pairs; or start from each mentee's and mentor's best and prove optimality with duals.
    for direct, first in ((10**9, (10, 3)), (0, (1, 1)), (0, (3, 1))):
        a = solve_optimal(n, rows, cols, score, remaining, load, penalty, most, direct_pairs=direct, first_subset=first)
        assert all(np.bincount(a[a >= 0], minlength=m) <= remaining)
        assert all(
            pair in set(zip(rows.tolist(), cols.tolist(), strict=True))
            for pair in zip(np.flatnonzero(a >= 0).tolist(), a[a >= 0].tolist(), strict=True)
        )
        count, total = objective(a, rows, cols, score, load, penalty)
        assert abs(count * bonus + total - want) < 1e-6


def textbook_deferred_acceptance(
    n: int, rows: np.ndarray, cols: np.ndarray, pref: np.ndarray, remaining: np.ndarray
) -> np.ndarray:
    """One proposal at a time from a queue (Gale–Shapley with capacities), in plain Python."""
    lists = {
        i: sorted(((-p, c) for r, c, p in zip(rows.tolist(), cols.tolist(), pref.tolist(), strict=True) if r == i))
        for i in range(n)
    }
    held: dict[int, list[tuple[float, int]]] = {j: [] for j in range(len(remaining))}
    nxt = dict.fromkeys(range(n), 0)
    queue = list(range(n))
    while queue:
        i = queue.pop()
        if nxt[i] >= len(lists[i]):
            continue
        neg, j = lists[i][nxt[i]]
        nxt[i] += 1
        held[j].append((neg, i))  # the mentor ranks by higher score, then lower row
        held[j].sort()
        if len(held[j]) > remaining[j]:
            queue.append(held[j].pop()[1])
    out = np.full(n, -1)
    for j, mentees in held.items():
        for _, i in mentees:
            out[i] = j
    return out


@FAST
@given(st.integers(0, 2**32 - 1), st.sampled_from([1, 2, 10]), st.sampled_from([3, 40]))
def test_sliced_deferred_acceptance_equals_textbook(seed: int, slice_size: int, levels: int) -> None:
    n, m = 30, 10
    rows, cols, score, remaining, _ = random_pairs(seed, n, m, 0.5, levels)
    score = np.round(score, 0 if levels < 10 else 6)  # few levels: many exact ties, broken by row and column
    got = solve_stable(n, rows, cols, score, remaining, slice_size=slice_size)
    assert got.tolist() == textbook_deferred_acceptance(n, rows, cols, score, remaining).tolist()
    assert blocking_pairs(rows, cols, score, remaining, got) == 0

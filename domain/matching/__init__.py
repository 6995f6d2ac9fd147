"""Matching engine: score every mentee–mentor pair, assign under capacities, explain the result.

Pure (numpy, OR-Tools min-cost flow): no I/O, no Prefect. See docs/matching.md for the scoring and the objectives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Literal

import numpy as np

from domain.matching.explain import PLACES_TAKEN, binding_reasons, match_reasons
from domain.matching.scoring import Edges, Instance, build_instance, candidate_edges, pair_components
from domain.matching.solvers import blocking_pairs, rank_in_group, solve_optimal, solve_stable
from domain.models import (
    MatchResult,
    Mentor,
    MentoringRequest,
    ProposedMatch,
    ScoreBreakdown,
    Unmatched,
    shared_windows,
)
from domain.rules import ProgramRules

Objective = Literal["fit", "participation", "stable"]
# One step of the score grid (scores are rounded to 1e-6): added to the pairs of the batch waiting for the lead,
# it decides ties only. A re-plan then keeps a waiting pair unless another plan is better by more than a millionth
# of a point per kept pair, so the lead is not asked again about the same people with another mentor of equal score.
KEEP_BONUS = 1e-6
OBJECTIVES: tuple[Objective, ...] = ("fit", "participation", "stable")

__all__ = [
    "OBJECTIVES",
    "Objective",
    "assign",
    "blocking_pairs",
    "build_instance",
    "candidate_edges",
    "preference_scores",
    "propose_matches",
]


def preference_scores(inst: Instance, edges: Edges) -> np.ndarray:
    """What both sides rank by: the pair score minus the load penalty of the mentor's current load."""
    return edges.score - inst.rules.weights.load_penalty * inst.load[edges.cols]


def assign(inst: Instance, edges: Edges, objective: Objective) -> np.ndarray:
    """Mentor column per mentee row (-1 = waiting) under the objective."""
    n, _ = inst.shape
    if objective == "stable":
        return solve_stable(n, edges.rows, edges.cols, preference_scores(inst, edges), inst.remaining)
    if objective not in ("fit", "participation"):
        raise ValueError(f"unknown matching objective {objective!r}: use fit, participation or stable")
    w = inst.rules.weights
    return solve_optimal(
        n,
        edges.rows,
        edges.cols,
        edges.score,
        inst.remaining,
        inst.load,
        w.load_penalty,
        maximize_count=objective == "participation",
    )


def propose_matches(
    requests: Sequence[MentoringRequest],
    mentors: Sequence[Mentor],
    load: Mapping[str, int],
    rules: ProgramRules,
    now: datetime,
    objective: Objective | None = None,
    keep: Mapping[int, str] | None = None,
) -> MatchResult:
    """Propose a mentor for each pending request, or say why it waits.

    ``load`` maps mentor email → mentees already assigned; only ``capacity - load`` places are offered.
    ``keep`` (request id → mentor key: the pairs already waiting for the lead) wins ties (:data:`KEEP_BONUS`).
    """
    objective = objective or rules.matching.objective
    inst = build_instance(requests, mentors, load, rules.matching, now, [t.key for t in rules.topics])
    edges = candidate_edges(inst)
    if keep:
        edges = prefer_kept(inst, edges, keep)
    chosen = assign(inst, edges, objective)
    return explain(inst, chosen, rules, edges)


def prefer_kept(inst: Instance, edges: Edges, keep: Mapping[int, str]) -> Edges:
    """``edges`` with :data:`KEEP_BONUS` added to the score of each pair in ``keep`` (request id → mentor key).
    Only the solver sees it: proposals show the pair's own score (``explain`` scores pairs again)."""
    column = {m.key: j for j, m in enumerate(inst.mentors)}
    kept = np.array([column.get(keep.get(r.id, ""), -1) for r in inst.requests], np.int64)
    bonus = (kept[edges.rows] == edges.cols) * KEEP_BONUS
    return replace(edges, score=edges.score + bonus)


def explain(inst: Instance, chosen: np.ndarray, rules: ProgramRules, edges: Edges | None = None) -> MatchResult:
    """Turn an assignment into proposals with breakdowns and reasons, and a waitlist with binding reasons.

    With the batch's ``edges``, a waiting mentee that had a candidate pair is known to have lost the fitting
    places to others, without checking each constraint again.
    """
    w = inst.rules.weights
    rows = np.flatnonzero(chosen >= 0)
    cols = chosen[rows]
    comp = pair_components(inst, rows, cols)
    # The k-th new mentee of a mentor carries the load penalty of place k (higher scores take earlier places).
    load_cost = np.zeros(len(rows))
    if w.load_penalty > 0 and len(rows):
        order = np.lexsort((rows, -comp.total, cols))
        sc = cols[order]
        load_cost[order] = -w.load_penalty * (inst.load[sc] + rank_in_group(sc))
    matches = []
    for idx, (r, c) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
        req, mentor = inst.requests[r], inst.mentors[c]
        app = req.application
        # Built from validated models and computed numbers: constructed without validating each field again.
        breakdown = ScoreBreakdown.model_construct(
            topics=round(float(comp.topics[idx]), 6),
            stage=float(comp.stage[idx]),
            availability=round(float(comp.availability[idx]), 6),
            language=float(comp.language[idx]),
            continuity=float(comp.continuity[idx]),
            priority=round(float(comp.priority[idx]), 6),
            load=round(float(load_cost[idx]), 6),
            free_text=float(comp.free_text[idx]),
        )
        windows = shared_windows(list(app.availability), list(mentor.availability))
        reasons = match_reasons(rules, app, mentor, windows, bool(comp.continuity[idx] > 0))
        matches.append(
            ProposedMatch.model_construct(
                request_id=req.id,
                mentor_email=mentor.key,
                score=breakdown.total,
                breakdown=breakdown,
                reasons=reasons,
                shared_windows=windows,
            )
        )
    waiting = np.flatnonzero(chosen < 0)
    if edges is not None:
        had_pair = np.zeros(len(chosen), bool)
        had_pair[edges.rows] = True
        lost, check = waiting[had_pair[waiting]], waiting[~had_pair[waiting]]
    else:
        lost, check = waiting[:0], waiting
    why = binding_reasons(inst, check, True, rules) | {r: PLACES_TAKEN for r in lost.tolist()}
    waitlist = [Unmatched(request_id=inst.requests[r].id, reason=why[r]) for r in waiting.tolist()]
    return MatchResult(matches=matches, waitlist=waitlist)

"""Assignment under capacities: optimal (fit, participation) and stable (deferred acceptance).

All solvers take the sparse candidate edges and return ``assign``: for each mentee row the mentor column, or -1.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from ortools.graph.python.min_cost_flow import SimpleMinCostFlow

I64 = NDArray[np.int64]
IntArray = NDArray[np.int64] | NDArray[np.int32]
F64 = NDArray[np.float64]
Bool = NDArray[np.bool_]

MICRO = 1_000_000  # scores are on a 1e-6 grid: as integer micro-points, flow costs and the optimality check are exact
DIRECT_PAIRS = 250_000  # up to this many candidate pairs, one flow over all of them (measured faster there)
MENTEE_TOP, MENTOR_TOP = 10, 3  # otherwise start from each mentee's 10 best and each mentor's 3 × places best
BUCKETS = 128  # score resolution of those first choices (they only have to be good: the answer is exact anyway)
BLOCK = 1 << 18  # pairs per block in passes over all pairs: temporaries stay small and in cache
NO_PLACE = np.int64(2**62)
NEAR = 0.1  # pairs within this many points of proof join the subset with the unproven ones


class SolverError(RuntimeError):
    """The flow solver reported something other than an optimum (a bug or an out-of-range cost)."""


def solve_optimal(
    n: int,
    rows: IntArray,
    cols: IntArray,
    score: F64,
    remaining: I64,
    load: I64,
    load_penalty: float,
    maximize_count: bool,
    direct_pairs: int = DIRECT_PAIRS,
    first_subset: tuple[int, int] = (MENTEE_TOP, MENTOR_TOP),
) -> I64:
    """Best total score (``maximize_count=False``) or most mentees matched, then best total score.

    A min-cost flow (OR-Tools): source → mentee → mentor → sink, where mentor j's k-th new mentee uses a place
    costing ``load_penalty`` × (load + k), so places fill in order and load spreads. A pair is taken only when
    it gains more than its place costs, except under ``maximize_count``, where every matched mentee also earns
    a bonus larger than any total score difference.

    Large batches are solved on a subset of the pairs first (each mentee's and each mentor's best); the
    subset's optimum is then proved optimal for all pairs with LP duality (``_duals``: no pair left out may
    gain more than its mentee and its mentor already get), and pairs that fail the proof join the subset for
    another round. The answer is exact either way. ``direct_pairs`` and ``first_subset`` (best pairs per
    mentee, per mentor place) only change the speed. ``rows`` must be sorted (as ``candidate_edges`` gives them).
    """
    if len(rows) == 0 or remaining.sum() == 0:
        return np.full(n, -1, np.int64)
    bonus = 0.0
    if maximize_count:
        # One more matched mentee must outweigh any difference in total score: an augmenting path changes
        # at most min(mentees, places) pairs, each worth at most max|gain|.
        bonus = (min(n, int(remaining.sum())) + 1) * (float(np.abs(score).max()) * MICRO + 1)

    def gain(part: F64) -> I64:
        return (np.rint(part * MICRO) + bonus).astype(np.int64)

    places = Places(remaining, load, round(load_penalty * MICRO))
    if len(rows) <= direct_pairs:
        return _min_cost_flow(n, rows, cols, gain(score), places)
    buckets = _Buckets(score)
    subset, _ = buckets.best(rows, cols, n, np.full(n, first_subset[0]), first_subset[1] * remaining)
    chosen = np.zeros(len(rows), bool)
    chosen[subset] = True
    while True:
        sub_rows, sub_cols, sub_gain = rows[subset], cols[subset], gain(score[subset])
        assign = _min_cost_flow(n, sub_rows, sub_cols, sub_gain, places)
        u, w = _duals(n, sub_rows, sub_cols, sub_gain, assign, places)
        # In score units, half a micro-point above the bound: exact for scores on the 1e-6 grid.
        row_bound, col_bound = (u - bonus + 0.5) / MICRO, w / MICRO
        unproven, near = [], []
        for lo, hi in _blocks(len(rows)):
            slack = score[lo:hi] - row_bound[rows[lo:hi]]
            slack -= col_bound[cols[lo:hi]]
            unproven.append(np.count_nonzero(slack > 0))
            near.append(lo + np.flatnonzero(slack > -NEAR))
        if sum(unproven) == 0:
            return assign
        # Pairs close to the bound join too: the next optimum moves the duals a little, and they would follow.
        chosen[np.concatenate(near)] = True
        grown = np.flatnonzero(chosen)
        if len(grown) == len(subset):  # cannot happen with an optimal subset flow: never loop on it
            raise SolverError("unproven pairs are already in the subset: its flow was not optimal")
        subset = grown


class Places:
    """Every free place of every mentor, in fill order, with its load-penalty cost (micro-points)."""

    def __init__(self, remaining: I64, load: I64, penalty: int) -> None:
        self.remaining = remaining
        self.owner = np.repeat(np.arange(len(remaining), dtype=np.int64), remaining)
        self.first = np.cumsum(remaining) - remaining  # index of each mentor's first place
        self.cost = penalty * (load[self.owner] + np.arange(len(self.owner)) - self.first[self.owner])

    def next_free_cost(self, taken: I64) -> I64:
        """Per mentor, the cost of its next free place after ``taken`` are filled (``NO_PLACE`` when full)."""
        has = taken < self.remaining
        out = np.full(len(self.remaining), NO_PLACE, np.int64)
        out[has] = self.cost[(self.first + taken)[has]]
        return out


def _min_cost_flow(n: int, rows: IntArray, cols: IntArray, gain: I64, places: Places) -> I64:
    m = len(places.remaining)
    source, sink = n + m, n + m + 1
    flow = SimpleMinCostFlow()
    tails = np.concatenate([np.full(n, source), rows, n + places.owner, [source]]).astype(np.int64)
    heads = np.concatenate([np.arange(n), n + cols.astype(np.int64), np.full(len(places.owner), sink), [sink]])
    caps = np.ones(len(tails), np.int64)
    caps[-1] = n  # the bypass: a mentee may stay unmatched
    costs = np.concatenate([np.zeros(n, np.int64), -gain, places.cost, [0]])
    arcs = flow.add_arcs_with_capacity_and_unit_cost(tails, heads, caps, costs)
    flow.set_nodes_supplies(np.array([source, sink]), np.array([n, -n]))
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise SolverError(f"min-cost flow ended with status {status}")
    used = flow.flows(arcs[n : n + len(rows)]) > 0
    assign = np.full(n, -1, np.int64)
    assign[rows[used]] = cols[used]
    return assign


def _duals(n: int, rows: IntArray, cols: IntArray, gain: I64, assign: I64, places: Places) -> tuple[I64, I64]:
    """The least optimal dual of the subset's flow: ``u`` per mentee, ``w`` per mentor, integers.

    ``w[j]`` is the cheapest way to give mentor j one more mentee: its next free place, or displacing a current
    mentee i (which leaves i with ``gain - u[i]`` less). ``u[i]`` is what mentee i gains over that, at best
    (0 when unmatched). Any pair with ``gain > u + w`` could improve the total; none in the subset can, because
    its assignment is optimal there, so iterating from u = 0 settles (Bellman–Ford on the residual graph).
    """
    m = len(places.remaining)
    own = assign[rows] == cols
    o_row, o_col, o_gain = rows[own], cols[own], gain[own]
    free = places.next_free_cost(np.bincount(o_col, minlength=m))
    starts = group_starts(rows)
    who = rows[starts]
    u = np.zeros(n, np.int64)
    for _ in range(n + m + 2):
        w = free.copy()
        np.minimum.at(w, o_col, o_gain - u[o_row])
        new = np.zeros(n, np.int64)
        new[who] = np.maximum(np.maximum.reduceat(gain - w[cols], starts), 0)
        if np.array_equal(new, u):
            return u, w
        u = new
    raise SolverError("duals did not settle: the subset's flow was not optimal")


def group_starts(keys: IntArray) -> I64:
    """Where each run of equal values starts in sorted ``keys``."""
    if len(keys) == 0:
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])


def rank_in_group(keys: IntArray) -> I64:
    """0, 1, 2, … within each run of equal values of sorted ``keys``."""
    first = group_starts(keys)
    return np.arange(len(keys)) - np.repeat(first, np.diff(np.r_[first, len(keys)]))


def _blocks(total: int) -> list[tuple[int, int]]:
    return [(lo, min(lo + BLOCK, total)) for lo in range(0, total, BLOCK)]


class _Buckets:
    """Scores cut into ``BUCKETS`` equal ranges (higher bucket = higher score), to pick each side's best quickly."""

    def __init__(self, score: F64) -> None:
        self.score = score
        self.lo = float(score.min()) if len(score) else 0.0
        span = float(score.max()) - self.lo if len(score) else 0.0
        self.scale = (BUCKETS - 1) / span if span > 0 else 0.0

    def of(self, values: F64) -> I64:
        return np.clip((values - self.lo) * self.scale, 0, BUCKETS - 1).astype(np.int64)

    def best(self, rows: IntArray, cols: IntArray, n: int, per_row: I64, per_col: I64 | None) -> tuple[I64, I64]:
        """Indices of the pairs in each row's (and each column's) best buckets, enough buckets to hold
        ``per_row`` (``per_col``) pairs, or all of them; and each row's lowest bucket taken (0 = all).
        ``rows`` must be sorted."""
        row_hist = np.zeros((n, BUCKETS), np.int64)
        m = 0 if per_col is None else len(per_col)
        col_hist = np.zeros(m * BUCKETS, np.int64)
        for lo, hi in _blocks(len(rows)):
            b = self.of(self.score[lo:hi])
            first = int(rows[lo])  # rows are sorted: this block covers rows first .. rows[hi - 1]
            span = int(rows[hi - 1]) - first + 1
            row_hist[first : first + span] += np.bincount(
                (rows[lo:hi] - first) * BUCKETS + b, minlength=span * BUCKETS
            ).reshape(span, BUCKETS)
            if m:
                col_hist += np.bincount(cols[lo:hi].astype(np.int64) * BUCKETS + b, minlength=m * BUCKETS)
        row_min = _threshold(row_hist, per_row)
        col_min = _threshold(col_hist.reshape(m, BUCKETS), per_col) if per_col is not None else None
        picked = []
        for lo, hi in _blocks(len(rows)):
            b = self.of(self.score[lo:hi])
            keep = b >= row_min[rows[lo:hi]]
            if col_min is not None:
                keep |= b >= col_min[cols[lo:hi]]
            picked.append(lo + np.flatnonzero(keep))
        return (np.concatenate(picked) if picked else np.zeros(0, np.int64)), row_min


def _threshold(hist: I64, want: I64) -> I64:
    """Per group, the lowest bucket such that the buckets from it up hold at least ``want`` pairs (0 if none)."""
    from_top = np.cumsum(hist[:, ::-1], axis=1)
    enough = from_top >= np.maximum(want, 1)[:, None]
    return np.where(enough.any(axis=1), BUCKETS - 1 - enough.argmax(axis=1), 0)


def solve_stable(
    n: int, rows: IntArray, cols: IntArray, pref: F64, remaining: I64, slice_size: int = MENTEE_TOP
) -> I64:
    """Mentee-proposing deferred acceptance with capacities, in parallel rounds.

    Both sides rank by ``pref`` (a mentee's list: higher first, then lower column; a mentor keeps the highest,
    then the lower row). Every free mentee proposes to its next mentor each round; each involved mentor keeps
    its best ``remaining`` among held and new proposals. The result is the mentee-optimal stable matching.

    Lists are never sorted whole: each mentee gets a slice of its best pairs (by score bucket); one that runs
    through its slice while still free gets its next best among the mentors that would still take it. A mentor
    full of mentees it ranks higher rejects such a proposal now and forever (it only trades up), so skipping
    those leaves the result unchanged. ``rows`` must be sorted.
    """
    assign = np.full(n, -1, np.int64)
    if len(rows) == 0:
        return assign
    held = np.full(n, -np.inf)
    starts = np.searchsorted(rows, np.arange(n + 1))
    buckets = _Buckets(pref)
    store_c, store_p = np.zeros(0, np.int64), np.zeros(0)  # the slices handed out so far, back to back
    nxt, end = np.zeros(n, np.int64), np.zeros(n, np.int64)  # each mentee's place in its current slice
    want = slice_size
    idx, floor = buckets.best(rows, cols, n, np.full(n, want), None)  # floor: lower buckets not yet looked at
    while True:
        o = np.lexsort((cols[idx], -pref[idx], rows[idx]))
        idx = idx[o]
        r = rows[idx]
        seg = group_starts(r)
        who = r[seg].astype(np.int64)
        nxt[who] = len(store_c) + seg
        end[who] = len(store_c) + np.r_[seg[1:], len(r)]
        store_c = np.concatenate([store_c, cols[idx].astype(np.int64)])
        store_p = np.concatenate([store_p, pref[idx]])
        _propose(who, store_c, store_p, nxt, end, assign, held, remaining)
        stalled = np.flatnonzero((assign < 0) & (nxt >= end) & (floor > 0))
        if stalled.size == 0:
            return assign
        want *= 2
        idx, floor[stalled] = _next_slice(
            stalled, starts, rows, cols, pref, buckets, floor, assign, held, remaining, want
        )


def _next_slice(
    stalled: I64,
    starts: I64,
    rows: IntArray,
    cols: IntArray,
    pref: F64,
    buckets: _Buckets,
    floor: I64,
    assign: I64,
    held: F64,
    remaining: I64,
    want: int,
) -> tuple[I64, I64]:
    """For mentees that ran out while free: their next best pairs that are not hopeless, and their new floor."""
    m = len(remaining)
    length = starts[stalled + 1] - starts[stalled]
    idx = np.repeat(starts[stalled] - np.cumsum(length) + length, length) + np.arange(int(length.sum()))
    b = buckets.of(pref[idx])
    r, c, p = rows[idx].astype(np.int64), cols[idx], pref[idx]
    fresh = b < floor[r]
    # A full mentor takes a newcomer only over its worst held mentee: lower score, or equal score and later row.
    mine = assign >= 0
    used = np.bincount(assign[mine], minlength=m)
    worst_p = np.full(m, np.inf)
    np.minimum.at(worst_p, assign[mine], held[mine])
    at_worst = mine & (held == worst_p[np.maximum(assign, 0)])
    worst_r = np.full(m, -1)
    np.maximum.at(worst_r, assign[at_worst], np.flatnonzero(at_worst))
    full = used >= remaining
    open_to = ~full[c] | (p > worst_p[c]) | ((p == worst_p[c]) & (r < worst_r[c]))
    keep = fresh & open_to
    idx, r, b = idx[keep], r[keep], b[keep]
    pos = np.searchsorted(stalled, r)
    hist = np.bincount(pos * BUCKETS + b, minlength=len(stalled) * BUCKETS).reshape(len(stalled), BUCKETS)
    lowest = _threshold(hist, np.full(len(stalled), want))
    return idx[b >= lowest[pos]], lowest


def _propose(free: I64, store_c: I64, store_p: F64, nxt: I64, end: I64, assign: I64, held: F64, remaining: I64) -> None:
    """Deferred-acceptance rounds until every free mentee has run through its slice (updates in place)."""
    involved = np.zeros(len(remaining) + 1, bool)  # last entry stands for "unassigned" (index -1)
    free = free[nxt[free] < end[free]]
    while free.size:
        pos = nxt[free]
        nxt[free] += 1
        pm, ps = store_c[pos], store_p[pos]
        involved[:] = False
        involved[pm] = True
        holders = np.flatnonzero(involved[assign])
        cand_i = np.concatenate([holders, free])
        cand_j = np.concatenate([assign[holders], pm])
        cand_s = np.concatenate([held[holders], ps])
        o = np.lexsort((cand_i, -cand_s, cand_j))
        cand_i, cand_j, cand_s = cand_i[o], cand_j[o], cand_s[o]
        keep = rank_in_group(cand_j) < remaining[cand_j]
        assign[cand_i[keep]] = cand_j[keep]
        held[cand_i[keep]] = cand_s[keep]
        out = cand_i[~keep]
        assign[out] = -1
        held[out] = -np.inf
        free = out[nxt[out] < end[out]]


def blocking_pairs(rows: I64, cols: I64, pref: F64, remaining: I64, assign: I64) -> int:
    """Pairs (mentee, mentor) that both strictly prefer each other to what ``assign`` gives them.

    A mentee prefers a mentor scoring higher than its own match (any acceptable mentor over none); a mentor
    prefers a mentee scoring higher than its worst new mentee, or any acceptable one while it has a free place.
    Pairs of ``assign`` outside the edge list count as scoring -inf for their mentee.
    """
    n, m = len(assign), len(remaining)
    mine = np.full(n, -np.inf)
    hit = assign[rows] == cols
    mine[rows[hit]] = pref[hit]
    used = np.bincount(assign[assign >= 0], minlength=m)
    worst = np.full(m, np.inf)
    np.minimum.at(worst, cols[hit], pref[hit])
    # Mentees matched through a pair outside the edge list still occupy a place; their score counts as -inf.
    off = (assign >= 0) & ~np.isin(np.arange(n), rows[hit])
    worst[assign[off]] = -np.inf
    open_place = used < remaining
    block = (pref > mine[rows]) & (open_place[cols] | (pref > worst[cols]))
    return int(block.sum())

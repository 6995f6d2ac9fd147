"""Matching benchmark: mentorflow's objectives against the tools programs use today, on the same instances.

Every method runs in its own process (peak memory = that process's ru_maxrss); the peers run in their own
virtualenvs under benchmarks/.venvs/ (created here with pip, pinned) because both install a package named
``matching``. Every assignment is scored with mentorflow's score; blocking pairs are counted here.

    python benchmarks/matching.py            # all sizes (peers stop at the first size they cannot finish)
    python benchmarks/matching.py --quick    # 100×40 and 1,000×400 only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching, min_weight_full_bipartite_matching

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.instances import SIZES, generate  # noqa: E402
from domain.matching import blocking_pairs, build_instance, candidate_edges, preference_scores  # noqa: E402

RESULTS = HERE / "results"
VENVS = HERE / ".venvs"
PEERS = {
    "mentor-match": ["mentor-match==7.0.1", "munkres==3.0.0"],
    "matching-hr": ["matching==1.4.3"],
}
METHODS = ["mentorflow-fit", "mentorflow-participation", "mentorflow-stable", "mentor-match", "matching-hr", "greedy"]
OURS = {"mentorflow-fit", "mentorflow-participation", "mentorflow-stable", "greedy"}


def peer_python(peer: str) -> Path:
    """The peer's own virtualenv (created once, pinned versions from PyPI)."""
    venv = VENVS / peer
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    wanted = " ".join(PEERS[peer])
    if not marker.exists() or marker.read_text() != wanted:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *PEERS[peer]], check=True
        )
        marker.write_text(wanted)
    return python


def run(cmd: list[str], out: Path, cap: float) -> dict | None:
    """Run one method; None when it did not finish within ``cap`` seconds (or failed)."""
    try:
        done = subprocess.run(cmd, timeout=cap, capture_output=True, text=True)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0 or not out.exists():
        print(f"    failed: {done.stderr.strip().splitlines()[-1:] or done.returncode}")
        return None
    return json.loads(out.read_text())


def reference_optimum(n: int, rows: np.ndarray, cols: np.ndarray, score: np.ndarray, remaining: np.ndarray) -> float:
    """Independent check of the fit optimum: scipy's sparse Jonker–Volgenant (LAPJVsp) over one row per mentor
    place, each with a private 'empty' column, so a place may stay empty. Not OR-Tools, not mentorflow's code."""
    owner = np.repeat(np.arange(len(remaining)), remaining)
    by_mentor = csr_matrix((score, (cols, rows)), shape=(len(remaining), n))
    places = by_mentor[owner].tocsr()  # one row per free place, holding its mentor's candidate mentees
    big = float(score.max()) + 1.0
    ptr = places.indptr + np.arange(len(owner) + 1)
    idx = np.empty(ptr[-1], np.int64)
    cost = np.empty(ptr[-1])
    real = np.ones(ptr[-1], bool)
    real[ptr[1:] - 1] = False
    idx[real], cost[real] = places.indices, big - places.data
    idx[~real], cost[~real] = n + np.arange(len(owner)), big
    graph = csr_matrix((cost, idx, ptr), shape=(len(owner), n + len(owner)))
    r, c = min_weight_full_bipartite_matching(graph)
    taken = c < n
    return float((big - np.asarray(graph[r[taken], c[taken]]).ravel()).sum())


def max_cardinality(n: int, rows: np.ndarray, cols: np.ndarray, remaining: np.ndarray) -> int:
    """Most mentees that can be matched (Hopcroft–Karp over capacity slots), independent of mentorflow's solver."""
    graph = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, len(remaining)))
    owner = np.repeat(np.arange(len(remaining)), remaining)
    slots = graph[:, owner].tocsr()
    return int((maximum_bipartite_matching(slots, perm_type="column") >= 0).sum())


def evaluate(size: tuple[int, int], methods: list[str], cap: float, skip: set[str]) -> list[dict]:
    n, m = size
    batch = generate(n, m)
    inst = build_instance(batch.requests, batch.mentors, {}, batch.rules.matching, batch.now)
    edges = candidate_edges(inst)
    pref = preference_scores(inst, edges)
    records: list[dict] = []
    raw: dict[str, dict | None] = {}
    with tempfile.TemporaryDirectory() as tmp:
        edges_file = Path(tmp) / "edges.json"
        if any(p in methods and p not in skip for p in PEERS):
            edges_file.write_text(
                json.dumps(
                    {
                        "mentees": n,
                        "mentors": m,
                        "capacity": inst.remaining.tolist(),
                        "edges": [
                            [int(i), int(j), float(s)]
                            for i, j, s in zip(edges.rows, edges.cols, edges.score, strict=True)
                        ],
                    }
                )
            )
        for method in methods:
            out = Path(tmp) / f"{method}.json"
            if method in skip:
                raw[method] = None
                continue
            if method in OURS:
                cmd = [sys.executable, str(HERE / "run_mentorflow.py"), method, str(n), str(m), str(out)]
            else:
                cmd = [str(peer_python(method)), str(HERE / "run_peer.py"), method, str(edges_file), str(out)]
            started = time.perf_counter()
            raw[method] = run(cmd, out, cap)
            status = "done" if raw[method] else "not finished"
            print(f"  {method:26s} {status} ({time.perf_counter() - started:.1f} s wall incl. start-up)", flush=True)

    totals: dict[str, float] = {}
    assigns: dict[str, np.ndarray] = {}
    for method, res in raw.items():
        if res is None:
            continue
        a = np.full(n, -1, np.int64)
        for i, j in res["pairs"]:
            a[i] = j
        assigns[method] = a
        hit = a[edges.rows] == edges.cols
        totals[method] = float(edges.score[hit].sum())
        infeasible = int((a >= 0).sum() - hit.sum())
        if infeasible:
            print(f"  {method}: {infeasible} pairs break a hard constraint (scored 0)")
    optimum = reference_optimum(n, edges.rows, edges.cols, edges.score, inst.remaining)
    most = max_cardinality(n, edges.rows, edges.cols, inst.remaining)
    print(f"  optimum total {optimum}, most matchable {most} of {n}, feasible pairs {len(edges.rows):,}")
    for method in methods:
        res = raw.get(method)
        rec: dict = {"method": method, "mentees": n, "mentors": m, "finished": res is not None}
        if res is not None:
            a = assigns[method]
            rec |= {
                "seconds": round(res["seconds"], 3),
                "solve_seconds": round(res["solve_seconds"], 3),
                "assign_seconds": round(res["assign_seconds"], 4),
                "runs": res["runs"],
                "peak_mb": round(res["peak_mb"], 1),
                "score_pct_of_optimum": round(100 * totals[method] / optimum, 2) if optimum else None,
                "matched_pct": round(100 * float((a >= 0).mean()), 2),
                "matched_pct_of_max": round(100 * float((a >= 0).sum()) / most, 2) if most else None,
                "blocking_pairs": blocking_pairs(edges.rows, edges.cols, pref, inst.remaining, a),
            }
        records.append(rec)
    return records


def markdown(records: list[dict]) -> str:
    lines = [
        "| method | size | finished | seconds end to end | scoring + assignment s | assignment s | peak MB "
        "| score % of optimum | matched % (of max) | blocking pairs |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in records:
        size = f"{r['mentees']:,}×{r['mentors']:,}"
        if not r["finished"]:
            lines.append(f"| {r['method']} | {size} | no (cap) | — | — | — | — | — | — | — |")
            continue
        lines.append(
            f"| {r['method']} | {size} | yes | {r['seconds']:.3f} | {r['solve_seconds']:.3f} | "
            f"{r['assign_seconds']:.4f} | {r['peak_mb']:.0f} | "
            f"{r['score_pct_of_optimum']:.1f} | {r['matched_pct']:.1f} ({r['matched_pct_of_max']:.1f}) | "
            f"{r['blocking_pairs']:,} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only the two small sizes")
    parser.add_argument(
        "--cap", type=float, default=120.0, help="seconds a run may take before it counts as not finished (default 120)"
    )
    parser.add_argument("--sizes", default="", help="comma-separated NxM sizes instead of the defaults")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write matching.json / matching.md")
    args = parser.parse_args()
    sizes = [tuple(int(x) for x in s.split("x")) for s in args.sizes.split(",") if s] or list(
        SIZES[:2] if args.quick else SIZES
    )
    methods = [x for x in args.methods.split(",") if x]
    records: list[dict] = []
    gave_up: set[str] = set()
    for n, m in sizes:
        print(f"{n:,} mentees × {m:,} mentors", flush=True)
        recs = evaluate((n, m), methods, args.cap, gave_up)
        gave_up |= {r["method"] for r in recs if not r["finished"]}  # a larger size would not finish either
        records += recs
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "matching.json").write_text(json.dumps(records, indent=1) + "\n")
    table = markdown(records)
    (args.out / "matching.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()

"""One peer library on one instance, run with the peer's own virtualenv (standard library + the peer only).

Usage: run_peer.py PEER EDGES.json OUT.json. EDGES.json holds mentees, mentors, capacities and the feasible
pairs with mentorflow's scores; both peers get exactly these pairs and scores.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from pathlib import Path

# This folder holds benchmarks/matching.py, which would shadow the peers' own top-level `matching` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def run_matching_hr(data: dict) -> list[list[int]]:
    """``matching`` (daffidwilde) HospitalResident, resident-optimal, preferences induced by the score."""
    from matching.games import HospitalResident

    prefs_r: dict[int, list[tuple[float, int]]] = {i: [] for i in range(data["mentees"])}
    prefs_h: dict[int, list[tuple[float, int]]] = {j: [] for j in range(data["mentors"])}
    for i, j, s in data["edges"]:
        prefs_r[i].append((-s, j))
        prefs_h[j].append((-s, i))
    resident_prefs = {f"r{i}": [f"h{j}" for _, j in sorted(v)] for i, v in prefs_r.items() if v}
    hospital_prefs = {f"h{j}": [f"r{i}" for _, i in sorted(v)] for j, v in prefs_h.items() if v}
    capacities = {f"h{j}": data["capacity"][j] for j in range(data["mentors"]) if f"h{j}" in hospital_prefs}
    game = HospitalResident.create_from_dictionaries(resident_prefs, hospital_prefs, capacities)
    solution = game.solve(optimal="resident")
    return [[int(r.name[1:]), int(h.name[1:])] for h, residents in solution.items() for r in residents]


def run_mentor_match(data: dict) -> list[list[int]]:
    """``mentor-match`` (jonodrew): one Munkres round per capacity level, rules disqualify infeasible pairs."""
    from matching.mentee import Mentee
    from matching.mentor import Mentor
    from matching.process import process_data
    from matching.rules import rule as rl

    # mentor-match costs are ``sys.maxsize - score``: integer scores (micro-points) keep them exact.
    scores = {(i, j): round(s * 1_000_000) for i, j, s in data["edges"]}
    mentees = [Mentee(grade=0, email=f"e{i}@example.org") for i in range(data["mentees"])]
    mentors = [Mentor(grade=1, email=f"m{j}@example.org") for j in range(data["mentors"])]
    for i, p in enumerate(mentees):
        p.idx = i  # type: ignore[attr-defined]
    for j, p in enumerate(mentors):
        p.idx = j  # type: ignore[attr-defined]
        p.cap = data["capacity"][j]  # type: ignore[attr-defined]

    class Score(rl.Rule):
        def apply(self, match_object) -> int:  # type: ignore[no-untyped-def]
            return scores.get((match_object.mentee.idx, match_object.mentor.idx), 0)

    def rules() -> list:
        return [
            Score(),
            rl.Disqualify(lambda m: (m.mentee.idx, m.mentor.idx) not in scores),
            rl.Disqualify(lambda m: len(m.mentee.mentors) > 0 or len(m.mentor.mentees) >= m.mentor.cap),
        ]

    rounds = max(data["capacity"], default=0)
    process_data(mentors, mentees, [rules() for _ in range(rounds)])
    return [[p.idx, p.mentors[0].idx] for p in mentees if p.mentors]  # type: ignore[attr-defined]


def main() -> None:
    peer, edges_path, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    data = json.loads(edges_path.read_text())
    run = {"matching-hr": run_matching_hr, "mentor-match": run_mentor_match}[peer]
    box: dict[str, object] = {}

    def target() -> None:
        # Like run_mentorflow.py: a run under 5 s is repeated (up to 3 runs in all) and the best kept.
        times: list[float] = []
        while len(times) < 3 and sum(times) < 5.0:
            started = time.perf_counter()
            box["pairs"] = run(data)
            times.append(time.perf_counter() - started)
        box["seconds"] = box["solve_seconds"] = box["assign_seconds"] = min(times)
        box["runs"] = len(times)

    # `matching` deep-copies its player graph recursively: give it a deep stack.
    sys.setrecursionlimit(1_000_000)
    threading.stack_size(512 * 1024 * 1024)
    worker = threading.Thread(target=target)
    worker.start()
    worker.join()
    if "seconds" not in box:
        sys.exit(f"{peer} failed")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):  # peak since exec (ru_maxrss carries the parent's over exec)
            peak_mb = int(line.split()[1]) / 1024
    out.write_text(
        json.dumps(
            {key: box[key] for key in ("seconds", "solve_seconds", "assign_seconds", "runs", "pairs")}
            | {"peak_mb": peak_mb}
        )
    )


if __name__ == "__main__":
    main()

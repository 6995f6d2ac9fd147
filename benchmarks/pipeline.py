"""Pipeline benchmark: the program's stages under a Prefect server, on SQLite and PostgreSQL.

    make bench-pipeline                # = python benchmarks/pipeline.py --compare results/pipeline-base.json
    python benchmarks/pipeline.py --quick --db sqlite    # a small run to see that it works (~1 min)
    python benchmarks/pipeline.py --code DIR --label base --out FILE    # measure another checkout

With ``--compare FILE`` and no such file, the base is measured first: ``--base-rev`` (main before issue #12) is
unpacked with ``git archive`` and measured by this script (``--code``); then this checkout is measured, and the
table (base, this branch, target) is printed and written to ``results/pipeline.md``.

Measures, each from a fresh program folder and database, against the local connectors:
- ``all_stages``: the ``pipeline`` flow (intake → match → invite → follow-up → digest → report) over 1,000
  new answers and a 400-mentor roster; ``task_runs`` is how many task runs the server recorded for it;
- ``nothing_new``: the same flow again at once (nothing new to read, match or send);
- ``intake_small`` / ``intake_large``: the ``intake`` flow over a 100- and a 50,000-answer export.

The answers are synthesized (seeded, :mod:`benchmarks.program`) in the shape of a form's JSON export
(``config/samples/mentees-en.json``); people and emails are fictional. Only the flows, ``build_services`` and
``Settings`` of the measured checkout are used.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
if __name__ == "__main__":  # --code DIR: the measured checkout comes first, this script's helpers after it
    code = next((sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "--code"), None)
    sys.path[:0] = [str(Path(code).resolve()), str(HERE.parent)] if code else [str(HERE.parent)]

from benchmarks.program import DAY0, TOPICS, mentee_answers, prefect_server, windows  # noqa: E402

BASE_REV = "3cb954b"  # main before issue #12: one store class, one task run per match
SIZES = {"pipeline": 1000, "mentors": 400, "small": 100, "large": 50_000}
QUICK = {"pipeline": 100, "mentors": 40, "small": 100, "large": 2_000}


EXPORT_PART = 10_000  # answers per export file


def write_program(folder: Path, mentees: int, mentors: int, seed: int = 7) -> None:
    """A program folder: ``mentors.yaml`` and one JSON form export of ``mentees`` answers."""
    rng = random.Random(seed)
    (folder / "inbox").mkdir(parents=True, exist_ok=True)
    answers = [
        {
            "Response ID": f"bench-{i}",
            "Timestamp": (DAY0 - timedelta(days=3, minutes=i % 4000)).isoformat(),
            **answer,
        }
        for i, answer in enumerate(mentee_answers(mentees, rng, lists=True))
    ]
    # as a form's export downloaded in parts: the local intake refuses a file over 20 MB (about 45,000 answers)
    for part, start in enumerate(range(0, len(answers), EXPORT_PART)):
        chunk = answers[start : start + EXPORT_PART]
        (folder / "inbox" / f"mentees-{part + 1}.json").write_text(json.dumps(chunk), encoding="utf-8")
    roster = [
        {
            "name": f"Mentor {j}",
            "email": f"mentor{j}@example.org",
            "expertise": [t.lower().replace(" ", "-") for t in rng.sample(TOPICS[:3] + TOPICS[3:5], 3)],
            "years": rng.randint(4, 20),
            "career_stage": rng.randint(2, 4),
            "languages": ["he", "en"],
            "capacity": rng.randint(2, 3),
            "availability": windows(rng).split("; ") + windows(rng).split("; "),
            "active": "active",
        }
        for j in range(mentors)
    ]
    (folder / "mentors.yaml").write_text(yaml.safe_dump(roster, allow_unicode=True), encoding="utf-8")


class Database:
    """A fresh database per measure: a SQLite file in the folder, or a new PostgreSQL database."""

    def __init__(self, kind: str, admin_url: str) -> None:
        self.kind, self.admin_url = kind, admin_url
        self.names: list[str] = []

    def url(self, folder: Path) -> str | None:
        if self.kind == "sqlite":
            return None  # the program folder's default
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        name = f"mentorflow_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.names.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        if not self.names:
            return
        from sqlalchemy import create_engine, text

        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in self.names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def services_for(folder: Path, url: str | None) -> Any:
    from config.settings import Settings
    from mentorflow.bootstrap import build_services

    extra: dict[str, Any] = {"database_url": url} if url else {}
    return build_services(Settings(_env_file=None, data_dir=folder, **extra))  # type: ignore[call-arg]


def task_run_count() -> int:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        response = client._client.post("/task_runs/count", json={})
        response.raise_for_status()
        return int(response.json())


STAGES = ("intake", "match", "invite", "followup", "digest", "report")
STAGE_TIMES: dict[str, float] = {}  # filled by the wrappers time_stages installs (once per process)


def time_stages(times: dict[str, float] = STAGE_TIMES) -> None:
    """Time each stage of the ``pipeline`` flow, and intake's acknowledgments, into ``times`` (by name): each is
    wrapped where the flow calls it (``flows.pipeline.<stage>``, ``flows.intake.acknowledge_applications``), so
    any checkout of the program can be measured the same way."""
    import flows.intake
    import flows.pipeline

    def wrap(module: Any, name: str, label: str) -> None:
        inner = getattr(module, name, None)
        if inner is None or getattr(inner, "_bench_timed", False):
            return

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                times[label] = round(time.perf_counter() - start, 2)

        timed_call._bench_timed = True  # type: ignore[attr-defined]
        setattr(module, name, timed_call)

    for stage in STAGES:
        wrap(flows.pipeline, stage, stage)
    wrap(flows.intake, "acknowledge_applications", "acknowledgments")


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def measure_pipeline(db: Database, root: Path, sizes: dict[str, int], out: dict[str, Any], save: Any) -> None:
    """The ``pipeline`` flow over new answers, then again with nothing new."""
    from flows.pipeline import pipeline
    from mentorflow.bootstrap import use_services

    times = STAGE_TIMES
    folder = root / f"{db.kind}-pipeline"
    write_program(folder, sizes["pipeline"], sizes["mentors"])
    services = services_for(folder, db.url(folder))
    with use_services(services):
        before = task_run_count()
        out["all_stages"], result = timed(pipeline, DAY0)
        out["task_runs"] = task_run_count() - before
        out["scheduled"] = result["invite"].scheduled
        out["all_stages_by_stage"], out["load"] = dict(times), load()
        save()
        times.clear()
        before = task_run_count()
        out["nothing_new"], _ = timed(pipeline, DAY0)
        out["task_runs_nothing_new"] = task_run_count() - before
        out["nothing_new_by_stage"], out["load_nothing_new"] = dict(times), load()
        save()


def measure(
    db: Database,
    root: Path,
    sizes: dict[str, int],
    out: dict[str, Any],
    save: Any,
    intake_only: bool = False,
    pipeline_only: bool = False,
) -> None:
    """Fill ``out`` measure by measure (``save()`` after each, so a long run keeps what it measured);
    ``intake_only``: only the two intake exports; ``pipeline_only``: ``all_stages`` and ``nothing_new`` only."""
    from flows.intake import intake
    from mentorflow.bootstrap import use_services

    times = STAGE_TIMES
    time_stages(times)
    times.clear()
    if not intake_only:
        measure_pipeline(db, root, sizes, out, save)
    if pipeline_only:
        return
    for size in ("small", "large"):
        folder = root / f"{db.kind}-intake-{size}"
        write_program(folder, sizes[size], 40, seed=sizes[size])
        services = services_for(folder, db.url(folder))
        times.clear()
        with use_services(services):
            out[f"intake_{size}"], summary = timed(intake, DAY0)
        out[f"intake_{size}_created"] = summary.mentees.created
        # Intake also acknowledges each new applicant (issue #11): one email per request, timed on its own
        acks = getattr(summary, "acknowledged", None)
        out[f"intake_{size}_acks_sent"] = acks.sent if acks is not None else 0
        out[f"intake_{size}_acks"] = times.get("acknowledgments", 0.0)
        out[f"intake_{size}_without_acks"] = out[f"intake_{size}"] - out[f"intake_{size}_acks"]
        out[f"load_intake_{size}"] = load()
        save()
    out["intake_extra"] = out["intake_large"] - out["intake_small"]
    out["intake_extra_without_acks"] = out["intake_large_without_acks"] - out["intake_small_without_acks"]
    save()


def load() -> str:
    """The machine's load averages (1, 5, 15 minutes) when a figure was taken: the figures are wall times."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def run(
    databases: list[str],
    postgres_url: str,
    label: str,
    sizes: dict[str, int],
    out: Path,
    intake_only: bool = False,
    pipeline_only: bool = False,
) -> dict[str, Any]:
    results: dict[str, Any] = {"label": label, "sizes": sizes, "databases": {}}
    startup = int(os.environ.get("MENTORFLOW_BENCH_SERVER_STARTUP_TIMEOUT", "600"))
    with (
        tempfile.TemporaryDirectory(prefix="mentorflow-bench-") as tmp,
        prefect_server(Path(tmp) / "prefect-home", startup, log_level="WARNING"),
    ):
        for kind in databases:
            db = Database(kind, postgres_url)
            figures: dict[str, Any] = {}
            results["databases"][kind] = figures

            def save(kind: str = kind, figures: dict[str, Any] = figures) -> None:
                out.write_text(json.dumps(results, indent=2))
                print(label, kind, json.dumps(figures), flush=True)

            try:
                measure(db, Path(tmp), sizes, figures, save, intake_only, pipeline_only)
            finally:
                db.drop_all()
    return results


def measure_base(rev: str, args: argparse.Namespace, out: Path) -> None:
    """Measure ``rev`` of this repository with this script: unpacked by ``git archive``, in its own process."""
    with tempfile.TemporaryDirectory(prefix="mentorflow-base-") as code:
        archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", rev], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", code], input=archive.stdout, check=True)
        command = [sys.executable, __file__, "--code", code, "--label", "base", "--out", str(out), "--db", *args.db]
        command += ["--postgres-url", args.postgres_url] + (["--quick"] if args.quick else [])
        command += ["--pipeline-only"] if args.pipeline_only else []
        command += (["--large", str(args.large)] if args.large else []) + (["--intake-only"] * args.intake_only)
        subprocess.run(command, cwd=code, check=True)


def table(base: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """Markdown: each measure on each database, the base figure beside the new one and the target."""
    sizes = new["sizes"]
    rows = [
        ("all_stages", f"{sizes['pipeline']:,} new answers, every stage (s)", 20.0),
        ("task_runs", "task runs recorded for it", None),
        ("nothing_new", "a run with nothing new (s)", 2.0),
        ("task_runs_nothing_new", "task runs recorded for it", None),
        ("intake_small", f"intake, {sizes['small']:,}-answer export (s)", None),
        ("intake_large", f"intake, {sizes['large']:,}-answer export (s)", None),
        ("intake_large_created", "requests created from it (all of them, or the figure above means nothing)", None),
        ("intake_large_acks_sent", "acknowledgments sent by it (one email per new request)", None),
        ("intake_large_acks", "of which acknowledging (s)", None),
        ("intake_extra", f"{sizes['large']:,} minus {sizes['small']:,}, acknowledgments included (s)", 10.0),
        ("intake_extra_without_acks", f"{sizes['large']:,} minus {sizes['small']:,}, without them (s)", 10.0),
    ]
    full = sizes == SIZES and (base is None or base["sizes"] == SIZES)
    base_label = f"{(base or {}).get('label', 'base')} ({(base or {}).get('rev', BASE_REV)})"
    lines = [
        f"Sizes: {sizes}" + ("" if full else " (not the targets' sizes: the targets do not apply)"),
        "",
        f"| database | measure | {base_label} | this branch | target | met |",
        "|---|---|---:|---:|---:|---|",
    ]

    def fmt(v: float | int | None) -> str:
        return "–" if v is None else (f"{v:,}" if isinstance(v, int) else f"{v:.1f}")

    for kind, figures in new["databases"].items():
        before = (base or {}).get("databases", {}).get(kind, {})
        for key, label, target in rows:
            value = figures.get(key)
            met = "" if target is None or value is None or not full else ("yes" if value <= target else "no")
            shown = "" if target is None else f"≤ {target:g}"
            lines.append(f"| {kind} | {label} | {fmt(before.get(key))} | {fmt(value)} | {shown} | {met} |")
    lines += ["", "Seconds per stage (this branch), and the load average (1, 5, 15 min) after each measure:", ""]
    lines += [f"| database | run | load | {' | '.join(STAGES)} |", "|---|---|---|" + "---:|" * len(STAGES)]
    for kind, figures in new["databases"].items():
        for run, load_key in (("all_stages", "load"), ("nothing_new", "load_nothing_new")):
            by_stage = figures.get(f"{run}_by_stage", {})
            cells = " | ".join(fmt(by_stage.get(stage)) for stage in STAGES)
            lines.append(f"| {kind} | {run} | {figures.get(load_key, '–')} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "MENTORFLOW_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--quick", action="store_true", help=f"small sizes, to see that it runs: {QUICK}")
    parser.add_argument("--large", type=int, help=f"answers in the large intake export (default {SIZES['large']:,})")
    parser.add_argument(
        "--pipeline-only", action="store_true", help="measure all_stages and nothing_new only (not the intake exports)"
    )
    parser.add_argument("--code", help="measure this checkout instead of the one the script is in")
    parser.add_argument(
        "--intake-only", action="store_true", help="only the intake measures (the 100- and the large export)"
    )
    parser.add_argument("--label", default="new")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compare", type=Path, help="the base run's JSON (measured first when it is missing)")
    parser.add_argument("--base-rev", default=BASE_REV, help="what --compare measures when its file is missing")
    parser.add_argument("--new", type=Path, help="use this JSON as the new run instead of measuring again")
    args = parser.parse_args()
    results = HERE / "results"
    out = args.out or results / f"pipeline-{args.label}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.compare and args.quick:
        args.compare = args.compare.with_name(f"{args.compare.stem}-quick.json")
    if args.compare:  # the base is measured from another folder
        args.compare = args.compare.resolve()
    if args.compare and not args.compare.exists():
        measure_base(args.base_rev, args, args.compare)
    sizes = dict(QUICK if args.quick else SIZES)
    if args.large:
        sizes["large"] = args.large
    new = (
        json.loads(args.new.read_text())
        if args.new
        else run(args.db, args.postgres_url, args.label, sizes, out, args.intake_only, args.pipeline_only)
    )
    base = json.loads(args.compare.read_text()) if args.compare else None
    md = table(base, new)
    print(md)
    if base is not None:
        (results / f"pipeline{'-quick' if args.quick else ''}.md").write_text(md + "\n")


if __name__ == "__main__":
    main()

"""Pipeline benchmark: the program's stages under a Prefect server, on SQLite and PostgreSQL.

    python benchmarks/pipeline.py                      # both databases, all measures, writes results/pipeline-new.json
    python benchmarks/pipeline.py --label base --out /tmp/base.json   # the same on another checkout (e.g. main)
    python benchmarks/pipeline.py --compare results/pipeline-base.json  # print and write results/pipeline.md

Measures, each from a fresh program folder and database, against the local connectors:
- ``all_stages_1000``: the ``pipeline`` flow (intake → match → invite → follow-up → digest → report) over 1,000
  new answers and a 400-mentor roster; ``task_runs`` is how many task runs the server recorded for it;
- ``nothing_new``: the same flow again at once (nothing new to read, match or send);
- ``intake_100`` / ``intake_50000``: the ``intake`` flow over a 100- and a 50,000-answer export.

The answers are synthesized (seeded) in the shape of ``config/samples/mentees-en.json``; people and emails are
fictional. Only the flows, ``build_services`` and ``Settings`` are used, so the script runs unchanged on older
checkouts of mentorflow (run it from that checkout's root).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

sys.path.insert(0, os.getcwd())

TZ = ZoneInfo("Asia/Jerusalem")
DAY0 = datetime(2026, 11, 22, 9, 0, tzinfo=TZ)
TOPICS = [
    "Python",
    "JavaScript",
    "Backend",
    "Frontend",
    "DevOps",
    "Data engineering",
    "Open source",
    "Career growth",
    "Job interviews",
    "Testing",
]
DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu"]
TARGETS = {"all_stages_1000": 20.0, "nothing_new": 2.0, "intake_extra_50000": 10.0}


def _windows(rng: random.Random) -> str:
    return "; ".join(f"{d} {h}:00-{h + 2}:00" for d in rng.sample(DAYS, 3) for h in [rng.choice([9, 12, 18, 19])])


def write_program(folder: Path, mentees: int, mentors: int, seed: int = 7) -> None:
    """A program folder: ``mentors.yaml`` and one JSON form export of ``mentees`` answers."""
    rng = random.Random(seed)
    (folder / "inbox").mkdir(parents=True, exist_ok=True)
    answers = [
        {
            "Response ID": f"bench-{i}",
            "Timestamp": (DAY0 - timedelta(days=3, minutes=i % 4000)).isoformat(),
            "Full name": f"Mentee {i}",
            "Email address": f"mentee{i}@example.org",
            "Preferred languages": rng.choice([["English"], ["Hebrew"], ["English", "Hebrew"]]),
            "Topics (most important first)": rng.sample(TOPICS, rng.randint(1, 3)),
            "Career stage": str(rng.randint(0, 3)),
            "Goals": "grow",
            "Weekly availability": _windows(rng),
            "Accessibility needs": "",
            "May we contact you?": "Yes",
            "May we quote your feedback?": "No",
        }
        for i in range(mentees)
    ]
    (folder / "inbox" / "mentees.json").write_text(json.dumps(answers), encoding="utf-8")
    roster = [
        {
            "name": f"Mentor {j}",
            "email": f"mentor{j}@example.org",
            "expertise": [t.lower().replace(" ", "-") for t in rng.sample(TOPICS[:3] + TOPICS[3:5], 3)],
            "years": rng.randint(4, 20),
            "career_stage": rng.randint(2, 4),
            "languages": ["he", "en"],
            "capacity": rng.randint(2, 3),
            "availability": _windows(rng).split("; ") + _windows(rng).split("; "),
            "active": "active",
        }
        for j in range(mentors)
    ]
    (folder / "mentors.yaml").write_text(yaml.safe_dump(roster, allow_unicode=True), encoding="utf-8")


class Database:
    """A fresh database per measure: a SQLite file in the folder, or a new PostgreSQL database."""

    def __init__(self, kind: str, admin_url: str) -> None:
        self.kind, self.admin_url, self.names = kind, admin_url, []  # type: list[str]

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

    extra = {"database_url": url} if url else {}
    return build_services(Settings(_env_file=None, data_dir=folder, **extra))  # type: ignore[call-arg]


def task_run_count() -> int:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        response = client._client.post("/task_runs/count", json={})
        response.raise_for_status()
        return int(response.json())


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def measure(db: Database, root: Path, sizes: dict[str, int], out: dict[str, Any], save: Any) -> None:
    """Fill ``out`` measure by measure (``save()`` after each, so a long run keeps what it measured)."""
    from flows.intake import intake
    from flows.pipeline import pipeline
    from mentorflow.bootstrap import use_services

    folder = root / f"{db.kind}-pipeline"
    write_program(folder, sizes["pipeline"], sizes["mentors"])
    services = services_for(folder, db.url(folder))
    with use_services(services):
        before = task_run_count()
        out["all_stages_1000"], result = timed(pipeline, DAY0)
        out["task_runs"] = task_run_count() - before
        out["scheduled"] = result["invite"].scheduled
        save()
        before = task_run_count()
        out["nothing_new"], _ = timed(pipeline, DAY0)
        out["task_runs_nothing_new"] = task_run_count() - before
        save()
    for n in (sizes["small"], sizes["large"]):
        folder = root / f"{db.kind}-intake-{n}"
        write_program(folder, n, 40, seed=n)
        services = services_for(folder, db.url(folder))
        with use_services(services):
            out[f"intake_{n}"], summary = timed(intake, DAY0)
        out[f"intake_{n}_created"] = summary.mentees.created
        save()
    out["intake_extra_50000"] = out[f"intake_{sizes['large']}"] - out[f"intake_{sizes['small']}"]
    save()


def run(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_LOGGING_LEVEL,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    sizes = {"pipeline": 1000, "mentors": 400, "small": 100, "large": 50_000}
    results: dict[str, Any] = {"label": args.label, "sizes": sizes, "databases": {}}
    quiet = {
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
        PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS: 4,
        PREFECT_SERVER_ANALYTICS_ENABLED: False,
        PREFECT_LOGGING_LEVEL: "WARNING",
    }
    startup = int(os.environ.get("MENTORFLOW_BENCH_SERVER_STARTUP_TIMEOUT", "600"))
    with (
        tempfile.TemporaryDirectory(prefix="mentorflow-bench-") as tmp,
        temporary_settings(quiet),
        prefect_test_harness(server_startup_timeout=startup),
    ):
        for kind in args.db:
            db = Database(kind, args.postgres_url)
            figures: dict[str, Any] = {}
            results["databases"][kind] = figures

            def save(kind: str = kind, figures: dict[str, Any] = figures) -> None:
                out.write_text(json.dumps(results, indent=2))
                print(kind, json.dumps(figures), flush=True)

            try:
                measure(db, Path(tmp), sizes, figures, save)
            finally:
                db.drop_all()
    return results


def table(base: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """Markdown: each measure on each database, today's figure (base) beside the new one and the target."""
    rows = [
        ("all_stages_1000", "1,000 new answers, every stage (s)"),
        ("task_runs", "task runs recorded for it"),
        ("nothing_new", "a run with nothing new (s)"),
        ("intake_100", "intake, 100-answer export (s)"),
        ("intake_50000", "intake, 50,000-answer export (s)"),
        ("intake_extra_50000", "50,000 minus 100 (s)"),
    ]
    lines = ["| database | measure | main (before) | this branch | target | met |", "|---|---|---:|---:|---:|---|"]
    for kind, figures in new["databases"].items():
        before = (base or {}).get("databases", {}).get(kind, {})
        for key, label in rows:
            target = TARGETS.get(key)
            value = figures.get(key)
            was = before.get(key)

            def fmt(v: float | int | None) -> str:
                return "–" if v is None else (f"{v:,}" if isinstance(v, int) else f"{v:.1f}")

            met = "" if target is None or value is None else ("yes" if value <= target else "no")
            lines.append(
                f"| {kind} | {label} | {fmt(was)} | {fmt(value)} | "
                f"{'' if target is None else f'≤ {target:g}'} | {met} |"
            )
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
    parser.add_argument("--label", default="new")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--compare", type=Path, help="a base run's JSON: print it beside this run's figures")
    parser.add_argument("--new", type=Path, help="use this JSON as the new run instead of measuring again")
    args = parser.parse_args()
    here = Path(__file__).resolve().parent / "results"
    out = args.out or here / f"pipeline-{args.label}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    new = json.loads(args.new.read_text()) if args.new else run(args, out)
    base = json.loads(args.compare.read_text()) if args.compare and args.compare.exists() else None
    md = table(base, new)
    print(md)
    if base is not None:
        (here / "pipeline.md").write_text(md + "\n")


if __name__ == "__main__":
    main()

"""Intake's own work over a synthesized export, step by step, without Prefect and without acknowledgments.

    python benchmarks/intake_direct.py 50000 sqlite [--profile FILE]    # run from the checkout to measure

The task functions of the checkout in the current directory are called directly (``.fn``), in the flow's order:
roster, reading the export, parsing (``parsed_answers``, shared by saving and the fix-it notes), saving,
self-service actions, fix-it notes. ``--profile`` writes a cProfile of those steps (issue #12).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.getcwd())

from benchmarks.pipeline import Database, services_for, write_program  # noqa: E402
from benchmarks.program import DAY0  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("answers", type=int)
    parser.add_argument("db", choices=["sqlite", "postgresql"])
    parser.add_argument("--postgres-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()

    from mentorflow.bootstrap import use_services
    from tasks.common import resolve_now
    from tasks.intake import fetch_responses, parsed_answers, save_applications, sync_roster
    from tasks.selfservice import send_fix_notes, take_self_service_actions

    folder = Path(tempfile.mkdtemp(prefix="intake-direct-"))
    write_program(folder, args.answers, 40, seed=args.answers)
    db = Database(args.db, args.postgres_url)
    profile = cProfile.Profile() if args.profile else None
    seconds: dict[str, float] = {}

    def step(name: str, fn: Any, *a: Any) -> Any:
        start = time.perf_counter()
        if profile:
            profile.enable()
        result = fn(*a)
        if profile:
            profile.disable()
        seconds[name] = round(time.perf_counter() - start, 2)
        return result

    try:
        services = services_for(folder, db.url(folder))
        with use_services(services):
            now = resolve_now(DAY0, services.settings.timezone)
            step("roster", sync_roster.fn, now)
            batch = step("fetch", fetch_responses.fn)
            step("parse", parsed_answers, batch, services.rules, services.settings.timezone, now)
            report = step("save", save_applications.fn, batch, now)
            step("actions", take_self_service_actions.fn, now, True)
            step("fix_notes", send_fix_notes.fn, batch, now)
    finally:
        db.drop_all()
    if profile and args.profile:
        profile.dump_stats(args.profile)
    figures = {"code": os.getcwd(), "db": args.db, "answers": args.answers, "created": report.created}
    figures |= {"seconds": seconds, "total": round(sum(seconds.values()), 2)}
    print(json.dumps(figures | {"load": " ".join(f"{x:.1f}" for x in os.getloadavg())}))


if __name__ == "__main__":
    main()

"""Simulated time: when each flow runs, from the deployment schedules in ``prefect.yaml``.

The daily and weekly deployments (match, invite, follow-up, digest, lead report) run at exactly their cron
times. Intake is deployed every 15 minutes; running it that often would cost 672 Prefect flow runs a week
(~1 s each here), so the simulator samples it once a day at ``INTAKE_TIMES``: 08:45, just before the morning
match run, so what arrived overnight is matched that morning exactly as with the 15-minute poll. What changes
during the day (an answer, a withdrawal, a roster edit) is taken in the next morning instead of within 15
minutes: the checks count "the next run" from the intake run that took the change in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from cronsim import CronSim

from config import CONFIG_DIR

PREFECT_YAML = CONFIG_DIR.parent / "prefect.yaml"
INTAKE_TIMES = (time(8, 45),)
# deployment name -> flow name (the entrypoint's function)
FLOWS = {
    "match-daily": "match",
    "invite-daily": "invite",
    "followup-daily": "followup",
    "digest-weekly": "digest",
    "lead-report-weekly": "report",
    "privacy-daily": "privacy",
}


@dataclass(frozen=True, order=True)
class Tick:
    """One flow run at one simulated instant."""

    at: datetime
    order: int
    flow: str


def deployment_crons(path: Path = PREFECT_YAML) -> dict[str, tuple[str, str]]:
    """Flow name -> (cron, time zone) of each scheduled deployment the simulator runs on its cron."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    out: dict[str, tuple[str, str]] = {}
    for dep in spec["deployments"]:
        flow = FLOWS.get(dep["name"])
        for sched in dep.get("schedules") or []:
            if flow and "cron" in sched:
                out[flow] = (sched["cron"], sched.get("timezone", "UTC"))
    return out


def schedule(
    start: datetime, weeks: int, path: Path = PREFECT_YAML, intake_times: tuple[time, ...] = INTAKE_TIMES
) -> list[Tick]:
    """Every flow run between ``start`` and ``start + weeks``, in time order (ties: intake first)."""
    end = start + timedelta(weeks=weeks)
    ticks: list[Tick] = []
    order = {"intake": 0, "report": 1, "digest": 2, "match": 3, "invite": 4, "followup": 5, "privacy": 6}
    for flow, (cron, tz) in deployment_crons(path).items():
        zone = ZoneInfo(tz)
        for at in CronSim(cron, start.astimezone(zone) - timedelta(seconds=1)):
            if at >= end:
                break
            ticks.append(Tick(at, order[flow], flow))
    day = start.date()
    while (first := datetime.combine(day, time(0), tzinfo=start.tzinfo)) < end:
        for t in intake_times:
            at = datetime.combine(first.date(), t, tzinfo=start.tzinfo)
            if start <= at < end:
                ticks.append(Tick(at, order["intake"], "intake"))
        day += timedelta(days=1)
    return sorted(ticks)

"""Run names for the lead's runs list: what and when, in the program's time zone, never personal data."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from config.rules import RulesError
from config.settings import Settings
from domain.clock import resolve_now
from mentorflow.bootstrap import current_services


def run_time(as_of: Any, scheduled: datetime | None, tz: str) -> datetime:
    """The moment a run acts as of: its ``as_of`` parameter (a datetime or ISO text), else when it was due."""
    if isinstance(as_of, str):
        as_of = datetime.fromisoformat(as_of)
    if isinstance(as_of, datetime):
        return resolve_now(as_of, tz)
    return resolve_now(scheduled, tz)


def run_name(stage: str) -> Callable[[], str]:
    """``flow_run_name`` for a stage: e.g. ``intake 2026-12-01 09:15``."""

    def name() -> str:
        from prefect.runtime import flow_run

        try:
            tz = current_services().settings.timezone
        except RulesError:  # broken program rules must not stop the run (the report names them)
            tz = Settings().timezone
        when = run_time(flow_run.parameters.get("as_of"), flow_run.scheduled_start_time, tz)
        return f"{stage} {when:%Y-%m-%d %H:%M}"

    name.__name__ = f"{stage}_run_name"
    return name

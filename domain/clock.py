"""The instant a run or a lead's command acts "as of" (no Prefect, no I/O)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


def resolve_now(as_of: datetime | None, tz: str) -> datetime:
    """The instant a run acts "as of": given (naive = program time zone) or the wall clock."""
    zone = ZoneInfo(tz)
    if as_of is None:
        return datetime.now(zone)
    return as_of.replace(tzinfo=zone) if as_of.tzinfo is None else as_of.astimezone(zone)

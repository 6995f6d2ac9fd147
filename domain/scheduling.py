"""Find the first meeting of a match: the earliest free slot in the pair's shared weekly windows.

Pure logic (no I/O). Local times are wall-clock times in the program's time zone, so a window "Tue 18:00-20:00"
stays 18:00 local on both sides of a daylight-saving change; a local time that does not exist (the hour skipped
when clocks move forward) is never proposed.

Which days are closed or shortened (Israel; the Hebrew calendar comes from the maintained ``holidays`` package):

- **Closed**: every Saturday (Shabbat), and every day in ``holidays.Israel``'s *public* category: Rosh Hashanah
  (both days), Yom Kippur, Sukkot (first day), Simchat Torah / Shemini Atzeret, Pesach (first day), the seventh
  day of Pesach, Shavuot, and Independence Day. Independence Day is not a religious holiday, but it is the one
  national day off: people are with family, and the eve rule below then shortens Memorial Day, which flows into
  Independence Day's evening ceremonies - a solemn day on which an evening meeting would be out of place.
- **Eve** (the meeting must end by ``rules.eve_cutoff``): every Friday (eve of Shabbat) and the day before any
  closed holiday (so Memorial Day, the eve of Independence Day, too).
- **Open**: everything else, including the intermediate days of Sukkot and Pesach (Chol HaMoed), Hanukkah,
  Purim, Holocaust Remembrance Day and fast days: they are working days in Israel, and a mentee who is away
  simply reschedules.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

from domain.models import Weekday, WeeklyWindow
from domain.rules import SchedulingRules

DayKind = Literal["open", "eve", "closed"]


@lru_cache(maxsize=64)
def _holidays(year: int) -> dict[date, str]:
    """Israel's public holidays of one year, English names (the library's default language is Hebrew)."""
    return dict(holidays.country_holidays("IL", years=year, language="en_US").items())


def _holiday(day: date) -> str | None:
    return _holidays(day.year).get(day)


def day_kind(day: date) -> tuple[DayKind, str | None]:
    """Whether ``day`` is open, an eve (ends early) or closed, with the reason for the latter two."""
    name = _holiday(day)
    if name is not None:
        return "closed", name
    if day.isoweekday() == Weekday.SAT:
        return "closed", "Shabbat"
    tomorrow = _holiday(day + timedelta(days=1))
    if tomorrow is not None:
        return "eve", f"eve of {tomorrow}"
    if day.isoweekday() == Weekday.FRI:
        return "eve", "eve of Shabbat"
    return "open", None


def closed_reason(day: date) -> str | None:
    """Why meetings are closed or cut short on ``day`` ("Shabbat", "Yom Kippur", "eve of Pesach"), else None."""
    return day_kind(day)[1]


def _local(day: date, at: time, zone: ZoneInfo) -> datetime | None:
    """``day`` at wall-clock ``at`` in ``zone``, or None when that local time does not exist (DST gap)."""
    value = datetime.combine(day, at, tzinfo=zone)
    round_trip = value.astimezone(UTC).astimezone(zone)
    if round_trip.replace(tzinfo=None) != value.replace(tzinfo=None):
        return None
    return value


def _utc(value: datetime, zone: ZoneInfo) -> datetime:
    # Aware arithmetic and comparison within one ZoneInfo are wall-clock; in UTC they are exact.
    return (value if value.tzinfo is not None else value.replace(tzinfo=zone)).astimezone(UTC)


def _candidates(window: WeeklyWindow, step: int) -> list[time]:
    """Start times on the ``step``-minute wall-clock grid (counted from midnight) inside ``window``."""
    first = -(-(window.start.hour * 60 + window.start.minute) // step) * step
    last = window.end.hour * 60 + window.end.minute
    return [time(m // 60, m % 60) for m in range(first, last, step)]


def first_meeting_slot(
    shared: list[WeeklyWindow],
    busy: list[tuple[datetime, datetime]],
    now: datetime,
    rules: SchedulingRules,
    tz: str = "Asia/Jerusalem",
) -> tuple[datetime, datetime] | None:
    """The earliest (start, end) that fits: inside a shared window, on the grid, after the lead time, within the
    horizon, not overlapping ``busy``, never on a closed day and ending by ``rules.eve_cutoff`` on eves.

    ``now`` must be aware; naive busy intervals are read as local time in ``tz``. Returns aware datetimes in
    ``tz``, or None when nothing fits within ``rules.horizon_days``.
    """
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    zone = ZoneInfo(tz)
    earliest = _utc(now, zone) + timedelta(hours=rules.min_lead_hours)
    latest = _utc(now, zone) + timedelta(days=rules.horizon_days)
    length = timedelta(minutes=rules.meeting_minutes)
    blocked = [(_utc(s, zone), _utc(e, zone)) for s, e in busy]
    by_day: dict[int, list[WeeklyWindow]] = {}
    for w in shared:
        by_day.setdefault(int(w.day), []).append(w)

    day = earliest.astimezone(zone).date()
    while day <= latest.astimezone(zone).date():
        kind, _ = day_kind(day)
        windows = [] if kind == "closed" else by_day.get(day.isoweekday(), [])
        starts: set[datetime] = set()
        for window in windows:
            limit = min(window.end, rules.eve_cutoff) if kind == "eve" else window.end
            for at in _candidates(window, rules.step_minutes):
                local = _local(day, at, zone)
                if local is None:
                    continue
                start = local.astimezone(UTC)
                end = start + length
                local_end = end.astimezone(zone)
                if not earliest <= start <= latest or local_end.date() != day or local_end.time() > limit:
                    continue
                if any(start < b_end and b_start < end for b_start, b_end in blocked):
                    continue
                starts.add(start)
        if starts:
            start = min(starts)
            return start.astimezone(zone), (start + length).astimezone(zone)
        day += timedelta(days=1)
    return None

"""The first-meeting slot finder: windows, grid, lead time, busy time, Shabbat, holidays and their eves, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.models import Weekday, WeeklyWindow
from domain.rules import SchedulingRules
from domain.scheduling import closed_reason, day_kind, first_meeting_slot

TZ = ZoneInfo("Asia/Jerusalem")
RULES = SchedulingRules()  # 60 minutes, 48 h lead, 28 days, 30-minute grid, eves end by 13:00


def w(day: Weekday, start: str, end: str) -> WeeklyWindow:
    return WeeklyWindow(day=day, start=time.fromisoformat(start), end=time.fromisoformat(end))


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


# --- calendar of closed days -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "kind", "reason"),
    [
        (date(2026, 6, 9), "open", None),  # an ordinary Tuesday
        (date(2026, 6, 6), "closed", "Shabbat"),
        (date(2026, 6, 5), "eve", "eve of Shabbat"),
        (date(2026, 9, 21), "closed", "Yom Kippur"),  # Monday
        (date(2026, 9, 20), "eve", "eve of Yom Kippur"),  # Sunday
        (date(2026, 9, 11), "eve", "eve of Rosh Hashanah"),  # a Friday that is also a holiday eve
        (date(2026, 9, 13), "closed", "Rosh Hashanah"),  # second day, a Sunday
        (date(2026, 4, 1), "eve", "eve of Pesach"),  # Seder night
        (date(2026, 4, 2), "closed", "Pesach"),
        (date(2026, 4, 5), "open", None),  # Chol HaMoed Pesach is a working day
        (date(2027, 4, 21), "eve", "eve of Pesach"),
        (date(2027, 4, 22), "closed", "Pesach"),
        (date(2027, 6, 10), "eve", "eve of Shavuot"),
        (date(2026, 4, 22), "closed", "Independence Day"),
        (date(2026, 4, 21), "eve", "eve of Independence Day"),  # Memorial Day
    ],
)
def test_day_kind_and_reason(day: date, kind: str, reason: str | None) -> None:
    assert day_kind(day) == (kind, reason)
    assert closed_reason(day) == reason


# --- slots ----------------------------------------------------------------------------------------------


def test_first_slot_is_earliest_on_grid_after_lead_time() -> None:
    now = local(2026, 6, 2, 10, 0)  # Tuesday 10:00; 48 h lead → Thursday 10:00
    shared = [w(Weekday.TUE, "18:00", "20:00"), w(Weekday.THU, "09:00", "12:00")]
    start, end = first_meeting_slot(shared, [], now, RULES) or (None, None)
    assert start == local(2026, 6, 4, 10, 0)
    assert end == local(2026, 6, 4, 11, 0)
    assert str(start.tzinfo) == "Asia/Jerusalem"


def test_lead_time_in_utc_now_is_respected() -> None:
    now = datetime(2026, 6, 2, 7, 0, tzinfo=UTC)  # = 10:00 local
    slot = first_meeting_slot([w(Weekday.THU, "09:00", "12:00")], [], now, RULES)
    assert slot is not None and slot[0] == local(2026, 6, 4, 10, 0)


def test_start_times_fall_on_the_wall_clock_grid() -> None:
    now = local(2026, 6, 1, 9, 0)
    slot = first_meeting_slot([w(Weekday.WED, "18:15", "20:00")], [], now, RULES)
    assert slot == (local(2026, 6, 3, 18, 30), local(2026, 6, 3, 19, 30))


def test_window_shorter_than_meeting_finds_nothing() -> None:
    now = local(2026, 6, 1, 9, 0)
    assert first_meeting_slot([w(Weekday.WED, "18:00", "18:45")], [], now, RULES) is None


def test_busy_intervals_push_the_slot_later() -> None:
    now = local(2026, 6, 1, 9, 0)
    shared = [w(Weekday.WED, "18:00", "21:00")]
    busy = [(local(2026, 6, 3, 17, 0), local(2026, 6, 3, 18, 45))]  # ends mid-grid
    slot = first_meeting_slot(shared, busy, now, RULES)
    assert slot == (local(2026, 6, 3, 19, 0), local(2026, 6, 3, 20, 0))
    # A busy interval given in UTC and one that merely touches the slot's end both behave exactly.
    busy_utc = [
        (datetime(2026, 6, 3, 14, 0, tzinfo=UTC), datetime(2026, 6, 3, 16, 0, tzinfo=UTC)),
        (local(2026, 6, 3, 20, 0), local(2026, 6, 3, 21, 0)),
    ]
    assert first_meeting_slot(shared, busy_utc, now, RULES) == (local(2026, 6, 3, 19, 0), local(2026, 6, 3, 20, 0))


def test_fully_busy_week_moves_to_next_week() -> None:
    now = local(2026, 6, 1, 9, 0)
    busy = [(local(2026, 6, 3, 0, 0), local(2026, 6, 4, 0, 0))]
    slot = first_meeting_slot([w(Weekday.WED, "18:00", "20:00")], busy, now, RULES)
    assert slot is not None and slot[0] == local(2026, 6, 10, 18, 0)


def test_shabbat_is_closed() -> None:
    now = local(2026, 6, 1, 9, 0)
    assert first_meeting_slot([w(Weekday.SAT, "10:00", "22:00")], [], now, RULES) is None


def test_friday_meetings_end_by_the_eve_cutoff() -> None:
    now = local(2026, 6, 1, 9, 0)
    assert first_meeting_slot([w(Weekday.FRI, "12:30", "16:00")], [], now, RULES) is None
    slot = first_meeting_slot([w(Weekday.FRI, "11:00", "16:00")], [], now, RULES)
    assert slot == (local(2026, 6, 5, 11, 0), local(2026, 6, 5, 12, 0))
    busy = [(local(2026, 6, 5, 11, 0), local(2026, 6, 5, 12, 0))]
    slot = first_meeting_slot([w(Weekday.FRI, "11:00", "16:00")], busy, now, RULES)
    assert slot == (local(2026, 6, 5, 12, 0), local(2026, 6, 5, 13, 0))  # ending exactly at the cutoff is fine


def test_yom_kippur_and_its_eve_2026() -> None:
    now = local(2026, 9, 15, 9, 0)
    # Monday 21 Sep is Yom Kippur: the next Monday is taken.
    assert first_meeting_slot([w(Weekday.MON, "18:00", "20:00")], [], now, RULES) == (
        local(2026, 9, 28, 18, 0),
        local(2026, 9, 28, 19, 0),
    )
    # Sunday 20 Sep is its eve: an evening window is closed, a morning one is fine.
    assert first_meeting_slot([w(Weekday.SUN, "18:00", "20:00")], [], now, RULES) == (
        local(2026, 9, 27, 18, 0),
        local(2026, 9, 27, 19, 0),
    )
    assert first_meeting_slot([w(Weekday.SUN, "10:00", "12:00")], [], now, RULES) == (
        local(2026, 9, 20, 10, 0),
        local(2026, 9, 20, 11, 0),
    )


def test_pesach_2027_and_seder_night() -> None:
    now = local(2027, 4, 18, 9, 0)
    # Thursday 22 Apr 2027 is Pesach; Wednesday 21 Apr is its eve.
    assert first_meeting_slot([w(Weekday.THU, "10:00", "12:00")], [], now, RULES) == (
        local(2027, 4, 29, 10, 0),
        local(2027, 4, 29, 11, 0),
    )
    assert first_meeting_slot([w(Weekday.WED, "19:00", "21:00")], [], now, RULES) == (
        local(2027, 5, 5, 19, 0),
        local(2027, 5, 5, 20, 0),
    )  # 28 Apr is the eve of the seventh day


def test_window_keeps_local_time_across_dst_start() -> None:
    # Israel moves clocks forward on Friday 27 March 2026.
    shared = [w(Weekday.TUE, "18:00", "20:00")]
    before = first_meeting_slot(shared, [], local(2026, 3, 20, 9, 0), RULES)
    after = first_meeting_slot(shared, [], local(2026, 3, 27, 9, 0), RULES)
    assert before is not None and after is not None
    assert before[0] == local(2026, 3, 24, 18, 0) and after[0] == local(2026, 3, 31, 18, 0)
    assert before[0].utcoffset() == timedelta(hours=2) and after[0].utcoffset() == timedelta(hours=3)
    assert before[0].astimezone(UTC).hour == 16 and after[0].astimezone(UTC).hour == 15


def test_window_keeps_local_time_across_dst_end() -> None:
    # Clocks go back on Sunday 25 October 2026.
    shared = [w(Weekday.MON, "18:00", "20:00")]
    slot = first_meeting_slot(shared, [], local(2026, 10, 21, 9, 0), RULES)
    assert slot is not None and slot[0] == local(2026, 10, 26, 18, 0)
    assert slot[0].utcoffset() == timedelta(hours=2)
    assert slot[1] - slot[0] == timedelta(minutes=60)


def test_skipped_local_hour_is_never_proposed() -> None:
    # 02:00–03:00 does not exist on 27 March 2026: the first real start is 03:00 local.
    rules = SchedulingRules(min_lead_hours=0)
    slot = first_meeting_slot([w(Weekday.FRI, "02:00", "05:00")], [], local(2026, 3, 26, 12, 0), rules)
    assert slot is not None
    assert slot[0] == local(2026, 3, 27, 3, 0)
    assert slot[0].astimezone(UTC) == datetime(2026, 3, 27, 0, 0, tzinfo=UTC)
    assert slot[1].astimezone(UTC) - slot[0].astimezone(UTC) == timedelta(minutes=60)


def test_horizon_limits_the_search() -> None:
    now = local(2026, 6, 1, 10, 0)  # Monday: the horizon ends Thursday 10:00
    rules = SchedulingRules(horizon_days=3, min_lead_hours=0)
    assert first_meeting_slot([w(Weekday.THU, "10:00", "12:00")], [], now, rules) == (
        local(2026, 6, 4, 10, 0),
        local(2026, 6, 4, 11, 0),
    )
    assert first_meeting_slot([w(Weekday.THU, "10:30", "12:00")], [], now, rules) is None
    assert first_meeting_slot([w(Weekday.FRI, "10:00", "12:00")], [], now, rules) is None


def test_no_shared_windows_finds_nothing() -> None:
    assert first_meeting_slot([], [], local(2026, 6, 1, 9, 0), RULES) is None


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        first_meeting_slot([w(Weekday.MON, "10:00", "12:00")], [], datetime(2026, 6, 1, 9, 0), RULES)


# --- property: whatever is returned obeys every rule ------------------------------------------------------

windows = st.builds(
    lambda day, start, length: WeeklyWindow(
        day=day, start=time(start // 60, start % 60), end=time((start + length) // 60, (start + length) % 60)
    ),
    st.sampled_from(list(Weekday)),
    st.integers(0, 22 * 60 - 1),
    st.integers(15, 120),
).filter(lambda x: x.end > x.start)


@settings(max_examples=150, deadline=None)
@given(
    shared=st.lists(windows, max_size=4),
    start_day=st.dates(date(2026, 1, 1), date(2027, 12, 1)),
    busy_offsets=st.lists(st.tuples(st.integers(0, 30 * 24), st.integers(1, 48)), max_size=4),
    minutes=st.sampled_from([30, 45, 60, 90]),
    step=st.sampled_from([15, 30, 60]),
)
def test_any_slot_obeys_every_rule(
    shared: list[WeeklyWindow], start_day: date, busy_offsets: list[tuple[int, int]], minutes: int, step: int
) -> None:
    rules = SchedulingRules(meeting_minutes=minutes, step_minutes=step)
    now = datetime.combine(start_day, time(9, 0), tzinfo=TZ)
    busy = [(now + timedelta(hours=h), now + timedelta(hours=h + n)) for h, n in busy_offsets]
    slot = first_meeting_slot(shared, busy, now, rules)
    if slot is None:
        return
    start, end = slot
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(minutes=minutes)
    assert start.astimezone(UTC) >= now.astimezone(UTC) + timedelta(hours=rules.min_lead_hours)
    assert start.astimezone(UTC) <= now.astimezone(UTC) + timedelta(days=rules.horizon_days)
    assert (start.hour * 60 + start.minute) % step == 0
    kind, _ = day_kind(start.date())
    assert kind != "closed"
    if kind == "eve":
        assert end.time() <= rules.eve_cutoff
    assert any(
        x.day == start.isoweekday() and x.start <= start.time() and end.time() <= x.end and end.date() == start.date()
        for x in shared
    )
    assert not any(start < b_end and b_start < end for b_start, b_end in busy)

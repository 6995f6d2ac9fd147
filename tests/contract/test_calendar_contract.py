"""Every Calendar: idempotent ``create`` by event id, truthful ``lookup``, and well-formed answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from config.settings import Settings
from connectors.base import Address, Calendar, CalendarError, CalendarEvent, EventRef, Presence, TransientError
from connectors.google.calendar import GoogleCalendar
from connectors.local.calendar import IcsCalendar
from connectors.remote import build_google_calendar
from tests.emulators.calendar import CalendarEmulator
from tests.emulators.server import shared


@dataclass
class Harness:
    calendar: Calendar
    stored: Callable[[], list[str]]  # ids of the events that exist where the calendar keeps them


def ics(tmp_path: Path) -> Harness:
    return Harness(IcsCalendar(tmp_path), lambda: sorted(p.stem for p in tmp_path.glob("*.ics")))


def google(tmp_path: Path) -> Harness:
    emulator = shared(CalendarEmulator)
    emulator.reset()
    settings = Settings(calendar="google", google_api_endpoint=emulator.url, http_timeout_seconds=5)
    return Harness(build_google_calendar(settings), lambda: sorted(emulator.events()))


IMPLEMENTATIONS: dict[str, Callable[[Path], Harness]] = {"ics": ics, "google": google}


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    return IMPLEMENTATIONS[request.param](tmp_path)


def event(event_id: str = "a1b2c3d4e5f6") -> CalendarEvent:
    start = datetime(2025, 3, 4, 18, tzinfo=ZoneInfo("Asia/Jerusalem"))
    return CalendarEvent(
        event_id=event_id,
        summary="פגישה ראשונה",
        description="why: python",
        start=start,
        end=start + timedelta(hours=1),
        timezone="Asia/Jerusalem",
        organizer=Address(email="program@example.org", name="Program"),
        attendees=[Address(email="noa@example.com", name="נועה"), Address(email="dana@example.com", name="Dana")],
        location="https://meet.example.org/7",
        video_link="https://meet.example.org/7",
    )


def test_implements_the_protocol(harness: Harness) -> None:
    assert isinstance(harness.calendar, Calendar)


def test_create_is_idempotent_by_event_id(harness: Harness) -> None:
    first = harness.calendar.create(event())
    again = harness.calendar.create(event())
    assert isinstance(first, EventRef) and first.event_id == "a1b2c3d4e5f6" and first.link
    assert again.event_id == first.event_id and again.link == first.link
    assert harness.stored() == ["a1b2c3d4e5f6"]


def test_lookup_tells_absent_from_done(harness: Harness) -> None:
    assert harness.calendar.lookup("a1b2c3d4e5f6") is Presence.ABSENT
    harness.calendar.create(event())
    assert harness.calendar.lookup("a1b2c3d4e5f6") is Presence.DONE
    assert harness.calendar.lookup("ffff0000ffff") is Presence.ABSENT


def test_invitation_is_an_ics_request_or_none(harness: Harness) -> None:
    invitation = harness.calendar.invitation(event())
    assert invitation is None or (invitation.startswith(b"BEGIN:VCALENDAR") and b"METHOD:REQUEST" in invitation)
    ref = harness.calendar.create(event())
    assert (ref.ics is None) == (invitation is None)


def test_busy_is_a_list_of_ordered_intervals_in_range(harness: Harness) -> None:
    harness.calendar.create(event())
    start = datetime(2025, 3, 1, tzinfo=ZoneInfo("UTC"))
    busy = harness.calendar.busy(start, start + timedelta(days=7), ["noa@example.com", "x@example.com"])
    assert busy == sorted(busy)
    for lo, hi in busy:
        assert lo.tzinfo is not None and lo < hi and start <= lo and hi <= start + timedelta(days=7)


# --- Google only: the emulated service refuses what Google refuses, so a connector bug fails here ------------


def _naive_times(body: dict[str, Any]) -> None:
    for side in ("start", "end"):  # local time without its zone: Google cannot place it
        body[side] = {"dateTime": body[side]["dateTime"][:19]}


def _unknown_field(body: dict[str, Any]) -> None:
    body["notify"] = True


def _six_reminders(body: dict[str, Any]) -> None:
    body["reminders"]["overrides"] = [{"method": "popup", "minutes": 5 * n} for n in range(6)]


def _loose_email(body: dict[str, Any]) -> None:
    body["attendees"][0]["email"] = "נועה <noa@example.com>"


def _bad_enum(body: dict[str, Any]) -> None:
    body["visibility"] = "secret"


@pytest.mark.parametrize("bug", [_naive_times, _unknown_field, _six_reminders, _loose_email, _bad_enum])
def test_google_refuses_a_malformed_event_for_that_event_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bug: Callable[[dict[str, Any]], None]
) -> None:
    harness = google(tmp_path)
    real = GoogleCalendar.body

    def buggy(self: GoogleCalendar, event: CalendarEvent) -> dict[str, Any]:
        body = real(self, event)
        bug(body)
        return body

    monkeypatch.setattr(GoogleCalendar, "body", buggy)
    with pytest.raises(CalendarError, match="HTTP 400") as caught:
        harness.calendar.create(event())
    assert not isinstance(caught.value, TransientError)  # not retried: the same request would fail again
    assert harness.stored() == []


def test_google_refuses_a_busy_range_without_a_zone(tmp_path: Path) -> None:
    harness = google(tmp_path)
    start = datetime(2025, 3, 1)
    with pytest.raises(CalendarError, match="HTTP 400"):
        harness.calendar.busy(start, start + timedelta(days=7), ["noa@example.com"])


def test_a_cancelled_event_reads_absent_and_comes_back_under_its_id(tmp_path: Path) -> None:
    harness = google(tmp_path)
    emulator = shared(CalendarEmulator)
    harness.calendar.create(event())
    emulator.cancel("a1b2c3d4e5f6")
    assert harness.calendar.lookup("a1b2c3d4e5f6") is Presence.ABSENT
    harness.calendar.create(event())
    assert harness.calendar.lookup("a1b2c3d4e5f6") is Presence.DONE
    assert emulator.events()["a1b2c3d4e5f6"]["status"] == "confirmed"

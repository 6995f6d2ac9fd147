"""Each invariant check of the simulator detects a planted violation, and stays quiet on the same data without it.

Pure: snapshots are built by hand, no Prefect, no store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mentorflow.simulate.invariants import CHECKS, Context, run_checks
from mentorflow.simulate.people import Stop, World
from mentorflow.simulate.query import (
    Event,
    FlagRec,
    IcsEvent,
    MatchRec,
    MeetingRec,
    MentorRec,
    ProposalRec,
    Req,
    Sent,
    SetAsideRec,
    Snapshot,
)

T0 = datetime(2027, 1, 3, 9, 0, tzinfo=ZoneInfo("Asia/Jerusalem"))
MENTEE, OTHER, MENTOR = "mentee001@sim.example.org", "mentee002@sim.example.org", "mentor001@sim.example.org"
H = timedelta(hours=1)
D = timedelta(days=1)


def req(id: int, email: str, status: str = "scheduled", at: datetime = T0) -> Req:
    return Req(
        id, email, status, status in {"pending", "approved", "scheduled", "met", "needs_info"}, f"r{id}", True, at
    )


def history(id: int, *steps: str, at: datetime = T0) -> list[Event]:
    chain = [None, *steps]
    return [Event(id, at + i * H, chain[i], chain[i + 1], "test") for i in range(len(steps))]  # type: ignore[arg-type]


def base() -> tuple[Snapshot, World]:
    """Two mentees matched with one mentor (capacity 2), first meetings on different days: all invariants hold."""
    snap = Snapshot(
        requests=[req(1, MENTEE), req(2, OTHER)],
        events=[*history(1, "pending", "approved", "scheduled"), *history(2, "pending", "approved", "scheduled")],
        matches=[MatchRec(1, 1, MENTOR, T0, True), MatchRec(2, 2, MENTOR, T0 + H, True)],
        meetings=[MeetingRec(1, "ev1", T0 + 3 * D, T0 + 3 * D + H), MeetingRec(2, "ev2", T0 + 4 * D, T0 + 4 * D + H)],
        mentors=[MentorRec(MENTOR, True, 2, {})],
        proposals=[ProposalRec(1, T0 - H, "decided", ((1, MENTOR), (2, MENTOR)), T0)],
        set_aside=[],
        flags=[],
        ledger=[],
    )
    world = World()
    world.answers = {MENTEE: 1, OTHER: 1}
    return snap, world


def ctx(
    snap: Snapshot,
    world: World,
    *,
    now: datetime = T0 + 10 * D,
    sent: list[Sent] | None = None,
    calendar: dict[str, IcsEvent] | None = None,
) -> Context:
    runs = [(T0 + i * D + 8 * H, "intake") for i in range(12)] + [(T0 + i * D + 9 * H, "invite") for i in range(12)]
    runs += [(T0 + i * D + 3 * H, "privacy") for i in range(12)]
    return Context(
        now=now,
        flow="test",
        snap=snap,
        world=world,
        sent=sent or [],
        calendar=calendar or {},
        runs=sorted(r for r in runs if r[0] <= now),
        since=T0 - D,
    )


def plant_overlap(snap: Snapshot, world: World) -> Context:
    meetings = [snap.meetings[0], replace(snap.meetings[1], start=T0 + 3 * D + H / 2, end=T0 + 3 * D + 3 * H / 2)]
    return ctx(replace(snap, meetings=meetings), world)


def plant_over_capacity(snap: Snapshot, world: World) -> Context:
    return ctx(replace(snap, mentors=[MentorRec(MENTOR, True, 1, {})]), world)


def plant_reproposed(snap: Snapshot, world: World) -> Context:
    world.refused[(1, MENTOR)] = T0 - 2 * H
    return ctx(snap, world)


def plant_mail_after_withdrawal(snap: Snapshot, world: World) -> Context:
    world.stops.append(Stop(MENTEE, T0 + 2 * D, "withdrew"))
    return ctx(snap, world, sent=[Sent(T0 + 5 * D, MENTEE, "survey:1:mentee", "survey", "followup")])


def plant_mail_after_erasure(snap: Snapshot, world: World) -> Context:
    world.stops.append(Stop(MENTEE, T0 + 2 * D, "erased", taken_in_by="privacy"))
    return ctx(snap, world, sent=[Sent(T0 + 5 * D, MENTEE, "survey:1:mentee", "survey", "followup")])


def plant_mail_after_unsubscribe(snap: Snapshot, world: World) -> Context:
    world.stops.append(Stop(MENTEE, T0 + 2 * D, "unsubscribed"))
    return ctx(snap, world, sent=[Sent(T0 + 5 * D, MENTEE, "digest:x", "digest", "digest")])


def plant_second_request(snap: Snapshot, world: World) -> Context:
    again = req(3, MENTEE, "pending", T0 + 5 * D)
    return ctx(replace(snap, requests=[*snap.requests, again], events=[*snap.events, *history(3, "pending")]), world)


def plant_status_without_timeline(snap: Snapshot, world: World) -> Context:
    return ctx(replace(snap, requests=[req(1, MENTEE, "met"), snap.requests[1]]), world)


def plant_withdrawn_still_open(snap: Snapshot, world: World) -> Context:
    world.stops.append(Stop(MENTEE, T0 + 2 * D, "withdrew"))
    return ctx(snap, world)


def plant_fixed_answer_still_set_aside(snap: Snapshot, world: World) -> Context:
    world.bad_rows["file:responses.csv|sim-1-a"] = MENTEE
    world.fixed_at[MENTEE] = T0 + D
    row = SetAsideRec("mentee", "file:responses.csv", "sim-1-a", T0, T0 + 5 * D)
    return ctx(replace(snap, set_aside=[row]), world)


def plant_gone_mentor_active(snap: Snapshot, world: World) -> Context:
    world.removed_mentors[MENTOR] = T0 + D
    return ctx(snap, world)


def plant_dealt_flag_open(snap: Snapshot, world: World) -> Context:
    world.ended[1] = (T0 + 5 * D, "lead")
    return ctx(replace(snap, flags=[FlagRec(1, 1, "no_show", T0 + 4 * D)]), world)


def _ended_match(snap: Snapshot, world: World, **changes: object) -> Snapshot:
    world.ended[1] = (T0 + 2 * D, "lead")
    return replace(snap, **changes)  # type: ignore[arg-type]


def plant_ended_still_active(snap: Snapshot, world: World) -> Context:
    return ctx(_ended_match(snap, world), world)


def plant_ended_meeting_in_calendar(snap: Snapshot, world: World) -> Context:
    snap = _ended_match(snap, world, matches=[replace(snap.matches[0], active=False), snap.matches[1]])
    ev = IcsEvent("ev1", T0 + 3 * D, T0 + 3 * D + H, "CONFIRMED", "REQUEST", (MENTEE, MENTOR))
    return ctx(snap, world, calendar={"ev1": ev})


def plant_ended_nobody_told(snap: Snapshot, world: World) -> Context:
    snap = _ended_match(snap, world, matches=[replace(snap.matches[0], active=False), snap.matches[1]])
    return ctx(snap, world, sent=[Sent(T0 + 3 * D, MENTOR, "k", "invite", "invite")])  # the mentee is not told


PLANTS: dict[str, Callable[[Snapshot, World], Context]] = {
    "1": plant_overlap,
    "2": plant_over_capacity,
    "3": plant_reproposed,
    "4": plant_mail_after_withdrawal,
    "4e": plant_mail_after_erasure,
    "4u": plant_mail_after_unsubscribe,
    "5": plant_second_request,
    "6": plant_status_without_timeline,
    "6c": plant_withdrawn_still_open,
    "7": plant_fixed_answer_still_set_aside,
    "7m": plant_gone_mentor_active,
    "7f": plant_dealt_flag_open,
    "8": plant_ended_still_active,
    "8c": plant_ended_meeting_in_calendar,
    "8t": plant_ended_nobody_told,
}


def test_every_check_has_a_planted_violation() -> None:
    assert set(PLANTS) == {c.id for c in CHECKS}


def test_the_base_case_holds_every_invariant() -> None:
    snap, world = base()
    assert run_checks(ctx(snap, world), CHECKS) == []


@pytest.mark.parametrize("check_id", sorted(PLANTS))
def test_each_check_detects_its_planted_violation(check_id: str) -> None:
    snap, world = base()
    found = run_checks(PLANTS[check_id](snap, world), CHECKS)
    assert check_id in {v.check for v in found}, found
    assert all("@" not in v.detail for v in found), "violations name people by label, never by address"


def test_an_erasure_counts_from_the_run_that_carries_it_out() -> None:
    snap, world = base()
    world.stops.append(Stop(MENTEE, T0 + 2 * D + 10 * H, "erased", taken_in_by="privacy"))  # link clicked
    before = Sent(T0 + 3 * D + 2 * H, MENTEE, "survey:1:mentee", "survey", "followup")  # before the 03:00 privacy run
    after = Sent(T0 + 3 * D + 9 * H, MENTEE, "survey:1:mentee", "survey", "followup")
    assert [v.check for v in run_checks(ctx(snap, world, sent=[before]), CHECKS)] == []
    assert [v.check for v in run_checks(ctx(snap, world, sent=[after]), CHECKS)] == ["4e"]


def test_unsubscribing_stops_the_newsletter_only() -> None:
    snap, world = base()
    world.stops.append(Stop(MENTEE, T0 + 2 * D, "unsubscribed"))
    survey = Sent(T0 + 5 * D, MENTEE, "survey:1:mentee", "survey", "followup")
    assert run_checks(ctx(snap, world, sent=[survey]), CHECKS) == []


def test_contact_before_the_withdrawal_was_taken_in_is_allowed() -> None:
    snap, world = base()
    world.stops.append(Stop(MENTEE, T0 + 2 * D + 10 * H, "withdrew"))  # after that day's intake
    early = Sent(T0 + 3 * D + 8 * H, MENTEE, "survey:1:mentee", "survey", "followup")  # same instant as intake
    assert [v for v in run_checks(ctx(snap, world, sent=[early]), CHECKS) if v.check == "4"] == []

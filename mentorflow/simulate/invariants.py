"""The program's invariants (issue #10, 1-8), checked after every flow run against the store and the output files.

Each check is a pure function of a :class:`Context` (a read-only snapshot of the store, the calendar files,
everything sent so far, and the people's ground truth) returning :class:`Violation` records that name people by
non-personal labels (``mentee 7``, ``mentor 3``) and ids.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.followup import DID_NOT_MEET, NO_LONGER_IN_TOUCH
from domain.models import OPEN_STATUSES, TRANSITIONS, RequestStatus
from mentorflow.simulate.people import Stop, World
from mentorflow.simulate.query import IcsEvent, MatchRec, MeetingRec, Req, Sent, Snapshot

NOT_PERSONAL_MAIL = {"digest", "report"}  # kinds that are not about one's own match (still contact for 4)


@dataclass(frozen=True)
class Violation:
    check: str
    key: str
    at: datetime
    flow: str
    detail: str

    def line(self) -> str:
        return f"[{self.check}] after {self.flow} at {self.at:%Y-%m-%d %H:%M}: {self.detail}"


@dataclass
class Context:
    """What a check may look at after one flow run."""

    now: datetime
    flow: str
    snap: Snapshot
    world: World
    sent: list[Sent]
    calendar: dict[str, IcsEvent]
    runs: list[tuple[datetime, str]]  # every run so far, this one included, in order
    since: datetime  # the previous run's instant: matches made after it are this run's
    relationship_days: int = 56
    _cache: dict[str, object] = field(default_factory=dict)

    def taken_in_after(self, t: datetime, flow: str | None = "intake") -> datetime | None:
        """The instant of the first run (of ``flow``, or any) at or after ``t``: when the program could know."""
        return next((at for at, f in self.runs if at >= t and (flow is None or f == flow)), None)

    def binding(self, t: datetime, flow: str | None = "intake") -> datetime | None:
        """From when on a change made at ``t`` must show: any run after the one that took it in."""
        return self.taken_in_after(t, flow)

    def mentee_of(self, m: MatchRec) -> str:
        if "emails" not in self._cache:
            self._cache["emails"] = {r.id: r.email for r in self.snap.requests}
        return self._cache["emails"].get(m.request_id, "?")  # type: ignore[attr-defined, no-any-return]

    def entered(self, *statuses: str) -> dict[int, list[datetime]]:
        """Request id -> when it entered one of ``statuses`` (from the timeline; computed once per set)."""
        key = "entered:" + ",".join(sorted(statuses))
        if key not in self._cache:
            times: dict[int, list[datetime]] = defaultdict(list)
            for e in self.snap.events:
                if e.to_status in statuses:
                    times[e.request_id].append(e.at)
            self._cache[key] = times
        return self._cache[key]  # type: ignore[return-value]

    def label(self, email: str) -> str:
        return self.world.label(email)


@dataclass(frozen=True)
class Check:
    id: str
    invariant: int
    title: str
    run: Callable[[Context], Iterable[Violation]]


def _v(ctx: Context, check: str, key: str, detail: str) -> Violation:
    return Violation(check, f"{check}:{key}", ctx.now, ctx.flow, detail)


# --- 1 -----------------------------------------------------------------------------------------------------


def no_double_booking(ctx: Context) -> Iterator[Violation]:
    """Nobody is in two program meetings at overlapping times (meetings of matches still on)."""
    active = {m.id: m for m in ctx.snap.matches if m.active}
    people: dict[str, list[tuple[datetime, datetime, int]]] = defaultdict(list)
    for mt in ctx.snap.meetings:
        m = active.get(mt.match_id)
        if m is None:
            continue
        for who in (m.mentor, ctx.mentee_of(m)):
            people[who].append((mt.start, mt.end, m.id))
    for who, slots in people.items():
        slots.sort()
        for i, (s1, e1, m1) in enumerate(slots):
            for s2, _e2, m2 in slots[i + 1 :]:
                if s2 >= e1:
                    break
                yield _v(
                    ctx,
                    "1",
                    f"{min(m1, m2)}-{max(m1, m2)}",
                    f"{ctx.label(who)} is in the first meetings of matches {m1} and {m2} at overlapping "
                    f"times ({s1:%Y-%m-%d %H:%M} UTC)",
                )


# --- 2 -----------------------------------------------------------------------------------------------------


def _ended_at(ctx: Context, m: MatchRec) -> datetime | None:
    """When a relationship stopped being ongoing: ended by someone, canceled, or its length reached."""
    ends = [m.created_at + timedelta(days=ctx.relationship_days)]
    if m.id in ctx.world.ended:
        ends.append(ctx.world.ended[m.id][0])
    ends += [at for at in ctx.entered("canceled", "rejected").get(m.request_id, []) if at >= m.created_at]
    if not m.active and m.ended_reason == NO_LONGER_IN_TOUCH:  # the follow-up closed saying so: ended then
        ends += [at for at in ctx.entered("completed").get(m.request_id, []) if at >= m.created_at]
    if not m.active and m.ended_reason == DID_NOT_MEET:  # the program re-queued the mentee after a no-show
        ends += [at for at in ctx.entered("pending").get(m.request_id, []) if at > m.created_at]
    return min(ends)


def ongoing(ctx: Context, mentor: str, at: datetime) -> list[MatchRec]:
    """The mentor's relationships ongoing at ``at``: approved, and not ended (see :func:`_ended_at`)."""
    return [
        m
        for m in ctx.snap.matches
        if m.mentor == mentor and m.created_at <= at and (end := _ended_at(ctx, m)) is not None and at < end
    ]


def capacity_respected(ctx: Context) -> Iterator[Violation]:
    """A match made in this run never takes a mentor beyond their capacity of ongoing mentees."""
    capacity = {m.email: m.capacity for m in ctx.snap.mentors}
    for m in ctx.snap.matches:
        if m.created_at <= ctx.since:
            continue
        now_on = ongoing(ctx, m.mentor, m.created_at)
        if len(now_on) > capacity.get(m.mentor, 0):
            yield _v(
                ctx,
                "2",
                str(m.id),
                f"match {m.id} gives {ctx.label(m.mentor)} {len(now_on)} ongoing mentees, capacity "
                f"{capacity.get(m.mentor, 0)} (ongoing: matches {', '.join(str(x.id) for x in now_on)})",
            )


# --- 3 -----------------------------------------------------------------------------------------------------


def refusals_hold(ctx: Context) -> Iterator[Violation]:
    """A pair the lead turned down is never proposed or approved again."""
    for (request_id, mentor), refused_at in ctx.world.refused.items():
        for p in ctx.snap.proposals:
            if p.created_at > refused_at and (request_id, mentor) in p.pairs:
                yield _v(
                    ctx,
                    "3",
                    f"proposed:{request_id}:{mentor}:{p.id}",
                    f"request {request_id} with {ctx.label(mentor)}, turned down by the lead at "
                    f"{refused_at:%Y-%m-%d %H:%M}, is proposed again in batch {p.id}",
                )
        for m in ctx.snap.matches:
            if m.request_id == request_id and m.mentor == mentor and m.created_at >= refused_at:
                yield _v(
                    ctx,
                    "3",
                    f"approved:{request_id}:{mentor}",
                    f"request {request_id} with {ctx.label(mentor)}, turned down by the lead at "
                    f"{refused_at:%Y-%m-%d %H:%M}, is approved as match {m.id}",
                )


# --- 4 -----------------------------------------------------------------------------------------------------


def _contact_after(
    ctx: Context, reasons: set[str], flow: str | None, check: str, kinds: set[str] | None = None
) -> Iterator[Violation]:
    stops: dict[str, list[Stop]] = defaultdict(list)
    for stop in ctx.world.stops:
        if stop.why in reasons:
            stops[stop.email].append(stop)
    for s in ctx.sent:
        if kinds is not None and s.kind not in kinds:
            continue
        for stop in stops.get(s.to, []):
            bound = ctx.binding(stop.since, stop.taken_in_by or flow)
            if bound is not None and s.at > bound and (stop.until is None or s.at < stop.until):
                yield _v(
                    ctx,
                    check,
                    f"{s.key}:{s.to}",
                    f"{ctx.label(s.to)} {stop.why} at {stop.since:%Y-%m-%d %H:%M}, and the {s.flow} run at "
                    f"{s.at:%Y-%m-%d %H:%M} sent them {s.kind} ({s.key})",
                )


def consent_stops_contact(ctx: Context) -> Iterable[Violation]:
    """After a later answer refusing contact, or a pause in the roster, is taken in: no email, no invite."""
    return _contact_after(ctx, {"withdrew", "paused"}, "intake", "4")


def erasure_stops_contact(ctx: Context) -> Iterable[Violation]:
    """After the run that carries out an erasure (the privacy run after an erase link, or the lead's `forget`):
    nothing more to that person, whatever it is."""
    return _contact_after(ctx, {"erased"}, "privacy", "4e")


def unsubscribe_stops_contact(ctx: Context) -> Iterable[Violation]:
    """After an unsubscribe link is used: no newsletter (it counts from the next run; other mail is not
    the newsletter's)."""
    return _contact_after(ctx, {"unsubscribed"}, None, "4u", kinds={"digest"})


# --- 5 -----------------------------------------------------------------------------------------------------


def one_request_per_answer(ctx: Context) -> Iterator[Violation]:
    """Re-reading the form never makes a second request for an answer already taken in."""
    per_email: dict[str, list[int]] = defaultdict(list)
    for r in ctx.snap.requests:
        per_email[r.email].append(r.id)
    for email, ids in per_email.items():
        allowed = ctx.world.answers.get(email, 1)
        if len(ids) > allowed:
            yield _v(
                ctx,
                "5",
                f"{email}:{len(ids)}",
                f"{ctx.label(email)} applied {allowed} time(s) and has {len(ids)} requests "
                f"({', '.join(map(str, ids))})",
            )


# --- 6 -----------------------------------------------------------------------------------------------------


def lifecycle_consistent(ctx: Context) -> Iterator[Violation]:
    """One status per request, every change in its timeline along a lifecycle edge, 'open' as the status says."""
    timeline: dict[int, list[tuple[str | None, str]]] = defaultdict(list)
    for e in ctx.snap.events:
        timeline[e.request_id].append((e.from_status, e.to_status))
    for r in ctx.snap.requests:
        steps = timeline.get(r.id, [])
        problem = ""
        if r.status not in {s.value for s in RequestStatus}:
            problem = f"has the unknown status {r.status!r}"
        elif not steps or steps[0][0] is not None:
            problem = "has no creation event in its timeline"
        elif steps[-1][1] != r.status:
            problem = f"is {r.status} but its timeline ends at {steps[-1][1]}"
        elif r.is_open != (RequestStatus(r.status) in OPEN_STATUSES):
            problem = f"is {r.status} with open={r.is_open}"
        else:
            for (_, before), (frm, to) in zip(steps, steps[1:], strict=False):
                if frm != before:
                    problem = f"has a timeline gap: {before} then a change from {frm}"
                elif to != frm and RequestStatus(to) not in TRANSITIONS[RequestStatus(frm)]:
                    problem = f"went from {frm} to {to}, not an edge of the lifecycle"
                if problem:
                    break
        if problem:
            yield _v(ctx, "6", f"{r.id}:{problem}", f"request {r.id} {problem}")


def withdrawal_cancels(ctx: Context) -> Iterator[Violation]:
    """Statuses are reachable: a withdrawal, once taken in, cancels the open request."""
    for stop in ctx.world.stops:
        if stop.why != "withdrew":
            continue
        bound = ctx.binding(stop.since)
        if bound is None or ctx.now <= bound:
            continue
        for r in ctx.snap.requests:
            if r.email == stop.email and r.is_open:
                yield _v(
                    ctx,
                    "6c",
                    f"{r.id}",
                    f"{ctx.label(r.email)} withdrew at {stop.since:%Y-%m-%d %H:%M}; "
                    f"request {r.id} is still {r.status}, not canceled",
                )


# --- 7 -----------------------------------------------------------------------------------------------------


def fixed_answers_leave_the_list(ctx: Context) -> Iterator[Violation]:
    """A set-aside answer the person fixed with a later valid one disappears from what the lead sees."""
    for s in ctx.snap.set_aside:
        if not s.open:
            continue
        email = ctx.world.bad_rows.get(f"{s.source}|{s.ref}")
        fixed = ctx.world.fixed_at.get(email or "")
        bound = ctx.binding(fixed) if fixed else None
        if email and bound is not None and ctx.now > bound:
            yield _v(
                ctx,
                "7",
                f"set-aside:{s.source}:{s.ref}",
                f"{ctx.label(email)} fixed their answer at {fixed:%Y-%m-%d %H:%M}; the lead still sees the "
                f"old one ({s.ref}) set aside",
            )


def gone_mentors_deactivated(ctx: Context) -> Iterator[Violation]:
    """A mentor removed from the roster is deactivated at the next intake."""
    active = {m.email for m in ctx.snap.mentors if m.active}
    for email, at in ctx.world.removed_mentors.items():
        bound = ctx.binding(at)
        if email in active and bound is not None and ctx.now > bound:
            yield _v(ctx, "7m", email, f"{ctx.label(email)} left the roster at {at:%Y-%m-%d %H:%M} and is still active")


def dealt_flags_leave_the_list(ctx: Context) -> Iterator[Violation]:
    """A flag the lead dealt with (they ended the match) no longer shows as open."""
    for f in ctx.snap.flags:
        if f.done_at is not None:
            continue
        ended = ctx.world.ended.get(f.match_id)
        if ended is not None and ended[1] == "lead" and ctx.now > ended[0]:
            yield _v(
                ctx,
                "7f",
                str(f.id),
                f"flag {f.id} ({f.kind}) on match {f.match_id} still open after the lead ended the match",
            )


# --- 8 -----------------------------------------------------------------------------------------------------


def _ended(ctx: Context) -> Iterator[tuple[MatchRec, Req | None, MeetingRec | None, datetime]]:
    """Matches ended by someone, once the first invite run after the ending is over."""
    matches = {m.id: m for m in ctx.snap.matches}
    requests = {r.id: r for r in ctx.snap.requests}
    meetings = {mt.match_id: mt for mt in ctx.snap.meetings}
    for match_id, (at, _by) in sorted(ctx.world.ended.items()):
        bound = ctx.binding(at, "invite")
        if bound is not None and ctx.now > bound and match_id in matches:
            m = matches[match_id]
            yield m, requests.get(m.request_id), meetings.get(match_id), at


def ending_frees_the_place(ctx: Context) -> Iterator[Violation]:
    """Ending a match frees the mentor's place and queues the mentee for a new match."""
    for m, req, _mt, at in _ended(ctx):
        if m.active:
            yield _v(
                ctx,
                "8",
                f"active:{m.id}",
                f"match {m.id} was ended at {at:%Y-%m-%d %H:%M} and still holds a place of {ctx.label(m.mentor)}",
            )
        elif (
            req is not None
            and req.is_open
            and not any(e.request_id == req.id and e.at >= at and e.to_status == "pending" for e in ctx.snap.events)
        ):
            yield _v(
                ctx,
                "8",
                f"queued:{m.id}",
                f"match {m.id} was ended; request {req.id} is {req.status} and was never queued for a new match",
            )


def ending_cancels_the_meeting(ctx: Context) -> Iterator[Violation]:
    """Ending a match cancels its future first meeting in the calendar."""
    for m, _req, mt, at in _ended(ctx):
        ev = ctx.calendar.get(mt.event_id) if mt else None
        if mt is not None and mt.start > at and ev is not None and "CANCEL" not in (ev.status + ev.method):
            yield _v(
                ctx,
                "8c",
                str(m.id),
                f"match {m.id} was ended at {at:%Y-%m-%d %H:%M}; its first meeting "
                f"({mt.start:%Y-%m-%d %H:%M} UTC) is still in the calendar",
            )


def _without_consent(ctx: Context, who: str, at: datetime) -> bool:
    """At ``at``, ``who`` had paused, withdrawn or left the roster (invariant 4: they are not written to)."""
    if who in ctx.world.removed_mentors and ctx.world.removed_mentors[who] <= at:
        return True
    return any(
        s.email == who and s.why in {"paused", "withdrew"} and s.since <= at and (s.until is None or at < s.until)
        for s in ctx.world.stops
    )


def ending_tells_both(ctx: Context) -> Iterator[Violation]:
    """Ending a match tells both sides (an email to each after the ending), except a side without standing
    consent (paused, withdrawn, gone from the roster: invariant 4 wins)."""
    for m, req, _mt, at in _ended(ctx):
        for who in (m.mentor, req.email if req else ""):
            told = any(s.to == who and s.at >= at and s.kind not in NOT_PERSONAL_MAIL | {"ics"} for s in ctx.sent)
            if who and not told and not _without_consent(ctx, who, at):
                yield _v(
                    ctx,
                    "8t",
                    f"{m.id}:{who}",
                    f"match {m.id} was ended at {at:%Y-%m-%d %H:%M}; {ctx.label(who)} was not told",
                )


CHECKS: tuple[Check, ...] = (
    Check("1", 1, "nobody in two program meetings at overlapping times", no_double_booking),
    Check("2", 2, "a mentor never has more ongoing mentees than capacity", capacity_respected),
    Check("3", 3, "a pair the lead turned down is never proposed or approved again", refusals_hold),
    Check("4", 4, "no email or invite after a withdrawal or a pause is taken in", consent_stops_contact),
    Check("4e", 4, "no email or invite after erasure", erasure_stops_contact),
    Check("4u", 4, "no newsletter after unsubscribing", unsubscribe_stops_contact),
    Check("5", 5, "one request per answer for life", one_request_per_answer),
    Check("6", 6, "one status per request, every change in its timeline", lifecycle_consistent),
    Check("6c", 6, "a withdrawal cancels the request", withdrawal_cancels),
    Check("7", 7, "a fixed answer leaves the set-aside list", fixed_answers_leave_the_list),
    Check("7m", 7, "a mentor gone from the roster is deactivated", gone_mentors_deactivated),
    Check(
        "7f",
        7,
        "a flag the lead dealt with stops showing",
        dealt_flags_leave_the_list,
    ),
    Check("8", 8, "ending a match frees the place and queues the mentee", ending_frees_the_place),
    Check("8c", 8, "ending a match cancels its future meeting", ending_cancels_the_meeting),
    Check("8t", 8, "ending a match tells both sides", ending_tells_both),
)


def run_checks(ctx: Context, selected: Iterable[Check]) -> list[Violation]:
    out: list[Violation] = []
    for c in selected:
        out += list(c.run(ctx))
    return out

"""Read-only queries for the checks: plain SQL over ``store/tables.py`` and the local output files.

The checks read through this module only (never the store's API, which they check), so a bug in the store's
own reads cannot hide a bug in its writes. Everything comes back as small frozen records.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import icalendar
from sqlalchemy import select
from sqlalchemy.engine import Engine

from store.tables import (
    FlagRow,
    LedgerRow,
    MatchRow,
    MeetingRow,
    MentorRow,
    ProposalRow,
    RequestEventRow,
    RequestRow,
    SetAsideRow,
)


@dataclass(frozen=True)
class Req:
    id: int
    email: str
    status: str
    is_open: bool
    response_id: str
    consent: bool
    created_at: datetime
    application: dict[str, Any] = field(hash=False, compare=False, default_factory=dict)


@dataclass(frozen=True)
class Event:
    request_id: int
    at: datetime
    from_status: str | None
    to_status: str
    actor: str


@dataclass(frozen=True)
class MatchRec:
    id: int
    request_id: int
    mentor: str
    created_at: datetime
    active: bool
    ended_reason: str = ""


@dataclass(frozen=True)
class MeetingRec:
    match_id: int
    event_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class MentorRec:
    email: str
    active: bool
    capacity: int
    data: dict[str, Any] = field(hash=False, compare=False)


@dataclass(frozen=True)
class ProposalRec:
    id: int
    created_at: datetime
    status: str
    pairs: tuple[tuple[int, str], ...]
    decided_at: datetime | None


@dataclass(frozen=True)
class SetAsideRec:
    kind: str
    source: str
    ref: str
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None = None  # a later valid answer replaced it: the lead no longer sees it

    @property
    def open(self) -> bool:
        """Still in what the lead sees (`mentorflow status`, the report)."""
        return self.resolved_at is None


@dataclass(frozen=True)
class FlagRec:
    id: int
    match_id: int
    kind: str
    created_at: datetime
    detail: str = ""
    done_at: datetime | None = None  # marked dealt with (`mentorflow flags done`): no longer shown


@dataclass(frozen=True)
class LedgerRec:
    key: str
    status: str
    updated_at: datetime


@dataclass(frozen=True)
class Snapshot:
    """The store as it stands after a flow run."""

    requests: list[Req]
    events: list[Event]
    matches: list[MatchRec]
    meetings: list[MeetingRec]
    mentors: list[MentorRec]
    proposals: list[ProposalRec]
    set_aside: list[SetAsideRec]
    flags: list[FlagRec]
    ledger: list[LedgerRec]


def snapshot(engine: Engine) -> Snapshot:
    """Read every table the checks need, in one read-only transaction."""
    with engine.connect() as c:
        requests = [
            Req(
                r.id,
                r.mentee_email.lower(),
                r.status,
                bool(r.is_open),
                r.response_id,
                bool((r.application or {}).get("consent_contact", True)),
                r.created_at,
                dict(r.application or {}),
            )
            for r in c.execute(select(RequestRow).order_by(RequestRow.id))
        ]
        events = [
            Event(e.request_id, e.at, e.from_status, e.to_status, e.actor)
            for e in c.execute(select(RequestEventRow).order_by(RequestEventRow.id))
        ]
        matches = [
            MatchRec(m.id, m.request_id, m.mentor_email.lower(), m.created_at, bool(m.active), m.ended_reason or "")
            for m in c.execute(select(MatchRow).order_by(MatchRow.id))
        ]
        meetings = [MeetingRec(m.match_id, m.event_id, m.start, m.end) for m in c.execute(select(MeetingRow))]
        mentors = [
            MentorRec(m.email.lower(), bool(m.active), int((m.data or {}).get("capacity", 0)), dict(m.data or {}))
            for m in c.execute(select(MentorRow))
        ]
        proposals = [
            ProposalRec(
                p.id,
                p.created_at,
                p.status,
                tuple(
                    (int(x["request_id"]), str(x["mentor_email"]).lower()) for x in (p.data or {}).get("matches", [])
                ),
                p.decided_at,
            )
            for p in c.execute(select(ProposalRow).order_by(ProposalRow.id))
        ]
        set_aside = [
            SetAsideRec(s.kind, s.source, s.ref, s.first_seen_at, s.last_seen_at, s.resolved_at)
            for s in c.execute(select(SetAsideRow))
        ]
        flags = [
            FlagRec(f.id, f.match_id, f.kind, f.created_at, f.detail, f.done_at) for f in c.execute(select(FlagRow))
        ]
        ledger = [LedgerRec(x.key, x.status, x.updated_at) for x in c.execute(select(LedgerRow))]
    return Snapshot(requests, events, matches, meetings, mentors, proposals, set_aside, flags, ledger)


# --- output files ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One message or invitation that reached one person, seen in the outbox or the invites folder."""

    at: datetime  # the simulated instant of the run that wrote it
    to: str
    key: str
    kind: str  # invite | survey | reminder | digest | report | ics | ...
    flow: str


@dataclass
class OutputWatcher:
    """Finds the files each flow run added (or rewrote) in the outbox and the invites folder."""

    outbox: Path
    invites: Path
    seen: set[str] = field(default_factory=set)
    stamps: dict[str, tuple[int, int]] = field(default_factory=dict)
    events: dict[str, IcsEvent] = field(default_factory=dict)  # event id -> the event as its file holds it now

    def new_since_last(self, at: datetime, flow: str) -> list[Sent]:
        out: list[Sent] = []
        for path in sorted(self.outbox.glob("*.eml")) if self.outbox.exists() else []:
            if path.name in self.seen:
                continue
            self.seen.add(path.name)
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            key = str(msg.get("X-Mentorflow-Key", ""))
            kinds = msg.get_all("X-Mentorflow-Category") or [key.split(":")[0]]
            for _, addr in email.utils.getaddresses([str(msg.get("To", ""))]):
                out.append(Sent(at, addr.lower(), key, str(kinds[0]), flow))
        for path in sorted(self.invites.glob("*.ics")) if self.invites.exists() else []:
            stat = path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if self.stamps.get(path.name) == stamp:
                continue
            self.stamps[path.name] = stamp
            for ev in ics_events(path.read_bytes()):
                self.events[path.stem] = ev
                out.extend(Sent(at, who, f"event:{path.stem}", "ics", flow) for who in ev.attendees)
        for gone in set(self.events) - {p.stem for p in self.invites.glob("*.ics")}:
            del self.events[gone]
        return out


@dataclass(frozen=True)
class IcsEvent:
    uid: str
    start: datetime
    end: datetime
    status: str
    method: str
    attendees: tuple[str, ...]


def ics_events(data: bytes) -> list[IcsEvent]:
    cal = icalendar.Calendar.from_ical(data)
    method = str(cal.get("method", ""))
    out = []
    for ev in cal.walk("VEVENT"):
        attendees = ev.get("attendee") or []
        attendees = attendees if isinstance(attendees, list) else [attendees]
        out.append(
            IcsEvent(
                uid=str(ev.get("uid", "")).split("@")[0],
                start=ev.decoded("dtstart"),
                end=ev.decoded("dtend"),
                status=str(ev.get("status", "")).upper(),
                method=method.upper(),
                attendees=tuple(str(a).removeprefix("mailto:").lower() for a in attendees),
            )
        )
    return out

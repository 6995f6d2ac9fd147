"""Matches, their first meetings, and the batches of proposals waiting for the lead."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from domain.approval import WaitingProposal
from domain.keys import ending_keys
from domain.models import Match, MatchResult, Meeting, ProposedMatch, RequestStatus, WeeklyWindow
from store.requests import apply_transition, event_row
from store.sql import among, chunks, insert
from store.tables import (
    LedgerRow,
    MatchRow,
    MeetingRow,
    MentorRow,
    ProposalRow,
    RefusalRow,
    RequestEventRow,
    RequestRow,
)


def _match(row: MatchRow) -> Match:
    return Match(
        id=row.id,
        request_id=row.request_id,
        mentor_email=row.mentor_email,
        score=row.score,
        reasons=list(row.reasons),
        shared_windows=[WeeklyWindow.model_validate(w) for w in row.shared_windows],
        created_at=row.created_at,
        active=row.active,
    )


def _meeting(row: MeetingRow) -> Meeting:
    return Meeting(
        match_id=row.match_id,
        start=row.start,
        end=row.end,
        event_id=row.event_id,
        video_link=row.video_link,
        accessibility_needs=row.accessibility_needs,
    )


_IN_FOLLOWUP = (RequestStatus.SCHEDULED.value, RequestStatus.MET.value)
_ONGOING = (*_IN_FOLLOWUP, RequestStatus.APPROVED.value, RequestStatus.COMPLETED.value)


class MatchRepository:
    """Matches and meetings (a match's request moves with it). Never commits: the unit of work does."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # --- matches ---------------------------------------------------------------------------------

    def approve(self, proposals: Sequence[ProposedMatch], actor: str, now: datetime) -> list[int]:
        """Record approved matches in bulk (request → approved); a request no longer pending is left alone."""
        s = self.session
        wanted: dict[int, ProposedMatch] = {}
        for p in proposals:
            wanted.setdefault(p.request_id, p)  # a request is matched once
        pending: dict[int, RequestRow] = {}
        for part in chunks(sorted(wanted)):
            for row in s.scalars(
                select(RequestRow).where(RequestRow.id.in_(part), RequestRow.status == RequestStatus.PENDING.value)
            ):
                pending[row.id] = row
        refused = self.refused(sorted(pending))
        chosen = [p for rid, p in wanted.items() if rid in pending and (rid, p.mentor_email.lower()) not in refused]
        if not chosen:
            return []
        rows = [
            {
                "request_id": p.request_id,
                "mentor_email": str(p.mentor_email).lower(),
                "score": p.score,
                "reasons": p.reasons,
                "breakdown": p.breakdown.model_dump(),
                "shared_windows": [w.model_dump(mode="json") for w in p.shared_windows],
                "created_at": now,
                "active": True,
                "ended_reason": "",
            }
            for p in chosen
        ]
        inserted = s.execute(insert(s, MatchRow).returning(MatchRow.id, MatchRow.request_id), rows)
        made = {request_id: match_id for match_id, request_id in inserted}
        events = []
        for p in chosen:
            row = pending[p.request_id]
            frm = row.status
            apply_transition(row, RequestStatus.APPROVED, now)
            row.wait_reason = ""
            events.append(event_row(row.id, frm, RequestStatus.APPROVED.value, actor, "; ".join(p.reasons), now))
        s.execute(insert(s, RequestEventRow), events)
        return [made[p.request_id] for p in chosen]

    def refuse(self, pairs: Sequence[tuple[int, str]], note: str, now: datetime) -> None:
        """Keep the (request, mentor) pairs the lead turned down, once each."""
        if not pairs:
            return
        s = self.session
        rows = [{"request_id": rid, "mentor_email": m.lower(), "at": now, "note": note} for rid, m in set(pairs)]
        s.execute(insert(s, RefusalRow).on_conflict_do_nothing(index_elements=["request_id", "mentor_email"]), rows)

    def refused(self, request_ids: Sequence[int]) -> set[tuple[int, str]]:
        """The (request, mentor) pairs turned down for these requests' mentees (over all their requests)."""
        s = self.session
        out: set[tuple[int, str]] = set()
        for part in chunks(sorted(set(request_ids))):
            mentees = select(RequestRow.mentee_email).where(RequestRow.id.in_(part))
            asked = RequestRow.__table__.alias("asked")
            q = (
                select(asked.c.id, RefusalRow.mentor_email)
                .join(RequestRow, RequestRow.id == RefusalRow.request_id)
                .join(asked, asked.c.mentee_email == RequestRow.mentee_email)
                .where(asked.c.id.in_(part), RequestRow.mentee_email.in_(mentees))
            )
            out.update((rid, m) for rid, m in s.execute(q).all())
        return out

    def end(self, match_id: int, reason: str, actor: str, now: datetime, *, requeue: bool = True) -> bool:
        """A declined or cancelled match frees the mentor and (``requeue``) sends the mentee back to the waitlist.

        The mentee keeps their place (waiting time is not reset) and this mentor counts as already had.
        """
        s = self.session
        m = s.get(MatchRow, match_id, with_for_update=True)
        if m is None or not m.active:
            return False
        m.active, m.ended_reason = False, reason
        row = s.get(RequestRow, m.request_id)
        ongoing = {RequestStatus.APPROVED.value, RequestStatus.SCHEDULED.value, RequestStatus.MET.value}
        if requeue and row is not None and row.status in ongoing:
            frm = row.status
            apply_transition(row, RequestStatus.PENDING, now)
            s.add(RequestEventRow(**event_row(row.id, frm, RequestStatus.PENDING.value, actor, reason, now)))
        return True

    def active_of_requests(self, request_ids: Sequence[int]) -> dict[int, int]:
        """Request id → its match still on, for these requests."""
        out: dict[int, int] = {}
        for part in chunks(sorted(set(request_ids))):
            q = select(MatchRow.request_id, MatchRow.id).where(MatchRow.request_id.in_(part), MatchRow.active.is_(True))
            out.update({rid: mid for rid, mid in self.session.execute(q).all()})
        return out

    def active_of_mentors(self, emails: Sequence[str]) -> list[int]:
        """Matches still on of these mentors whose request is open."""
        out: list[int] = []
        for part in chunks(sorted({e.lower() for e in emails})):
            out += self.session.scalars(
                select(MatchRow.id)
                .join(RequestRow, RequestRow.id == MatchRow.request_id)
                .where(MatchRow.mentor_email.in_(part), MatchRow.active.is_(True), RequestRow.is_open.is_(True))
            ).all()
        return sorted(out)

    def of_request(self, request_id: int) -> list[Match]:
        """Every match a request had, oldest first (ended ones too)."""
        rows = self.session.scalars(select(MatchRow).where(MatchRow.request_id == request_id).order_by(MatchRow.id))
        return [_match(r) for r in rows.all()]

    def get(self, match_id: int) -> Match:
        row = self.session.get(MatchRow, match_id, populate_existing=True)
        if row is None:
            raise KeyError(f"no match {match_id}")
        return _match(row)

    def many(self, match_ids: Sequence[int]) -> dict[int, Match]:
        """The given matches by id, in one query per 10,000."""
        out: dict[int, Match] = {}
        for part in chunks(sorted(set(match_ids))):
            out.update({r.id: _match(r) for r in self.session.scalars(select(MatchRow).where(MatchRow.id.in_(part)))})
        return out

    def ended_for(self, reason: str) -> list[Match]:
        """Every match that ended for this reason (its ``ended_reason``), oldest first."""
        rows = self.session.scalars(select(MatchRow).where(MatchRow.ended_reason == reason).order_by(MatchRow.id))
        return [_match(r) for r in rows.all()]

    def unfinished_endings(self, reason: str) -> list[int]:
        """Matches ended for this reason whose ending is not finished: a ledger entry of it (the meeting's cancel,
        the email to either side) not done. What ``tasks.lifecycle.end_relationship`` finishes when called again."""
        ended = self.session.execute(
            select(MatchRow.id, MeetingRow.event_id)
            .outerjoin(MeetingRow, MeetingRow.match_id == MatchRow.id)
            .where(MatchRow.ended_reason == reason)
        ).all()
        owner = {key: m for m, e in ended for key in ending_keys(m, e)}
        open_keys: set[str] = set()
        for part in chunks(sorted(owner)):
            open_keys.update(
                self.session.scalars(
                    select(LedgerRow.key).where(among(self.session, LedgerRow.key, part), LedgerRow.status != "done")
                )
            )
        return sorted({owner[k] for k in open_keys})

    def made(self, since: datetime, until: datetime) -> list[Match]:
        rows = self.session.scalars(select(MatchRow).where(MatchRow.created_at >= since, MatchRow.created_at < until))
        return [_match(r) for r in rows.all()]

    def mentor_load(self, ongoing_since: datetime | None = None) -> dict[str, int]:
        """Mentor email → ongoing relationships: matches still on whose request was not canceled, approved
        after ``ongoing_since`` (now minus the relationship's length; None: no time limit).

        A relationship holds its place from approval until it ends (by someone, or when its length is over),
        not only until its follow-up closes (invariant 2).
        """
        q = (
            select(MatchRow.mentor_email, func.count())
            .join(RequestRow, RequestRow.id == MatchRow.request_id)
            .where(MatchRow.active.is_(True), RequestRow.status.in_(_ONGOING))
            .group_by(MatchRow.mentor_email)
        )
        if ongoing_since is not None:
            q = q.where(MatchRow.created_at > ongoing_since)
        return {email: int(n) for email, n in self.session.execute(q).all()}

    def to_invite(self) -> list[int]:
        """Active matches whose request is approved (no invitations out yet) and whose mentor is not paused."""
        return list(
            self.session.scalars(
                select(MatchRow.id)
                .join(RequestRow, RequestRow.id == MatchRow.request_id)
                .join(MentorRow, MentorRow.email == MatchRow.mentor_email)
                .where(
                    MatchRow.active.is_(True),
                    RequestRow.status == RequestStatus.APPROVED.value,
                    MentorRow.active.is_(True),  # a pause stops invitations at the next run (invariant 4)
                )
                .order_by(MatchRow.id)
            ).all()
        )

    # --- meetings --------------------------------------------------------------------------------

    def meeting(self, match_id: int) -> Meeting | None:
        row = self.session.get(MeetingRow, match_id, populate_existing=True)
        return _meeting(row) if row is not None else None

    def meetings(self, match_ids: Sequence[int]) -> dict[int, Meeting]:
        """The planned meetings of these matches (those that have one), in one query per 10,000."""
        out: dict[int, Meeting] = {}
        for part in chunks(sorted(set(match_ids))):
            rows = self.session.scalars(select(MeetingRow).where(MeetingRow.match_id.in_(part)))
            out.update({r.match_id: _meeting(r) for r in rows})
        return out

    def plan_meeting(self, meeting: Meeting) -> Meeting:
        """Keep the planned meeting unless one is already kept; returns the kept one (a rerun reuses its slot)."""
        s = self.session
        s.execute(
            insert(s, MeetingRow)
            .values(
                match_id=meeting.match_id,
                event_id=meeting.event_id,
                start=meeting.start,
                end=meeting.end,
                video_link=meeting.video_link,
                link="",
                accessibility_needs=meeting.accessibility_needs,
            )
            .on_conflict_do_nothing(index_elements=["match_id"])
        )
        kept = s.scalars(
            select(MeetingRow).where(MeetingRow.match_id == meeting.match_id).execution_options(populate_existing=True)
        ).one()
        return _meeting(kept)

    def booked(
        self, emails: Sequence[str], start: datetime, end: datetime, excluding: int | None = None
    ) -> list[tuple[datetime, datetime]]:
        """The program's own first meetings (planned or scheduled, of matches still on) of these people that
        overlap ``[start, end)``: busy time whatever the calendar connector can tell."""
        people = sorted({e.lower() for e in emails})
        q = (
            select(MeetingRow.start, MeetingRow.end)
            .join(MatchRow, MatchRow.id == MeetingRow.match_id)
            .join(RequestRow, RequestRow.id == MatchRow.request_id)
            .where(
                MatchRow.active.is_(True),
                MeetingRow.start < end,
                MeetingRow.end > start,
                or_(MatchRow.mentor_email.in_(people), RequestRow.mentee_email.in_(people)),
            )
        )
        if excluding is not None:
            q = q.where(MeetingRow.match_id != excluding)
        return [(s, e) for s, e in self.session.execute(q).all()]

    def move_meeting(self, match_id: int, start: datetime, end: datetime) -> None:
        """Move the first meeting after a decline (and count the move)."""
        self.session.execute(
            update(MeetingRow)
            .where(MeetingRow.match_id == match_id)
            .values(start=start, end=end, reschedules=MeetingRow.reschedules + 1)
        )

    def reschedules(self, match_id: int) -> int:
        """How often the first meeting was moved after a decline."""
        return int(self.session.scalar(select(MeetingRow.reschedules).where(MeetingRow.match_id == match_id)) or 0)

    def set_video_link(self, match_id: int, link: str) -> None:
        self.session.execute(update(MeetingRow).where(MeetingRow.match_id == match_id).values(video_link=link))

    def mark_scheduled(self, match_id: int, link: str, now: datetime) -> None:
        """The invitations are out: the request becomes scheduled (idempotent)."""
        s = self.session
        meeting = s.get(MeetingRow, match_id)
        m = s.get(MatchRow, match_id)
        if meeting is None or m is None:
            raise KeyError(f"no planned meeting for match {match_id}")
        meeting.link = link or meeting.link
        row = s.get(RequestRow, m.request_id)
        assert row is not None
        if row.status == RequestStatus.APPROVED.value:
            frm = row.status
            apply_transition(row, RequestStatus.SCHEDULED, now)
            note = f"first meeting {meeting.start.isoformat()}"
            s.add(RequestEventRow(**event_row(row.id, frm, RequestStatus.SCHEDULED.value, "invite", note, now)))

    def _meetings(self, statuses: Sequence[str], after: datetime | None = None) -> list[Meeting]:
        q = (
            select(MeetingRow)
            .join(MatchRow, MatchRow.id == MeetingRow.match_id)
            .join(RequestRow, RequestRow.id == MatchRow.request_id)
            .where(MatchRow.active.is_(True), RequestRow.status.in_(statuses))
            .order_by(MeetingRow.match_id)
        )
        if after is not None:
            q = q.where(MeetingRow.start > after)
        return [_meeting(r) for r in self.session.scalars(q).all()]

    def meetings_in_followup(self) -> list[Meeting]:
        """Meetings of active matches whose request is scheduled or met (not yet completed)."""
        return self._meetings(_IN_FOLLOWUP)

    def upcoming_meetings(self, now: datetime) -> list[Meeting]:
        """Scheduled first meetings that have not happened yet."""
        return self._meetings([RequestStatus.SCHEDULED.value], after=now)

    def meetings_held(self, since: datetime, until: datetime) -> int:
        """First meetings that took place in the period (by their date), as the surveys confirmed."""
        held = (
            select(func.count())
            .select_from(MeetingRow)
            .join(MatchRow, MatchRow.id == MeetingRow.match_id)
            .join(RequestRow, RequestRow.id == MatchRow.request_id)
            .where(
                MeetingRow.start >= since,
                MeetingRow.start < until,
                RequestRow.status.in_([RequestStatus.MET.value, RequestStatus.COMPLETED.value]),
            )
        )
        return int(self.session.scalar(held) or 0)

    # --- proposals (lead approval) ---------------------------------------------------------------

    def save_proposal(self, result: MatchResult, flow_run_id: str, now: datetime) -> int:
        """Keep a batch for the lead; an older batch still waiting is superseded (its requests are in this one)."""
        s = self.session
        s.execute(update(ProposalRow).where(ProposalRow.status == "waiting").values(status="superseded"))
        data = result.model_dump(mode="json")
        row = ProposalRow(flow_run_id=flow_run_id, created_at=now, data=data, status="waiting")
        s.add(row)
        s.flush()
        return row.id

    def supersede_waiting(self) -> list[str]:
        """Retire every batch still waiting (a later match run re-planned its requests); their flow run ids."""
        s = self.session
        runs = list(s.scalars(select(ProposalRow.flow_run_id).where(ProposalRow.status == "waiting")).all())
        s.execute(update(ProposalRow).where(ProposalRow.status == "waiting").values(status="superseded"))
        return runs

    def waiting_proposals(self) -> list[WaitingProposal]:
        rows = self.session.scalars(select(ProposalRow).where(ProposalRow.status == "waiting").order_by(ProposalRow.id))
        return [
            WaitingProposal(
                id=r.id, flow_run_id=r.flow_run_id, created_at=r.created_at, result=MatchResult.model_validate(r.data)
            )
            for r in rows.all()
        ]

    def proposal_status_of_run(self, flow_run_id: str) -> str | None:
        """The status of the batch a flow run saved for the lead (waiting, decided, superseded), or None."""
        return self.session.scalar(
            select(ProposalRow.status).where(ProposalRow.flow_run_id == flow_run_id).order_by(ProposalRow.id.desc())
        )

    def close_proposal(self, proposal_id: int, decision: dict[str, Any], now: datetime) -> bool:
        """Mark a waiting batch decided; False if it was already decided or superseded (decide once)."""
        n = self.session.execute(
            update(ProposalRow)
            .where(ProposalRow.id == proposal_id, ProposalRow.status == "waiting")
            .values(status="decided", decided_at=now, decision=decision)
        ).rowcount  # type: ignore[attr-defined]
        return bool(n)

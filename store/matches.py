"""Matches, their first meetings, and the batches of proposals waiting for the lead."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from domain.models import Match, MatchResult, Meeting, ProposedMatch, RequestStatus, WeeklyWindow
from store.requests import apply_transition, event_row
from store.sql import chunks, insert
from store.tables import MatchRow, MeetingRow, ProposalRow, RequestEventRow, RequestRow


class WaitingProposal(BaseModel):
    id: int
    flow_run_id: str
    created_at: datetime
    result: MatchResult


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
        chosen = [p for rid, p in wanted.items() if rid in pending]
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

    def end(self, match_id: int, reason: str, actor: str, now: datetime) -> bool:
        """A declined or cancelled match frees the mentor and sends the mentee back to the waitlist.

        The mentee keeps their place (waiting time is not reset) and this mentor counts as already had.
        """
        s = self.session
        m = s.get(MatchRow, match_id, with_for_update=True)
        if m is None or not m.active:
            return False
        m.active, m.ended_reason = False, reason
        row = s.get(RequestRow, m.request_id)
        if row is not None and row.status in {RequestStatus.APPROVED.value, RequestStatus.SCHEDULED.value}:
            frm = row.status
            apply_transition(row, RequestStatus.PENDING, now)
            s.add(RequestEventRow(**event_row(row.id, frm, RequestStatus.PENDING.value, actor, reason, now)))
        return True

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

    def made(self, since: datetime, until: datetime) -> list[Match]:
        rows = self.session.scalars(select(MatchRow).where(MatchRow.created_at >= since, MatchRow.created_at < until))
        return [_match(r) for r in rows.all()]

    def mentor_load(self) -> dict[str, int]:
        """Mentor email → active matches whose request is still open."""
        rows = self.session.execute(
            select(MatchRow.mentor_email, func.count())
            .join(RequestRow, RequestRow.id == MatchRow.request_id)
            .where(MatchRow.active.is_(True), RequestRow.is_open.is_(True))
            .group_by(MatchRow.mentor_email)
        ).all()
        return {email: int(n) for email, n in rows}

    def to_invite(self) -> list[int]:
        """Active matches whose request is approved (no invitations out yet)."""
        return list(
            self.session.scalars(
                select(MatchRow.id)
                .join(RequestRow, RequestRow.id == MatchRow.request_id)
                .where(MatchRow.active.is_(True), RequestRow.status == RequestStatus.APPROVED.value)
                .order_by(MatchRow.id)
            ).all()
        )

    # --- meetings --------------------------------------------------------------------------------

    def meeting(self, match_id: int) -> Meeting | None:
        row = self.session.get(MeetingRow, match_id, populate_existing=True)
        return _meeting(row) if row is not None else None

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

    def move_meeting(self, match_id: int, start: datetime, end: datetime) -> None:
        self.session.execute(update(MeetingRow).where(MeetingRow.match_id == match_id).values(start=start, end=end))

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

    def waiting_proposals(self) -> list[WaitingProposal]:
        rows = self.session.scalars(
            select(ProposalRow).where(ProposalRow.status == "waiting").order_by(ProposalRow.id)
        )
        return [
            WaitingProposal(
                id=r.id, flow_run_id=r.flow_run_id, created_at=r.created_at, result=MatchResult.model_validate(r.data)
            )
            for r in rows.all()
        ]

    def close_proposal(self, proposal_id: int, decision: dict[str, Any], now: datetime) -> bool:
        """Mark a waiting batch decided; False if it was already decided or superseded (decide once)."""
        n = self.session.execute(
            update(ProposalRow)
            .where(ProposalRow.id == proposal_id, ProposalRow.status == "waiting")
            .values(status="decided", decided_at=now, decision=decision)
        ).rowcount  # type: ignore[attr-defined]
        return bool(n)

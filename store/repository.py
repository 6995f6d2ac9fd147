"""The program's source of truth: every read and write the flows need, as short transactions."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from domain.models import (
    OPEN_STATUSES,
    FollowupFlag,
    Match,
    MatchResult,
    Meeting,
    MenteeApplication,
    Mentor,
    MentoringRequest,
    ProposedMatch,
    RequestStatus,
    SetAside,
    StatusChange,
    SurveyAnswer,
    Unmatched,
    WeeklyWindow,
    check_transition,
)
from store.db import engine_for, migrate
from store.tables import (
    DigestRow,
    FlagRow,
    LedgerRow,
    MatchRow,
    MeetingRow,
    MentorRow,
    Meta,
    ProposalRow,
    RequestEventRow,
    RequestRow,
    SetAsideRow,
    SurveyAnswerRow,
    WatermarkRow,
)

Upsert = Literal["created", "updated", "unchanged"]


class LedgerEntry(BaseModel):
    key: str
    kind: str
    status: Literal["pending", "done", "failed", "uncertain"]
    attempts: int
    provider_ref: str
    error: str
    updated_at: datetime


class SetAsideView(BaseModel):
    kind: str
    source: str
    ref: str
    reasons: list[str]
    last_seen_at: datetime


class WaitingProposal(BaseModel):
    id: int
    flow_run_id: str
    created_at: datetime
    result: MatchResult


class StatusReport(BaseModel):
    """What ``mentorflow status`` and the lead's report show."""

    requests_by_status: dict[str, int]
    mentors_active: int
    mentors_paused: int
    set_aside: list[SetAsideView]
    waiting: list[tuple[int, str]]
    flags: list[FollowupFlag]
    ledger_by_status: dict[str, int]
    uncertain_keys: list[str]
    failed_keys: list[tuple[str, str]]
    digests: int


class Store:
    """SQLAlchemy store on SQLite (default) or PostgreSQL. Create with :meth:`open` to migrate first."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._sessions = sessionmaker(engine_for(url), expire_on_commit=False)

    @classmethod
    def open(cls, url: str) -> Store:
        migrate(url)
        return cls(url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as s:
            yield s

    # --- installation -------------------------------------------------------------------------------

    def install_id(self) -> str:
        """A random id made once per database; salts deterministic external ids (calendar events)."""
        with self.session() as s:
            row = s.get(Meta, "install_id")
            if row is not None:
                return row.value
        try:
            with self.session() as s:
                s.add(Meta(key="install_id", value=secrets.token_hex(8)))
        except IntegrityError:
            pass  # another process made it first
        with self.session() as s:
            row = s.get(Meta, "install_id")
            assert row is not None
            return row.value

    # --- intake -------------------------------------------------------------------------------------

    def watermark(self, source: str) -> str | None:
        with self.session() as s:
            row = s.get(WatermarkRow, source)
            return row.value if row else None

    def set_watermark(self, source: str, value: str, now: datetime) -> None:
        with self.session() as s:
            row = s.get(WatermarkRow, source)
            if row is None:
                s.add(WatermarkRow(source=source, value=value, updated_at=now))
            else:
                row.value, row.updated_at = value, now

    def upsert_application(self, app: MenteeApplication, now: datetime) -> Upsert:
        """A new mentee opens a request; a later answer by the same email updates the open one."""
        email = str(app.email).lower()
        data = app.model_dump(mode="json")
        with self.session() as s:
            row = s.scalars(
                select(RequestRow).where(RequestRow.mentee_email == email, RequestRow.is_open.is_(True))
            ).one_or_none()
            if row is None:
                row = RequestRow(
                    mentee_email=email,
                    is_open=True,
                    status=RequestStatus.PENDING.value,
                    application=data,
                    response_id=app.response_id,
                    created_at=now,
                    updated_at=now,
                    waiting_since=now,
                    wait_reason="",
                )
                s.add(row)
                s.flush()
                s.add(
                    RequestEventRow(
                        request_id=row.id,
                        at=now,
                        from_status=None,
                        to_status=row.status,
                        actor="intake",
                        note="application received",
                    )
                )
                return "created"
            current = MenteeApplication.model_validate(row.application)
            if app.submitted_at < current.submitted_at or data == row.application:
                return "unchanged"  # an older copy of the answer, or the same one read again
            row.application, row.response_id, row.updated_at = data, app.response_id, now
            s.add(
                RequestEventRow(
                    request_id=row.id,
                    at=now,
                    from_status=row.status,
                    to_status=row.status,
                    actor="intake",
                    note="application updated by a later answer",
                )
            )
            return "updated"

    def record_set_aside(self, items: list[SetAside], kind: str, now: datetime) -> int:
        """Keep each distinct problem once (re-reading the same bad row only refreshes last_seen)."""
        new = 0
        with self.session() as s:
            for item in items:
                fp = hashlib.sha256(
                    json.dumps([kind, item.source, item.ref, item.reasons], ensure_ascii=False).encode()
                ).hexdigest()
                row = s.scalars(select(SetAsideRow).where(SetAsideRow.fingerprint == fp)).one_or_none()
                if row is None:
                    s.add(
                        SetAsideRow(
                            fingerprint=fp,
                            kind=kind,
                            source=item.source,
                            ref=item.ref,
                            reasons=item.reasons,
                            first_seen_at=now,
                            last_seen_at=now,
                        )
                    )
                    new += 1
                else:
                    row.last_seen_at = now
        return new

    def sync_roster(self, mentors: list[Mentor], now: datetime) -> tuple[int, int]:
        """Insert new mentors and update changed ones; returns (added, updated). Absent ones are kept."""
        added = updated = 0
        with self.session() as s:
            for m in mentors:
                email = str(m.email).lower()
                data = m.model_dump(mode="json")
                row = s.get(MentorRow, email)
                if row is None:
                    s.add(MentorRow(email=email, data=data, active=m.active, first_seen_at=now, updated_at=now))
                    added += 1
                elif row.data != data:
                    row.data, row.active, row.updated_at = data, m.active, now
                    updated += 1
        return added, updated

    # --- requests -----------------------------------------------------------------------------------

    def _request(self, s: Session, row: RequestRow) -> MentoringRequest:
        events = s.scalars(
            select(RequestEventRow).where(RequestEventRow.request_id == row.id).order_by(RequestEventRow.id)
        ).all()
        previous = s.scalars(
            select(MatchRow.mentor_email)
            .where(MatchRow.request_id.in_(select(RequestRow.id).where(RequestRow.mentee_email == row.mentee_email)))
            .where(~((MatchRow.request_id == row.id) & MatchRow.active))
        ).all()
        return MentoringRequest(
            id=row.id,
            application=MenteeApplication.model_validate(row.application),
            status=RequestStatus(row.status),
            created_at=row.created_at,
            updated_at=row.updated_at,
            waiting_since=row.waiting_since,
            wait_reason=row.wait_reason,
            previous_mentors=sorted(set(previous)),
            timeline=[
                StatusChange(
                    at=e.at,
                    from_status=RequestStatus(e.from_status) if e.from_status else None,
                    to_status=RequestStatus(e.to_status),
                    actor=e.actor,
                    note=e.note,
                )
                for e in events
            ],
        )

    def request(self, request_id: int) -> MentoringRequest:
        with self.session() as s:
            row = s.get(RequestRow, request_id)
            if row is None:
                raise KeyError(f"no request {request_id}")
            return self._request(s, row)

    def applications_received(self, since: datetime, until: datetime) -> list[MenteeApplication]:
        with self.session() as s:
            rows = s.scalars(select(RequestRow).where(RequestRow.created_at >= since, RequestRow.created_at < until))
            return [MenteeApplication.model_validate(r.application) for r in rows.all()]

    def requests(self, status: RequestStatus | None = None) -> list[MentoringRequest]:
        with self.session() as s:
            q = select(RequestRow).order_by(RequestRow.id)
            if status is not None:
                q = q.where(RequestRow.status == status.value)
            return [self._request(s, r) for r in s.scalars(q).all()]

    def _transition(
        self, s: Session, row: RequestRow, new: RequestStatus, actor: str, note: str, now: datetime
    ) -> None:
        check_transition(RequestStatus(row.status), new)
        s.add(
            RequestEventRow(
                request_id=row.id, at=now, from_status=row.status, to_status=new.value, actor=actor, note=note
            )
        )
        row.status, row.updated_at = new.value, now
        row.is_open = new in OPEN_STATUSES

    def transition(self, request_id: int, new: RequestStatus, actor: str, note: str, now: datetime) -> None:
        """Move a request along its lifecycle, recording who and why."""
        with self.session() as s:
            row = s.get(RequestRow, request_id)
            if row is None:
                raise KeyError(f"no request {request_id}")
            self._transition(s, row, new, actor, note, now)

    # --- matching -----------------------------------------------------------------------------------

    def mentors(self, active_only: bool = False) -> list[Mentor]:
        with self.session() as s:
            q = select(MentorRow).order_by(MentorRow.email)
            if active_only:
                q = q.where(MentorRow.active.is_(True))
            return [Mentor.model_validate(r.data) for r in s.scalars(q).all()]

    def mentors_joined(self, since: datetime, until: datetime) -> list[Mentor]:
        with self.session() as s:
            rows = s.scalars(
                select(MentorRow).where(MentorRow.first_seen_at >= since, MentorRow.first_seen_at < until)
            ).all()
            return [Mentor.model_validate(r.data) for r in rows]

    def mentor_load(self) -> dict[str, int]:
        """Mentor email → active matches whose request is still open."""
        with self.session() as s:
            rows = s.execute(
                select(MatchRow.mentor_email, func.count())
                .join(RequestRow, RequestRow.id == MatchRow.request_id)
                .where(MatchRow.active.is_(True), RequestRow.is_open.is_(True))
                .group_by(MatchRow.mentor_email)
            ).all()
            return {email: int(n) for email, n in rows}

    def approve_matches(self, proposals: list[ProposedMatch], actor: str, now: datetime) -> list[int]:
        """Record approved matches (request → approved); a request already matched is left alone."""
        ids: list[int] = []
        with self.session() as s:
            for p in proposals:
                row = s.get(RequestRow, p.request_id)
                if row is None or row.status != RequestStatus.PENDING.value:
                    continue
                match = MatchRow(
                    request_id=p.request_id,
                    mentor_email=str(p.mentor_email).lower(),
                    score=p.score,
                    reasons=p.reasons,
                    breakdown=p.breakdown.model_dump(),
                    shared_windows=[w.model_dump(mode="json") for w in p.shared_windows],
                    created_at=now,
                    active=True,
                    ended_reason="",
                )
                s.add(match)
                s.flush()
                self._transition(s, row, RequestStatus.APPROVED, actor, "; ".join(p.reasons), now)
                row.wait_reason = ""
                ids.append(match.id)
        return ids

    def reject_proposal(self, request_id: int, actor: str, note: str, now: datetime) -> None:
        """The lead turned a proposal down: the request keeps waiting, with the lead's note as reason."""
        with self.session() as s:
            row = s.get(RequestRow, request_id)
            if row is not None and row.status == RequestStatus.PENDING.value:
                row.wait_reason = f"proposal rejected by the lead: {note}" if note else "proposal rejected by the lead"
                row.updated_at = now

    def record_waitlist(self, waiting: list[Unmatched], now: datetime) -> None:
        with self.session() as s:
            for w in waiting:
                row = s.get(RequestRow, w.request_id)
                if row is not None and row.status == RequestStatus.PENDING.value:
                    row.wait_reason, row.updated_at = w.reason, now

    def end_match(self, match_id: int, reason: str, actor: str, now: datetime) -> bool:
        """A declined or cancelled match frees the mentor and sends the mentee back to the waitlist.

        The mentee keeps their place (waiting time is not reset) and this mentor counts as already had.
        """
        with self.session() as s:
            m = s.get(MatchRow, match_id)
            if m is None or not m.active:
                return False
            m.active, m.ended_reason = False, reason
            row = s.get(RequestRow, m.request_id)
            if row is not None and row.status in {RequestStatus.APPROVED.value, RequestStatus.SCHEDULED.value}:
                self._transition(s, row, RequestStatus.PENDING, actor, reason, now)
            return True

    @staticmethod
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

    def match(self, match_id: int) -> Match:
        with self.session() as s:
            row = s.get(MatchRow, match_id)
            if row is None:
                raise KeyError(f"no match {match_id}")
            return self._match(row)

    def matches_made(self, since: datetime, until: datetime) -> list[Match]:
        with self.session() as s:
            rows = s.scalars(select(MatchRow).where(MatchRow.created_at >= since, MatchRow.created_at < until)).all()
            return [self._match(r) for r in rows]

    # --- invites ------------------------------------------------------------------------------------

    def matches_to_invite(self) -> list[int]:
        """Active matches whose request is approved (no meeting recorded yet)."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(MatchRow.id)
                    .join(RequestRow, RequestRow.id == MatchRow.request_id)
                    .where(MatchRow.active.is_(True), RequestRow.status == RequestStatus.APPROVED.value)
                    .order_by(MatchRow.id)
                ).all()
            )

    def meeting(self, match_id: int) -> Meeting | None:
        with self.session() as s:
            row = s.get(MeetingRow, match_id)
            if row is None:
                return None
            return Meeting(
                match_id=row.match_id,
                start=row.start,
                end=row.end,
                event_id=row.event_id,
                video_link=row.video_link,
                accessibility_needs=row.accessibility_needs,
            )

    def plan_meeting(self, meeting: Meeting) -> Meeting:
        """Keep the planned meeting unless one is already kept; returns the kept one (a rerun reuses its slot)."""
        with self.session() as s:
            if s.get(MeetingRow, meeting.match_id) is None:
                s.add(
                    MeetingRow(
                        match_id=meeting.match_id,
                        event_id=meeting.event_id,
                        start=meeting.start,
                        end=meeting.end,
                        video_link=meeting.video_link,
                        link="",
                        accessibility_needs=meeting.accessibility_needs,
                    )
                )
        kept = self.meeting(meeting.match_id)
        assert kept is not None
        return kept

    def move_meeting(self, match_id: int, start: datetime, end: datetime) -> None:
        with self.session() as s:
            row = s.get(MeetingRow, match_id)
            if row is not None:
                row.start, row.end = start, end

    def upcoming_meetings(self, now: datetime) -> list[Meeting]:
        """Scheduled first meetings that have not happened yet."""
        return [m for m in self.meetings_in_followup() if m.start > now
                and self.request_of_match(m.match_id).status is RequestStatus.SCHEDULED]

    def set_video_link(self, match_id: int, link: str) -> None:
        with self.session() as s:
            row = s.get(MeetingRow, match_id)
            if row is not None:
                row.video_link = link

    def mark_scheduled(self, match_id: int, link: str, now: datetime) -> None:
        """The invitations are out: the request becomes scheduled (idempotent)."""
        with self.session() as s:
            meeting = s.get(MeetingRow, match_id)
            m = s.get(MatchRow, match_id)
            if meeting is None or m is None:
                raise KeyError(f"no planned meeting for match {match_id}")
            meeting.link = link or meeting.link
            row = s.get(RequestRow, m.request_id)
            assert row is not None
            if row.status == RequestStatus.APPROVED.value:
                self._transition(
                    s, row, RequestStatus.SCHEDULED, "invite", f"first meeting {meeting.start.isoformat()}", now
                )

    def mentor(self, email: str) -> Mentor:
        with self.session() as s:
            row = s.get(MentorRow, email.lower())
            if row is None:
                raise KeyError("no such mentor")
            return Mentor.model_validate(row.data)

    # --- follow-up ----------------------------------------------------------------------------------

    def meetings_in_followup(self) -> list[Meeting]:
        """Meetings of active matches whose request is scheduled or met (not yet completed)."""
        with self.session() as s:
            rows = s.scalars(
                select(MeetingRow)
                .join(MatchRow, MatchRow.id == MeetingRow.match_id)
                .join(RequestRow, RequestRow.id == MatchRow.request_id)
                .where(
                    MatchRow.active.is_(True),
                    RequestRow.status.in_([RequestStatus.SCHEDULED.value, RequestStatus.MET.value]),
                )
                .order_by(MeetingRow.match_id)
            ).all()
            return [
                Meeting(
                    match_id=r.match_id,
                    start=r.start,
                    end=r.end,
                    event_id=r.event_id,
                    video_link=r.video_link,
                    accessibility_needs=r.accessibility_needs,
                )
                for r in rows
            ]

    def add_survey_answers(self, answers: list[SurveyAnswer]) -> int:
        """Keep each (match, role)'s newest answer; returns how many were new or newer."""
        changed = 0
        with self.session() as s:
            for a in answers:
                if s.get(MatchRow, a.match_id) is None:
                    continue
                row = s.scalars(
                    select(SurveyAnswerRow).where(
                        SurveyAnswerRow.match_id == a.match_id, SurveyAnswerRow.role == a.role.value
                    )
                ).one_or_none()
                if row is None:
                    s.add(
                        SurveyAnswerRow(
                            match_id=a.match_id,
                            role=a.role.value,
                            submitted_at=a.submitted_at,
                            data=a.model_dump(mode="json"),
                        )
                    )
                    changed += 1
                elif a.submitted_at > row.submitted_at:
                    row.submitted_at, row.data = a.submitted_at, a.model_dump(mode="json")
                    changed += 1
        return changed

    def survey_answers(self, since: datetime | None = None, until: datetime | None = None) -> list[SurveyAnswer]:
        with self.session() as s:
            q = select(SurveyAnswerRow).order_by(SurveyAnswerRow.id)
            if since is not None:
                q = q.where(SurveyAnswerRow.submitted_at >= since)
            if until is not None:
                q = q.where(SurveyAnswerRow.submitted_at < until)
            return [SurveyAnswer.model_validate(r.data) for r in s.scalars(q).all()]

    def record_flags(self, flags: list[FollowupFlag], now: datetime) -> list[FollowupFlag]:
        """Keep each (match, kind) flag once; returns the ones that are new."""
        new: list[FollowupFlag] = []
        with self.session() as s:
            for f in flags:
                exists = s.scalars(
                    select(FlagRow).where(FlagRow.match_id == f.match_id, FlagRow.kind == f.kind)
                ).one_or_none()
                if exists is None:
                    s.add(FlagRow(match_id=f.match_id, kind=f.kind, detail=f.detail, created_at=now))
                    new.append(f)
        return new

    def flags(self) -> list[FollowupFlag]:
        with self.session() as s:
            return [
                FollowupFlag(match_id=r.match_id, kind=r.kind, detail=r.detail)  # type: ignore[arg-type]
                for r in s.scalars(select(FlagRow).order_by(FlagRow.id)).all()
            ]

    def request_of_match(self, match_id: int) -> MentoringRequest:
        with self.session() as s:
            m = s.get(MatchRow, match_id)
            if m is None:
                raise KeyError(f"no match {match_id}")
            row = s.get(RequestRow, m.request_id)
            assert row is not None
            return self._request(s, row)

    def meetings_held(self, since: datetime, until: datetime) -> int:
        """First meetings that took place in the period (by their date), as the surveys confirmed."""
        with self.session() as s:
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
            return int(s.scalar(held) or 0)

    def last_digest_end(self) -> datetime | None:
        with self.session() as s:
            return s.scalar(select(func.max(DigestRow.period_end)))

    def record_digest(
        self,
        period_start: datetime,
        period_end: datetime,
        language: str,
        data: dict[str, object],
        location: str,
        now: datetime,
    ) -> None:
        with self.session() as s:
            if (
                s.scalars(
                    select(DigestRow.id).where(
                        DigestRow.period_start == period_start, DigestRow.period_end == period_end
                    )
                ).first()
                is None
            ):
                s.add(
                    DigestRow(
                        period_start=period_start,
                        period_end=period_end,
                        language=language,
                        created_at=now,
                        data=data,
                        location=location,
                    )
                )

    # --- ledger -------------------------------------------------------------------------------------

    @staticmethod
    def _entry(row: LedgerRow) -> LedgerEntry:
        return LedgerEntry(
            key=row.key,
            kind=row.kind,
            status=row.status,
            attempts=row.attempts,  # type: ignore[arg-type]
            provider_ref=row.provider_ref,
            error=row.error,
            updated_at=row.updated_at,
        )

    def ledger(self, key: str) -> LedgerEntry | None:
        with self.session() as s:
            row = s.get(LedgerRow, key)
            return self._entry(row) if row else None

    def ledger_begin(self, key: str, kind: str, now: datetime) -> LedgerEntry:
        """Record the intent (or a new attempt) before the side effect; returns the entry as it was."""
        with self.session() as s:
            row = s.get(LedgerRow, key, with_for_update=True)
            if row is None:
                row = LedgerRow(
                    key=key,
                    kind=kind,
                    status="pending",
                    attempts=1,
                    created_at=now,
                    updated_at=now,
                    provider_ref="",
                    error="",
                )
                s.add(row)
                return self._entry(row).model_copy(update={"attempts": 0})
            before = self._entry(row)
            if row.status in {"pending", "failed"}:
                row.status, row.attempts, row.updated_at = "pending", row.attempts + 1, now
            return before

    def ledger_finish(
        self,
        key: str,
        status: Literal["done", "failed", "uncertain", "pending"],
        now: datetime,
        provider_ref: str = "",
        error: str = "",
    ) -> None:
        with self.session() as s:
            row = s.get(LedgerRow, key)
            assert row is not None
            row.status, row.updated_at = status, now
            if provider_ref:
                row.provider_ref = provider_ref
            row.error = error

    def ledger_release(self, key: str, now: datetime) -> bool:
        """The lead checked an uncertain side effect did not happen: allow one more attempt."""
        with self.session() as s:
            n = s.execute(
                update(LedgerRow)
                .where(LedgerRow.key == key, LedgerRow.status == "uncertain")
                .values(status="failed", updated_at=now, error="released by the lead")
            ).rowcount  # type: ignore[attr-defined]
            return bool(n)

    def ledger_entries(self, prefix: str, status: str = "done") -> list[LedgerEntry]:
        with self.session() as s:
            rows = s.scalars(select(LedgerRow).where(LedgerRow.key.startswith(prefix), LedgerRow.status == status))
            return [self._entry(r) for r in rows.all()]

    def ledger_keys(self, prefix: str, status: str = "done") -> set[str]:
        with self.session() as s:
            return set(
                s.scalars(
                    select(LedgerRow.key).where(LedgerRow.key.startswith(prefix), LedgerRow.status == status)
                ).all()
            )

    # --- proposals (lead approval) ------------------------------------------------------------------

    def save_proposal(self, result: MatchResult, flow_run_id: str, now: datetime) -> int:
        """Keep a batch for the lead; an older batch still waiting is superseded (its requests are in this one)."""
        with self.session() as s:
            for old in s.scalars(select(ProposalRow).where(ProposalRow.status == "waiting")).all():
                old.status = "superseded"
            row = ProposalRow(
                flow_run_id=flow_run_id, created_at=now, data=result.model_dump(mode="json"), status="waiting"
            )
            s.add(row)
            s.flush()
            return row.id

    def waiting_proposals(self) -> list[WaitingProposal]:
        with self.session() as s:
            rows = s.scalars(select(ProposalRow).where(ProposalRow.status == "waiting").order_by(ProposalRow.id))
            return [
                WaitingProposal(
                    id=r.id,
                    flow_run_id=r.flow_run_id,
                    created_at=r.created_at,
                    result=MatchResult.model_validate(r.data),
                )
                for r in rows.all()
            ]

    def close_proposal(self, proposal_id: int, decision: dict[str, object], now: datetime) -> bool:
        """Mark a waiting batch decided; False if it was already decided or superseded (decide once)."""
        with self.session() as s:
            n = s.execute(
                update(ProposalRow)
                .where(ProposalRow.id == proposal_id, ProposalRow.status == "waiting")
                .values(status="decided", decided_at=now, decision=decision)
            ).rowcount  # type: ignore[attr-defined]
            return bool(n)

    # --- status -------------------------------------------------------------------------------------

    def status_report(self) -> StatusReport:
        with self.session() as s:
            by_status: dict[str, int] = {
                status: int(n)
                for status, n in s.execute(select(RequestRow.status, func.count()).group_by(RequestRow.status)).all()
            }
            active = s.scalar(select(func.count()).select_from(MentorRow).where(MentorRow.active.is_(True))) or 0
            paused = s.scalar(select(func.count()).select_from(MentorRow).where(MentorRow.active.is_(False))) or 0
            set_aside = [
                SetAsideView(
                    kind=r.kind, source=r.source, ref=r.ref, reasons=list(r.reasons), last_seen_at=r.last_seen_at
                )
                for r in s.scalars(select(SetAsideRow).order_by(SetAsideRow.id)).all()
            ]
            waiting = [
                (r.id, r.wait_reason or "not matched yet")
                for r in s.scalars(
                    select(RequestRow).where(RequestRow.status == RequestStatus.PENDING.value).order_by(RequestRow.id)
                )
            ]
            ledger: dict[str, int] = {
                status: int(n)
                for status, n in s.execute(select(LedgerRow.status, func.count()).group_by(LedgerRow.status)).all()
            }
            uncertain = list(s.scalars(select(LedgerRow.key).where(LedgerRow.status == "uncertain")).all())
            failed = [(r.key, r.error) for r in s.scalars(select(LedgerRow).where(LedgerRow.status == "failed"))]
            digests = s.scalar(select(func.count()).select_from(DigestRow)) or 0
        return StatusReport(
            requests_by_status={st.value: int(by_status.get(st.value, 0)) for st in RequestStatus},
            mentors_active=int(active),
            mentors_paused=int(paused),
            set_aside=set_aside,
            waiting=waiting,
            flags=self.flags(),
            ledger_by_status={k: int(v) for k, v in ledger.items()},
            uncertain_keys=uncertain,
            failed_keys=failed,
            digests=int(digests),
        )

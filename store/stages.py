"""Set-based counts that tell which pipeline stages have anything to do (:mod:`domain.pipeline`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from domain.followup import DID_NOT_MEET
from domain.models import RequestStatus
from store.matches import MatchRepository
from store.tables import LedgerRow, MatchRow, MeetingRow, MentorRow, ProposalRow, RequestRow, SurveySentRow

_IN_FOLLOWUP = (RequestStatus.SCHEDULED.value, RequestStatus.MET.value)


class StageCountRepository:
    """Counts only: each is one ``SELECT count(*)``, whatever the program's size."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _count(self, query: Select[tuple[int]]) -> int:
        return int(self.session.scalar(query) or 0)

    def pending_requests(self) -> int:
        return self._count(
            select(func.count()).select_from(RequestRow).where(RequestRow.status == RequestStatus.PENDING.value)
        )

    def waiting_batches(self) -> int:
        return self._count(select(func.count()).select_from(ProposalRow).where(ProposalRow.status == "waiting"))

    def matches_to_invite(self) -> int:
        """As :meth:`store.matches.MatchRepository.to_invite`, counted."""
        return self._count(
            select(func.count())
            .select_from(MatchRow)
            .join(RequestRow, RequestRow.id == MatchRow.request_id)
            .join(MentorRow, MentorRow.email == MatchRow.mentor_email)
            .where(
                MatchRow.active.is_(True),
                RequestRow.status == RequestStatus.APPROVED.value,
                MentorRow.active.is_(True),
            )
        )

    def _meetings(self, statuses: tuple[str, ...]) -> Select[tuple[int]]:
        """Meetings of active matches whose request is in ``statuses`` (as ``MatchRepository._meetings``)."""
        return (
            select(func.count())
            .select_from(MeetingRow)
            .join(MatchRow, MatchRow.id == MeetingRow.match_id)
            .join(RequestRow, RequestRow.id == MatchRow.request_id)
            .where(MatchRow.active.is_(True), RequestRow.status.in_(statuses))
        )

    def upcoming_meetings(self, now: datetime) -> int:
        """Scheduled first meetings still ahead (booking-link placeholders included: an over-count only)."""
        return self._count(self._meetings((RequestStatus.SCHEDULED.value,)).where(MeetingRow.start > now))

    def started_meetings(self, now: datetime) -> int:
        """Meetings in follow-up whose start has come."""
        return self._count(self._meetings(_IN_FOLLOWUP).where(MeetingRow.start <= now))

    def followup_surveys_sent(self) -> int:
        """Surveys and reminders sent for matches still in follow-up."""
        return self._count(
            select(func.count())
            .select_from(SurveySentRow)
            .join(MatchRow, MatchRow.id == SurveySentRow.match_id)
            .join(RequestRow, RequestRow.id == MatchRow.request_id)
            .where(MatchRow.active.is_(True), RequestRow.status.in_(_IN_FOLLOWUP))
        )

    def unfinished_no_show_endings(self) -> int:
        """No-show endings not finished (:meth:`store.matches.MatchRepository.unfinished_endings`): follow-up
        finishes them."""
        return len(MatchRepository(self.session).unfinished_endings(DID_NOT_MEET))

    def ledger_count(self, prefix: str, status: str) -> int:
        return self._count(
            select(func.count())
            .select_from(LedgerRow)
            .where(LedgerRow.key.startswith(prefix), LedgerRow.status == status)
        )

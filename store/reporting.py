"""Read models over every aggregate: what ``mentorflow status``, the lead's report and the demo show."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.models import FollowupFlag, RequestStatus
from domain.topics import LineMapping, PhraseCount, mapping_report
from store.tables import DigestRow, FlagRow, LedgerRow, MentorRow, RequestRow, SetAsideRow


class SetAsideView(BaseModel):
    kind: str
    source: str
    ref: str
    reasons: list[str]
    last_seen_at: datetime
    person_known: bool = False  # the answer's email could be read (the program can ask the person to fix it)


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
    unmapped_phrases: list[PhraseCount] = Field(
        default_factory=list, description="active mentors' phrases mapped to no topic, most used first"
    )


class ReportingRepository:
    """Counts and summaries, read in a fixed number of queries. Read-only."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def ledger_counts(self, prefixes: list[str], status: str = "done") -> dict[str, int]:
        """How many ledger entries of ``status`` start with each prefix (one query)."""
        s = self.session
        counts = dict.fromkeys(prefixes, 0)
        for key in s.scalars(select(LedgerRow.key).where(LedgerRow.status == status)):
            for p in prefixes:
                if key.startswith(p):
                    counts[p] += 1
        return counts

    def status_report(self) -> StatusReport:
        s = self.session
        by_status = {st: n for st, n in s.execute(select(RequestRow.status, func.count()).group_by(RequestRow.status))}
        mentors = {a: n for a, n in s.execute(select(MentorRow.active, func.count()).group_by(MentorRow.active))}
        set_aside = [
            SetAsideView(
                kind=r.kind,
                source=r.source,
                ref=r.ref,
                reasons=list(r.reasons),
                last_seen_at=r.last_seen_at,
                person_known=bool(r.person),
            )
            for r in s.scalars(
                select(SetAsideRow).where(SetAsideRow.resolved_at.is_(None)).order_by(SetAsideRow.id)
            ).all()
        ]
        waiting = [
            (rid, reason or "not matched yet")
            for rid, reason in s.execute(
                select(RequestRow.id, RequestRow.wait_reason)
                .where(RequestRow.status == RequestStatus.PENDING.value)
                .order_by(RequestRow.id)
            )
        ]
        ledger = {st: n for st, n in s.execute(select(LedgerRow.status, func.count()).group_by(LedgerRow.status))}
        problems = s.execute(
            select(LedgerRow.key, LedgerRow.status, LedgerRow.error).where(
                LedgerRow.status.in_(["uncertain", "failed"])
            )
        ).all()
        flags = [
            FollowupFlag(id=r.id, match_id=r.match_id, kind=r.kind, detail=r.detail)  # type: ignore[arg-type]
            for r in s.scalars(select(FlagRow).where(FlagRow.done_at.is_(None)).order_by(FlagRow.id)).all()
        ]
        # what the last roster import kept as free text: the same report as the import's artifact
        texts = s.scalars(select(MentorRow.data["expertise_text"]).where(MentorRow.active.is_(True)))
        unmapped = mapping_report(LineMapping(unmapped=t or []) for t in texts).unmapped
        return StatusReport(
            requests_by_status={st.value: int(by_status.get(st.value, 0)) for st in RequestStatus},
            mentors_active=int(mentors.get(True, 0)),
            mentors_paused=int(mentors.get(False, 0)),
            set_aside=set_aside,
            waiting=waiting,
            flags=flags,
            ledger_by_status={k: int(v) for k, v in ledger.items()},
            uncertain_keys=[k for k, st, _ in problems if st == "uncertain"],
            failed_keys=[(k, e) for k, st, e in problems if st == "failed"],
            digests=int(s.scalar(select(func.count()).select_from(DigestRow)) or 0),
            unmapped_phrases=unmapped,
        )

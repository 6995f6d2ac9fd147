"""Follow-up: survey answers and the flags raised for the lead."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from domain.followup import SurveySent
from domain.models import FollowupFlag, Role, SurveyAnswer
from store.sql import chunks, insert
from store.tables import FlagRow, MatchRow, SurveyAnswerRow, SurveySentRow


class FollowupRepository:
    """Survey answers (newest per match and side) and flags (once per match and kind). Never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add_survey_answers(self, answers: Sequence[SurveyAnswer]) -> int:
        """Keep each (match, role)'s newest answer; returns how many were new or newer. Answers of unknown
        matches are ignored."""
        s = self.session
        match_ids = sorted({a.match_id for a in answers})
        known: set[int] = set()
        kept: dict[tuple[int, str], datetime] = {}
        for part in chunks(match_ids):
            known.update(s.scalars(select(MatchRow.id).where(MatchRow.id.in_(part))))
            kept.update(
                ((m, r), at)
                for m, r, at in s.execute(
                    select(SurveyAnswerRow.match_id, SurveyAnswerRow.role, SurveyAnswerRow.submitted_at).where(
                        SurveyAnswerRow.match_id.in_(part)
                    )
                )
            )
        newest: dict[tuple[int, str], SurveyAnswer] = {}
        changed = 0
        for a in answers:
            key = (a.match_id, a.role.value)
            if a.match_id not in known or (key in kept and a.submitted_at <= kept[key]):
                continue
            kept[key], newest[key] = a.submitted_at, a
            changed += 1
        if newest:
            stmt = insert(s, SurveyAnswerRow)
            s.execute(
                stmt.on_conflict_do_update(
                    index_elements=["match_id", "role"],
                    set_={"submitted_at": stmt.excluded.submitted_at, "data": stmt.excluded.data},
                    where=SurveyAnswerRow.submitted_at < stmt.excluded.submitted_at,
                ),
                [
                    {"match_id": m, "role": r, "submitted_at": a.submitted_at, "data": a.model_dump(mode="json")}
                    for (m, r), a in newest.items()
                ],
            )
        return changed

    def record_sent(self, sent: Sequence[SurveySent]) -> None:
        """Keep that these surveys or reminders went out (the first time each is recorded wins)."""
        if sent:
            self.session.execute(
                insert(self.session, SurveySentRow).on_conflict_do_nothing(index_elements=["match_id", "role", "kind"]),
                [{"match_id": x.match_id, "role": x.role.value, "kind": x.kind, "sent_at": x.at} for x in sent],
            )

    def surveys_sent(self) -> list[SurveySent]:
        """Every survey and reminder that went out."""
        rows = self.session.scalars(select(SurveySentRow).order_by(SurveySentRow.id)).all()
        return [
            SurveySent(match_id=r.match_id, role=Role(r.role), kind=r.kind, at=r.sent_at)  # type: ignore[arg-type]
            for r in rows
        ]

    def survey_answers(self, since: datetime | None = None, until: datetime | None = None) -> list[SurveyAnswer]:
        q = select(SurveyAnswerRow.data).order_by(SurveyAnswerRow.id)
        if since is not None:
            q = q.where(SurveyAnswerRow.submitted_at >= since)
        if until is not None:
            q = q.where(SurveyAnswerRow.submitted_at < until)
        return [SurveyAnswer.model_validate(d) for d in self.session.scalars(q).all()]

    def record_flags(self, flags: Sequence[FollowupFlag], now: datetime) -> list[FollowupFlag]:
        """Keep each (match, kind) flag once; returns the ones that are new."""
        s = self.session
        seen: set[tuple[int, str]] = set()
        for part in chunks(sorted({f.match_id for f in flags})):
            seen.update(s.execute(select(FlagRow.match_id, FlagRow.kind).where(FlagRow.match_id.in_(part))).tuples())
        new: list[FollowupFlag] = []
        for f in flags:
            if (f.match_id, f.kind) not in seen:
                seen.add((f.match_id, f.kind))
                new.append(f)
        if new:
            s.execute(
                insert(s, FlagRow).on_conflict_do_nothing(index_elements=["match_id", "kind"]),
                [{"match_id": f.match_id, "kind": f.kind, "detail": f.detail, "created_at": now} for f in new],
            )
        return new

    def mark_flag_done(self, flag_id: int, now: datetime) -> bool:
        """The lead dealt with a flag: it leaves the status and the report, and is never raised again."""
        n = self.session.execute(
            update(FlagRow).where(FlagRow.id == flag_id, FlagRow.done_at.is_(None)).values(done_at=now)
        ).rowcount  # type: ignore[attr-defined]
        return bool(n)

    def flags(self) -> list[FollowupFlag]:
        return [
            FollowupFlag(match_id=r.match_id, kind=r.kind, detail=r.detail)  # type: ignore[arg-type]
            for r in self.session.scalars(select(FlagRow).order_by(FlagRow.id)).all()
        ]

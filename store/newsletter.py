"""The newsletter's own state: who left it (by opaque key) and the issues shown to the lead before sending."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.newsletter import Preview
from store.sql import insert
from store.tables import NewsletterPreviewRow, NewsletterUnsubscribeRow


class NewsletterRepository:
    """Unsubscribes and previews. Never commits: the caller's transaction does."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def unsubscribe(self, person: str, source: str, now: datetime) -> bool:
        """Record that ``person`` left the newsletter; False when they already had."""
        if self.session.get(NewsletterUnsubscribeRow, person) is not None:
            return False
        self.session.add(NewsletterUnsubscribeRow(person=person, at=now, source=source))
        self.session.flush()
        return True

    def unsubscribe_many(self, persons: Iterable[str], source: str, now: datetime) -> int:
        """Record that these people left the newsletter (one bulk insert); how many were new."""
        wanted = sorted(set(persons))
        if not wanted:
            return 0
        known = set(
            self.session.scalars(
                select(NewsletterUnsubscribeRow.person).where(NewsletterUnsubscribeRow.person.in_(wanted))
            )
        )
        rows = [{"person": p, "at": now, "source": source} for p in wanted if p not in known]
        if rows:
            stmt = insert(self.session, NewsletterUnsubscribeRow).on_conflict_do_nothing(index_elements=["person"])
            self.session.execute(stmt, rows)
        return len(rows)

    def unsubscribed(self) -> set[str]:
        return set(self.session.scalars(select(NewsletterUnsubscribeRow.person)).all())

    def _row(self, start: datetime, end: datetime) -> NewsletterPreviewRow | None:
        return self.session.scalars(
            select(NewsletterPreviewRow).where(
                NewsletterPreviewRow.period_start == start, NewsletterPreviewRow.period_end == end
            )
        ).one_or_none()

    def preview(self, start: datetime, end: datetime) -> Preview | None:
        row = self._row(start, end)
        return None if row is None else Preview.model_validate(row.data)

    def save_preview(self, preview: Preview) -> Preview:
        """Keep the period's preview; an existing one stands (a rerun does not recompose what the lead saw)."""
        row = self._row(preview.period_start, preview.period_end)
        if row is not None:
            return Preview.model_validate(row.data)
        self.session.add(
            NewsletterPreviewRow(
                period_start=preview.period_start,
                period_end=preview.period_end,
                status=preview.status,
                data=preview.model_dump(mode="json"),
            )
        )
        self.session.flush()
        return preview

    def waiting(self) -> Preview | None:
        """The oldest preview still waiting for the lead."""
        row = self.session.scalars(
            select(NewsletterPreviewRow)
            .where(NewsletterPreviewRow.status == "waiting")
            .order_by(NewsletterPreviewRow.period_start)
        ).first()
        return None if row is None else Preview.model_validate(row.data)

    def sent(self) -> list[Preview]:
        """The issues recorded as sent."""
        rows = self.session.scalars(select(NewsletterPreviewRow).where(NewsletterPreviewRow.status == "sent"))
        return [Preview.model_validate(row.data) for row in rows.all()]

    def update(self, preview: Preview) -> None:
        """Store the lead's approval or the final status of a preview."""
        row = self._row(preview.period_start, preview.period_end)
        if row is None:
            raise KeyError("no preview for that period")
        row.status, row.data = preview.status, preview.model_dump(mode="json")

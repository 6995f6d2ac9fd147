"""The newsletter issues made so far."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.sql import insert
from store.tables import DigestRow


class DigestRepository:
    """One row per digest period. Never commits: the unit of work does."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def last_end(self) -> datetime | None:
        """Where the newest issue's period ended (the next one starts there)."""
        return self.session.scalar(select(func.max(DigestRow.period_end)))

    def record(
        self,
        period_start: datetime,
        period_end: datetime,
        language: str,
        data: dict[str, Any],
        location: str,
        now: datetime,
    ) -> None:
        """Keep the issue of a period once (a rerun of the same period changes nothing)."""
        self.session.execute(
            insert(self.session, DigestRow)
            .values(
                period_start=period_start,
                period_end=period_end,
                language=language,
                created_at=now,
                data=data,
                location=location,
            )
            .on_conflict_do_nothing(index_elements=["period_start", "period_end"])
        )

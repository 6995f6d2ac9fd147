"""The mentor roster."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from domain.models import Mentor
from store.sql import chunks, insert
from store.tables import MentorRow


class RosterRepository:
    """Mentors by key (``Mentor.key``: lower-case email, or booking:<link>; kept in the ``email`` column).

    Never commits: the unit of work does.
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def sync(self, mentors: Sequence[Mentor], now: datetime) -> tuple[int, int]:
        """Insert new mentors and update changed ones, in bulk; returns (added, updated). Absent ones are kept."""
        incoming = {m.key: m for m in mentors}  # the last record of a key wins
        known: dict[str, object] = {}
        for part in chunks(sorted(incoming)):
            rows = self.session.execute(select(MentorRow.email, MentorRow.data).where(MentorRow.email.in_(part)))
            known.update({email: data for email, data in rows})
        added = [
            {"email": e, "data": m.model_dump(mode="json"), "active": m.active, "first_seen_at": now, "updated_at": now}
            for e, m in incoming.items()
            if e not in known
        ]
        changed = [
            {"email": e, "data": data, "active": m.active, "updated_at": now}
            for e, m in incoming.items()
            if e in known and known[e] != (data := m.model_dump(mode="json"))
        ]
        if added:
            self.session.execute(
                insert(self.session, MentorRow).on_conflict_do_nothing(index_elements=["email"]), added
            )
        if changed:
            self.session.execute(update(MentorRow), changed)
        return len(added), len(changed)

    def deactivate_absent(self, present: Sequence[str], now: datetime) -> tuple[list[str], list[str]]:
        """Mentors gone from the roster (by key): those still active are deactivated. Returns the keys of the ones
        deactivated now and of every known mentor absent (active before or not), from one read."""
        here = {e.lower() for e in present}
        absent = [r for r in self.session.scalars(select(MentorRow).order_by(MentorRow.email)) if r.email not in here]
        gone = [r for r in absent if r.active]
        for r in gone:
            r.active, r.updated_at, r.data = False, now, {**r.data, "active": False}
        return [r.email for r in gone], [r.email for r in absent]

    def mentors(self, active_only: bool = False) -> list[Mentor]:
        q = select(MentorRow.data).order_by(MentorRow.email)
        if active_only:
            q = q.where(MentorRow.active.is_(True))
        return [Mentor.model_validate(d) for d in self.session.scalars(q).all()]

    def joined(self, since: datetime, until: datetime) -> list[Mentor]:
        """Mentors first seen in the period."""
        rows = self.session.scalars(
            select(MentorRow.data).where(MentorRow.first_seen_at >= since, MentorRow.first_seen_at < until)
        )
        return [Mentor.model_validate(d) for d in rows.all()]

    def get(self, key: str) -> Mentor:
        """One mentor by key (an email in any case, or a booking key)."""
        data = self.session.scalar(select(MentorRow.data).where(MentorRow.email == key.lower()))
        if data is None:
            raise KeyError("no such mentor")
        return Mentor.model_validate(data)

    def many(self, keys: Sequence[str]) -> dict[str, Mentor]:
        """The given mentors by (lower-case) key, in one query per 10,000."""
        out: dict[str, Mentor] = {}
        for part in chunks(sorted({e.lower() for e in keys})):
            for email, data in self.session.execute(
                select(MentorRow.email, MentorRow.data).where(MentorRow.email.in_(part))
            ):
                out[email] = Mentor.model_validate(data)
        return out

"""Self-service actions taken through signed links: which links acted, the pauses and capacities they set."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.models import Role
from domain.selfservice import Action, ActionRequest, TakenAction
from store.sql import insert
from store.tables import SelfServiceActionRow


class SelfServiceRepository:
    """Self-service actions. Never commits: the caller's transaction does."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def taken(self) -> dict[str, datetime]:
        """Every link that already acted → the time of the answer it acted on."""
        rows = self.session.execute(select(SelfServiceActionRow.token, SelfServiceActionRow.submitted_at))
        return {token: at for token, at in rows}

    def record(self, item: ActionRequest, until: datetime | None, outcome: str, now: datetime) -> int | None:
        """Keep an action taken (once per link); its id, or None when that link had already acted."""
        stmt = (
            insert(self.session, SelfServiceActionRow)
            .values(
                token=item.token,
                role=item.role.value,
                action=item.action.value,
                person=item.person,
                target=item.target,
                submitted_at=item.submitted_at,
                taken_at=now,
                until=until,
                capacity=item.capacity,
                outcome=outcome,
            )
            .on_conflict_do_nothing(index_elements=["token"])
            .returning(SelfServiceActionRow.id)
        )
        return self.session.scalar(stmt)

    def _latest(self, key: Any, value: Any, role: Role, action: Action, *where: Any) -> dict[Any, Any]:
        """``key`` → ``value`` of each key's latest action of this kind (rows in order: a later one overwrites)."""
        rows = (
            select(key, value)
            .where(SelfServiceActionRow.role == role.value, SelfServiceActionRow.action == action.value, *where)
            .order_by(SelfServiceActionRow.submitted_at, SelfServiceActionRow.id)
        )
        return dict(self.session.execute(rows).tuples().all())

    def pauses(self, role: Role, now: datetime) -> dict[str, datetime]:
        """Person key → return time, for each person of ``role`` whose latest pause still holds at ``now``."""
        latest = self._latest(SelfServiceActionRow.person, SelfServiceActionRow.until, role, Action.PAUSE)
        return {p: u for p, u in latest.items() if u is not None and u > now}

    def paused_requests(self, now: datetime) -> dict[int, datetime]:
        """Request id → return time, for requests whose mentee's latest pause of them still holds."""
        target = SelfServiceActionRow.target
        latest = self._latest(target, SelfServiceActionRow.until, Role.MENTEE, Action.PAUSE, target.is_not(None))
        return {t: u for t, u in latest.items() if u is not None and u > now}

    def capacities(self) -> dict[str, int]:
        """Mentor person key → the capacity they last set themselves."""
        capacity = SelfServiceActionRow.capacity
        return self._latest(SelfServiceActionRow.person, capacity, Role.MENTOR, Action.CAPACITY, capacity.is_not(None))

    def since(self, at: datetime) -> list[TakenAction]:
        """The actions taken at or after ``at``, oldest first."""
        rows = self.session.scalars(
            select(SelfServiceActionRow).where(SelfServiceActionRow.taken_at >= at).order_by(SelfServiceActionRow.id)
        )
        return [
            TakenAction(
                id=r.id,
                role=Role(r.role),
                action=Action(r.action),
                person=r.person,
                target=r.target,
                until=r.until,
                capacity=r.capacity,
                outcome=r.outcome,
                taken_at=r.taken_at,
            )
            for r in rows
        ]

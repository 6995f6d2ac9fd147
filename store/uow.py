"""The store's entry point and its unit of work: one session, every repository, one commit.

``with store.unit_of_work() as uow:`` commits what the block did when it ends normally and rolls all of
it back when it raises. Repositories take the unit of work's session and never commit themselves, so what
belongs together (an intake batch, a lead's decision, the end of a match) commits together or not at all.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from store.db import engine_for, migrate
from store.digests import DigestRepository
from store.erasure import ErasureRepository
from store.followup import FollowupRepository
from store.ledger import LedgerRepository
from store.matches import MatchRepository
from store.newsletter import NewsletterRepository
from store.reporting import ReportingRepository
from store.requests import RequestRepository
from store.roster import RosterRepository
from store.selfservice import SelfServiceRepository
from store.sql import insert
from store.stages import StageCountRepository
from store.tables import Meta


class UnitOfWork:
    """One transaction over the repositories of every aggregate."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.requests = RequestRepository(session)
        self.roster = RosterRepository(session)
        self.matches = MatchRepository(session)
        self.followup = FollowupRepository(session)
        self.ledger = LedgerRepository(session)
        self.digests = DigestRepository(session)
        self.newsletter = NewsletterRepository(session)
        self.reporting = ReportingRepository(session)
        self.self_service = SelfServiceRepository(session)
        self.erasure = ErasureRepository(session)
        self.stages = StageCountRepository(session)


class Store:
    """SQLAlchemy store on SQLite (default) or PostgreSQL. Create with :meth:`open` to migrate first."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._sessions = sessionmaker(engine_for(url), expire_on_commit=False)

    @classmethod
    def open(cls, url: str) -> Store:
        migrate(url)
        return cls(url)

    @property
    def engine(self) -> Engine:
        return engine_for(self.url)

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """Commit on normal exit, roll back on an exception (which is re-raised)."""
        with self._sessions() as session:
            uow = UnitOfWork(session)
            try:
                yield uow
            except BaseException:
                session.rollback()
                raise
            session.commit()

    def install_id(self) -> str:
        """A random id made once per database; salts deterministic external ids (calendar events)."""
        with self.unit_of_work() as uow:
            s = uow.session
            s.execute(insert(s, Meta).values(key="install_id", value=secrets.token_hex(8)).on_conflict_do_nothing())
            value = s.scalar(select(Meta.value).where(Meta.key == "install_id"))
        assert value is not None
        return value

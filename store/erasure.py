"""Erasure and retention in the store: a person's footprint, set-based deletion of requests and matches with
everything that hangs on them, the forgotten people's keyed hashes and the self-service erase requests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic import Field
from sqlalchemy import String, cast, delete, func, or_, select, update
from sqlalchemy.orm import Session

from domain.erasure import Person, RequestAge, drop_free_text, scrub_json, without_people
from domain.keys import CancelKey, EndedKey, EventKey, InviteKey, NudgeKey, SurveyKey
from domain.models import Frozen, Role
from store.requests import person_key as set_aside_key
from store.sql import among, chunks, insert
from store.tables import (
    AnswerTakenRow,
    DigestRow,
    EraseRequestRow,
    FlagRow,
    ForgottenRow,
    LedgerRow,
    MatchRow,
    MeetingRow,
    MentorRow,
    NewsletterPreviewRow,
    NewsletterUnsubscribeRow,
    ProposalRow,
    RefusalRow,
    RequestEventRow,
    RequestRow,
    SelfServiceActionRow,
    SetAsideRow,
    SurveyAnswerRow,
    SurveySentRow,
)


class Footprint(Frozen):
    """Where a person is in the store: their requests, the matches they are a side of, the names they gave."""

    email: str
    request_ids: list[int] = Field(default_factory=list)
    mentor: bool = False
    match_ids: list[int] = Field(default_factory=list)
    active_match_ids: list[int] = Field(default_factory=list)
    event_ids: list[str] = Field(default_factory=list)
    names: list[str] = Field(default_factory=list)

    @property
    def person(self) -> Person:
        return Person(email=self.email, names=self.names)


def _match_keys(match_ids: Iterable[int], event_ids: Iterable[str]) -> list[str]:
    """Every exact ledger key of these matches' side effects (reschedules are matched by prefix)."""
    keys: list[str] = []
    for m in match_ids:
        keys.append(str(NudgeKey(match_id=m)))
        for role in Role:
            keys += [str(InviteKey(match_id=m, role=role)), str(EndedKey(match_id=m, role=role))]
            keys += [str(SurveyKey(kind=k, match_id=m, role=role)) for k in ("survey", "reminder")]
    for e in event_ids:
        keys += [str(EventKey(event_id=e)), str(CancelKey(event_id=e))]
    return keys


class ErasureRepository:
    """Never commits: the unit of work does (one unit of work erases a person's store part whole)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # --- a person --------------------------------------------------------------------------------------------

    def footprint(self, email: str) -> Footprint:
        """The person's requests (as mentee), mentor record and every match they are a side of (4 queries)."""
        s, key = self.session, email.strip().lower()
        requests = s.execute(
            select(RequestRow.id, RequestRow.application).where(func.lower(RequestRow.mentee_email) == key)
        ).all()
        mentor = s.scalar(select(MentorRow.data).where(MentorRow.email == key))
        request_ids = [r.id for r in requests]
        matches = s.execute(
            select(MatchRow.id, MatchRow.active).where(
                or_(MatchRow.request_id.in_(request_ids), MatchRow.mentor_email == key)
            )
        ).all()
        match_ids = sorted(m.id for m in matches)
        events = s.scalars(select(MeetingRow.event_id).where(MeetingRow.match_id.in_(match_ids))).all()
        names = {str(r.application.get("name", "")) for r in requests} | (
            {str(mentor.get("name", ""))} if mentor else set()
        )
        return Footprint(
            email=key,
            request_ids=sorted(request_ids),
            mentor=mentor is not None,
            match_ids=match_ids,
            active_match_ids=sorted(m.id for m in matches if m.active),
            event_ids=sorted(events),
            names=sorted(n for n in names if n.strip()),
        )

    def delete_requests(self, request_ids: Sequence[int], mentor_keys: Sequence[str] = ()) -> Counter[str]:
        """Delete requests and every match of them or of the mentors, with what hangs on them (set-based, in
        foreign-key order); rows deleted per table."""
        s, out = self.session, Counter[str]()
        rids, mkeys = sorted(set(request_ids)), sorted({k.lower() for k in mentor_keys})
        match_ids = sorted(
            s.scalars(
                select(MatchRow.id).where(or_(MatchRow.request_id.in_(rids), MatchRow.mentor_email.in_(mkeys)))
            ).all()
        )
        meetings = s.execute(select(MeetingRow.match_id, MeetingRow.event_id).where(MeetingRow.match_id.in_(match_ids)))
        event_ids = [e for _, e in meetings]
        keys = _match_keys(match_ids, event_ids)
        for key_part in chunks(keys):
            out["ledger"] += self._delete(delete(LedgerRow).where(LedgerRow.key.in_(key_part)))
        for id_part in chunks(match_ids, 500):
            out["ledger"] += self._delete(
                delete(LedgerRow).where(or_(*(LedgerRow.key.like(f"reschedule:{m}:%") for m in id_part)))
            )
        for table, column in (
            (FlagRow, FlagRow.match_id),
            (SurveyAnswerRow, SurveyAnswerRow.match_id),
            (SurveySentRow, SurveySentRow.match_id),
            (MeetingRow, MeetingRow.match_id),
        ):
            out[table.__tablename__] += self._delete(delete(table).where(column.in_(match_ids)))
        out["refusals"] += self._delete(
            delete(RefusalRow).where(or_(RefusalRow.request_id.in_(rids), RefusalRow.mentor_email.in_(mkeys)))
        )
        out["matches"] += self._delete(delete(MatchRow).where(MatchRow.id.in_(match_ids)))
        out["answers_taken"] += self._delete(delete(AnswerTakenRow).where(AnswerTakenRow.request_id.in_(rids)))
        out["request_events"] += self._delete(delete(RequestEventRow).where(RequestEventRow.request_id.in_(rids)))
        out["requests"] += self._delete(delete(RequestRow).where(RequestRow.id.in_(rids)))
        if rids or mkeys:
            out["proposals"] += self._rewrite_proposals(set(rids), set(mkeys))
        return +out

    def forget(self, footprint: Footprint, link_key: str, forgotten: str, now: datetime) -> Counter[str]:
        """Erase the person of ``footprint`` from every table, scrub their address and names from the stored
        issues, and keep only ``forgotten`` (their keyed hash); rows removed or rewritten per table."""
        s, person = self.session, footprint.person
        out = self.delete_requests(footprint.request_ids, [footprint.email] if footprint.mentor else [])
        out["mentors"] += self._delete(delete(MentorRow).where(MentorRow.email == footprint.email))
        out["set_aside"] += self._delete(
            delete(SetAsideRow).where(SetAsideRow.person == set_aside_key(footprint.email))
        )
        out["newsletter_unsubscribes"] += self._delete(
            delete(NewsletterUnsubscribeRow).where(NewsletterUnsubscribeRow.person == link_key)
        )
        out["erase_requests"] += self._delete(delete(EraseRequestRow).where(EraseRequestRow.person == link_key))
        out["self_service_actions"] += self._delete(
            delete(SelfServiceActionRow).where(SelfServiceActionRow.person == link_key)
        )
        escaped = link_key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        out["ledger"] += self._delete(
            delete(LedgerRow).where(LedgerRow.key.like(f"newsletter:%:{escaped}", escape="\\"))
        )
        # another mentee who asked to continue with this mentor: the wish goes with the mentor
        asked = s.execute(
            select(RequestRow.id, RequestRow.application).where(
                cast(RequestRow.application, String).like(f"%{footprint.email}%")
            )
        ).all()
        changed = [
            {"id": r.id, "application": {**r.application, "continue_with": None}}
            for r in asked
            if str(r.application.get("continue_with") or "").lower() == footprint.email
        ]
        if changed:
            s.execute(
                update(RequestRow),
                changed,
            )
            out["requests (continue_with)"] += len(changed)
        out["digests"] += self._scrub(DigestRow, person)
        out["newsletter_previews"] += self._scrub(NewsletterPreviewRow, person)
        s.execute(
            insert(s, ForgottenRow)
            .values(person=forgotten, at=now)
            .on_conflict_do_update(index_elements=["person"], set_={"at": now})
        )
        return +out

    def _delete(self, statement: Any) -> int:
        return int(self.session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]

    def _scrub(self, table: type[DigestRow] | type[NewsletterPreviewRow], person: Person) -> int:
        """Rewrite the rows of ``table`` whose data names the person (one select, one bulk update)."""
        rows = self.session.execute(select(table.id, table.data)).all()
        changed = []
        for row_id, data in rows:
            new, n = scrub_json(data, person)
            if n:
                changed.append({"id": row_id, "data": new})
        if changed:
            self.session.execute(update(table), changed)
        return len(changed)

    def _rewrite_proposals(self, request_ids: set[int], mentor_keys: set[str]) -> int:
        rows = self.session.execute(select(ProposalRow.id, ProposalRow.data)).all()
        changed = [
            {"id": row_id, "data": new}
            for row_id, data in rows
            if (new := without_people(data, request_ids, mentor_keys)) != data
        ]
        if changed:
            self.session.execute(
                update(ProposalRow),
                changed,
            )
        return len(changed)

    # --- returning people and erase requests -----------------------------------------------------------------

    def forgotten(self, hashes: Iterable[str]) -> dict[str, datetime]:
        """Which of these keyed hashes belong to people forgotten before, and when they were (last) forgotten."""
        found: dict[str, datetime] = {}
        for part in chunks(sorted(set(hashes))):
            rows = self.session.execute(
                select(ForgottenRow.person, ForgottenRow.at).where(among(self.session, ForgottenRow.person, part))
            )
            found.update({person: at for person, at in rows})
        return found

    def forgotten_count(self) -> int:
        return int(self.session.scalar(select(func.count()).select_from(ForgottenRow)) or 0)

    def request_erasure(self, link_key: str, now: datetime) -> bool:
        """Record a used "erase my data" link; False when that person's request is already waiting."""
        s = self.session
        n = s.execute(insert(s, EraseRequestRow).values(person=link_key, at=now).on_conflict_do_nothing()).rowcount  # type: ignore[attr-defined]
        return bool(n)

    def erase_requests(self) -> list[str]:
        return list(self.session.scalars(select(EraseRequestRow.person).order_by(EraseRequestRow.at)))

    def drop_erase_requests(self, link_keys: Sequence[str]) -> None:
        """Requests that name nobody the store knows any more (already forgotten, or never known)."""
        self.session.execute(delete(EraseRequestRow).where(EraseRequestRow.person.in_(list(link_keys))))

    def known_emails(self) -> list[str]:
        """Every address the store holds (mentees' and mentors'), for resolving erase requests."""
        mentees = self.session.scalars(select(RequestRow.mentee_email).distinct()).all()
        mentors = self.session.scalars(select(MentorRow.email).where(MentorRow.email.not_like("booking:%"))).all()
        return sorted({e.lower() for e in [*mentees, *mentors]})

    # --- retention -------------------------------------------------------------------------------------------

    def request_ages(self) -> list[RequestAge]:
        """Every request's status, last change, first match time and whether free text is still kept (one query)."""
        first_match = (
            select(MatchRow.request_id, func.min(MatchRow.created_at).label("matched_at"))
            .group_by(MatchRow.request_id)
            .subquery()
        )
        rows = self.session.execute(
            select(
                RequestRow.id,
                RequestRow.status,
                RequestRow.updated_at,
                RequestRow.application,
                first_match.c.matched_at,
            ).outerjoin(first_match, first_match.c.request_id == RequestRow.id)
        ).all()
        return [
            RequestAge(
                id=r.id,
                status=r.status,
                updated_at=r.updated_at,
                matched_at=_aware(r.matched_at),
                has_free_text=any(str(r.application.get(f) or "").strip() for f in ("goals", "accessibility_needs")),
            )
            for r in rows
        ]

    def drop_free_text(self, request_ids: Sequence[int]) -> tuple[int, list[str]]:
        """Remove the free-text answers of these requests (one select, one bulk update); the count and the
        requests' addresses (their raw rows in the form exports go too)."""
        rows = self.session.execute(
            select(RequestRow.id, RequestRow.application).where(RequestRow.id.in_(list(request_ids)))
        ).all()
        changed = [{"id": r.id, "application": drop_free_text(r.application)} for r in rows]
        if changed:
            self.session.execute(
                update(RequestRow),
                changed,
            )
        return len(changed), sorted(str(r.application.get("email", "")) for r in rows)

    def emails_of(self, request_ids: Sequence[int]) -> list[str]:
        """The addresses of these requests (one query)."""
        rows = self.session.scalars(select(RequestRow.mentee_email).where(RequestRow.id.in_(list(request_ids))))
        return sorted({e.lower() for e in rows})


def _aware(value: Any) -> datetime | None:
    """A MIN() over a UTC column comes back naive (SQLite) or as text: read it as UTC."""
    from datetime import UTC

    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

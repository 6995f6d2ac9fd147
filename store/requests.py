"""Mentees' requests: applications, the status lifecycle and its timeline, set-aside records, watermarks."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import ColumnElement, Table, bindparam, func, select, true, update
from sqlalchemy.orm import Session

from domain.models import (
    OPEN_STATUSES,
    MenteeApplication,
    MentoringRequest,
    RequestStatus,
    SetAside,
    StatusChange,
    check_transition,
)
from store.sql import among, chunks, insert, insert_rows
from store.tables import AnswerTakenRow, MatchRow, RefusalRow, RequestEventRow, RequestRow, SetAsideRow, WatermarkRow

Upsert = Literal["created", "updated", "unchanged"]
REQUESTS: Table = RequestRow.__table__  # type: ignore[assignment]


class Contact(NamedTuple):
    """An open request's mentee, as a message to them needs it."""

    request_id: int
    email: str
    name: str
    languages: list[str]
    consent_contact: bool
    submitted_at: datetime


class RequestState(NamedTuple):
    request_id: int
    status: RequestStatus
    submitted_at: datetime


def event_row(request_id: int, frm: str | None, to: str, actor: str, note: str, now: datetime) -> dict[str, Any]:
    """One timeline entry, as a row for a bulk insert."""
    return {"request_id": request_id, "at": now, "from_status": frm, "to_status": to, "actor": actor, "note": note}


def apply_transition(row: RequestRow, new: RequestStatus, now: datetime) -> None:
    """Check and apply a status change on a loaded row (the caller records the timeline entry)."""
    check_transition(RequestStatus(row.status), new)
    row.status, row.updated_at = new.value, now
    row.is_open = new in OPEN_STATUSES


def person_key(email: str) -> str:
    """A stable, non-reversible key of a person's email (so no email is kept with a set-aside record)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class RequestRepository:
    """Requests and everything that only concerns them. Never commits: the unit of work does."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # --- intake ----------------------------------------------------------------------------------

    def watermark(self, source: str) -> str | None:
        return self.session.scalar(select(WatermarkRow.value).where(WatermarkRow.source == source))

    def set_watermark(self, source: str, value: str, now: datetime) -> None:
        stmt = insert(self.session, WatermarkRow).values(source=source, value=value, updated_at=now)
        self.session.execute(
            stmt.on_conflict_do_update(index_elements=["source"], set_={"value": value, "updated_at": now})
        )

    def save_applications(self, apps: Sequence[MenteeApplication], now: datetime) -> Counter[Upsert]:
        """A new mentee opens a request; a later answer updates the open one it belongs to: the one its response
        id was taken in for (a form answer edited later keeps its id, even when its email changed: the request
        then goes by the new email), else the one of its email.

        Set-based: one ``IN`` select of the open requests of these response ids and one of these emails, then
        bulk writes. Answers are applied oldest first, so the latest answer of a person who submitted twice is
        the one that stays.
        """
        counts: Counter[Upsert] = Counter({"created": 0, "updated": 0, "unchanged": 0})
        # An answer already taken in for a request that is over (completed, canceled, rejected) is not a new
        # application: re-reading an export never opens a request again (invariant 5).
        over: set[str] = set()
        for part in chunks(sorted({a.response_id for a in apps})):
            over.update(
                self.session.scalars(
                    select(AnswerTakenRow.response_id)
                    .join(RequestRow, RequestRow.id == AnswerTakenRow.request_id)
                    .where(among(self.session, AnswerTakenRow.response_id, part), RequestRow.is_open.is_(False))
                )
            )
        counts["unchanged"] += sum(a.response_id in over for a in apps)
        ordered = sorted((a for a in apps if a.response_id not in over), key=lambda a: a.submitted_at)
        # A request is keyed by its id when it exists, else (new in this batch) by its first answer's response id.
        existing: dict[int | str, RequestRow] = {}
        by_response: dict[str, int | str] = {}
        by_email: dict[str, int | str] = {}
        for part in chunks(sorted({a.response_id for a in ordered})):
            for response_id, row in self.session.execute(
                select(AnswerTakenRow.response_id, RequestRow)
                .join(RequestRow, RequestRow.id == AnswerTakenRow.request_id)
                .where(among(self.session, AnswerTakenRow.response_id, part), RequestRow.is_open.is_(True))
            ).tuples():
                existing[row.id], by_response[response_id] = row, row.id
        for part in chunks(sorted({str(a.email).lower() for a in ordered})):
            for row in self.session.scalars(
                select(RequestRow).where(
                    among(self.session, RequestRow.mentee_email, part), RequestRow.is_open.is_(True)
                )
            ):
                existing[row.id], by_email[row.mentee_email] = row, row.id
        current: dict[int | str, dict[str, Any]] = {k: r.application for k, r in existing.items()}
        new: dict[str, None] = {}  # in the order the requests opened
        owner: dict[str, int | str] = {}  # response id → the request it is taken in for
        updated_notes: Counter[int | str] = Counter()
        for app in ordered:
            email, data = str(app.email).lower(), app.model_dump(mode="json")
            key = by_response.get(app.response_id, by_email.get(email))
            if key is None:
                key = app.response_id
                current[key], by_response[key], by_email[email] = data, key, key
                new[key] = None
                owner[app.response_id] = key
                counts["created"] += 1
                continue
            owner[app.response_id], by_response[app.response_id] = key, key
            kept = MenteeApplication.model_validate(current[key])
            if app.submitted_at < kept.submitted_at or data == current[key]:
                counts["unchanged"] += 1  # an older copy of the answer, or the same one read again
                continue
            before = str(kept.email).lower()
            if before != email and by_email.get(before) == key:
                del by_email[before]  # the request now goes by the new email
            current[key], by_email[email] = data, key
            updated_notes[key] += 1
            counts["updated"] += 1

        ids: dict[int | str, int] = {k: r.id for k, r in existing.items()}
        if new:
            rows = [
                {
                    "mentee_email": str(current[k]["email"]).lower(),
                    "is_open": True,
                    "status": RequestStatus.PENDING.value,
                    "application": current[k],
                    "response_id": current[k]["response_id"],
                    "created_at": now,
                    "updated_at": now,
                    "waiting_since": now,
                    "wait_reason": "",
                }
                for k in new
            ]
            latest = {str(current[k]["response_id"]): k for k in new}  # one response id per request
            # Core, not ORM, inserts (here and below): the ORM's bookkeeping per row was a second of a 20,000-answer
            # intake, for rows no object of this session stands for (issue #12)
            returned = insert_rows(self.session, REQUESTS, rows, returning=["id", "response_id"])
            ids.update({latest[response_id]: rid for rid, response_id in returned})
        changed = [k for k in existing if updated_notes.get(k)]
        if changed:
            self.session.execute(
                update(RequestRow),
                [
                    {
                        "id": existing[k].id,
                        "mentee_email": str(current[k]["email"]).lower(),
                        "application": current[k],
                        "response_id": current[k]["response_id"],
                        "updated_at": now,
                    }
                    for k in changed
                ],
            )
        pending = RequestStatus.PENDING.value
        events = [event_row(ids[k], None, pending, "intake", "application received", now) for k in new]
        for k, n in updated_notes.items():
            status = existing[k].status if k in existing else pending
            events += [event_row(ids[k], status, status, "intake", "application updated by a later answer", now)] * n
        insert_rows(self.session, RequestEventRow.__table__, events)
        taken = [{"response_id": r, "request_id": ids[k], "at": now} for r, k in owner.items()]
        insert_rows(self.session, AnswerTakenRow.__table__, taken, conflict=["response_id"])
        return counts

    def record_set_aside(
        self, items: Sequence[SetAside], kind: str, now: datetime, people: Sequence[str] | None = None
    ) -> int:
        """Keep each distinct problem once (re-reading the same bad row only refreshes last_seen); returns the new.

        ``people`` (aligned with ``items``): each answer's email where one could be read, kept only as a hash so
        that a later valid answer of that person resolves the record (:meth:`resolve_set_aside`).
        """
        rows: dict[str, dict[str, Any]] = {}
        for n, item in enumerate(items):
            fp = hashlib.sha256(
                json.dumps([kind, item.source, item.ref, item.reasons], ensure_ascii=False).encode()
            ).hexdigest()
            rows[fp] = {
                "fingerprint": fp,
                "kind": kind,
                "source": item.source,
                "ref": item.ref,
                "reasons": item.reasons,
                "first_seen_at": now,
                "last_seen_at": now,
                "person": person_key(people[n]) if people and people[n] else "",
            }
        if not rows:
            return 0
        known = 0
        for part in chunks(list(rows)):
            known += len(self.session.scalars(select(SetAsideRow.id).where(SetAsideRow.fingerprint.in_(part))).all())
        stmt = insert(self.session, SetAsideRow)
        self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["fingerprint"], set_={"last_seen_at": stmt.excluded.last_seen_at}
            ),
            list(rows.values()),
        )
        return len(rows) - known

    def resolve_set_aside(self, kind: str, emails: Sequence[str], refs: Sequence[str], now: datetime) -> None:
        """Records of ``kind`` set aside for these people (or these response refs) are resolved: a later valid
        answer replaced them, so the lead no longer sees them (invariant 7)."""
        keys = sorted({person_key(e) for e in emails})
        for part in chunks(keys):
            self.session.execute(
                update(SetAsideRow)
                .where(
                    SetAsideRow.kind == kind,
                    among(self.session, SetAsideRow.person, part),
                    SetAsideRow.resolved_at.is_(None),
                )
                .values(resolved_at=now)
            )
        for part in chunks(sorted(set(refs))):
            self.session.execute(
                update(SetAsideRow)
                .where(
                    SetAsideRow.kind == kind,
                    among(self.session, SetAsideRow.ref, part),
                    SetAsideRow.resolved_at.is_(None),
                )
                .values(resolved_at=now)
            )

    # --- reads -----------------------------------------------------------------------------------

    def get(self, request_id: int) -> MentoringRequest:
        found = self._load(RequestRow.id == request_id)
        if not found:
            raise KeyError(f"no request {request_id}")
        return found[0]

    def of_match(self, match_id: int) -> MentoringRequest:
        """The request a match belongs to."""
        of = select(MatchRow.request_id).where(MatchRow.id == match_id).scalar_subquery()
        found = self._load(RequestRow.id == of)
        if not found:
            raise KeyError(f"no match {match_id}")
        return found[0]

    def all(self, status: RequestStatus | None = None) -> list[MentoringRequest]:
        """Requests (of one status, or all), with timelines, earlier and refused mentors: four queries in all."""
        return self._load(RequestRow.status == status.value if status is not None else true())

    def many(self, request_ids: Sequence[int]) -> dict[int, MentoringRequest]:
        """The given requests by id, in a fixed number of queries."""
        out: dict[int, MentoringRequest] = {}
        for part in chunks(sorted(set(request_ids))):
            out.update({r.id: r for r in self._load(RequestRow.id.in_(part))})
        return out

    def applications_received(self, since: datetime, until: datetime) -> list[MenteeApplication]:
        rows = self.session.scalars(
            select(RequestRow.application).where(RequestRow.created_at >= since, RequestRow.created_at < until)
        )
        return [MenteeApplication.model_validate(r) for r in rows.all()]

    def _load(self, where: ColumnElement[bool]) -> list[MentoringRequest]:
        s = self.session
        rows = s.scalars(
            select(RequestRow).where(where).order_by(RequestRow.id).execution_options(populate_existing=True)
        ).all()
        if not rows:
            return []
        chosen = select(RequestRow.id).where(where)
        timeline: dict[int, list[StatusChange]] = {r.id: [] for r in rows}
        for e in s.scalars(
            select(RequestEventRow).where(RequestEventRow.request_id.in_(chosen)).order_by(RequestEventRow.id)
        ):
            timeline[e.request_id].append(
                StatusChange(
                    at=e.at,
                    from_status=RequestStatus(e.from_status) if e.from_status else None,
                    to_status=RequestStatus(e.to_status),
                    actor=e.actor,
                    note=e.note,
                )
            )
        # Mentors each mentee already had, over all their requests (the current active match excluded).
        history: dict[str, list[tuple[int, bool, str]]] = {}
        for email, request_id, active, mentor in s.execute(
            select(RequestRow.mentee_email, MatchRow.request_id, MatchRow.active, MatchRow.mentor_email)
            .join(RequestRow, RequestRow.id == MatchRow.request_id)
            .where(RequestRow.mentee_email.in_(select(RequestRow.mentee_email).where(where)))
        ):
            history.setdefault(email, []).append((request_id, active, mentor))
        refused: dict[str, set[str]] = {}
        for email, mentor in s.execute(
            select(RequestRow.mentee_email, RefusalRow.mentor_email)
            .join(RequestRow, RequestRow.id == RefusalRow.request_id)
            .where(RequestRow.mentee_email.in_(select(RequestRow.mentee_email).where(where)))
        ):
            refused.setdefault(email, set()).add(mentor)
        return [
            MentoringRequest(
                id=row.id,
                application=MenteeApplication.model_validate(row.application),
                status=RequestStatus(row.status),
                created_at=row.created_at,
                updated_at=row.updated_at,
                waiting_since=row.waiting_since,
                wait_reason=row.wait_reason,
                previous_mentors=sorted(
                    {m for rid, active, m in history.get(row.mentee_email, []) if not (rid == row.id and active)}
                ),
                refused_mentors=sorted(refused.get(row.mentee_email, ())),
                timeline=timeline[row.id],
            )
            for row in rows
        ]

    def contacts_opened_since(self, since: datetime) -> list[Contact]:
        """The open requests opened since ``since``: whom to write to and what they answered, read from the
        stored application as it was written (one query: no timelines, no validation of what the store holds)."""
        rows = self.session.execute(
            select(RequestRow.id, RequestRow.application)
            .where(RequestRow.is_open.is_(True), RequestRow.created_at >= since)
            .order_by(RequestRow.id)
        )
        return [
            Contact(
                request_id=rid,
                email=str(app["email"]),
                name=str(app["name"]),
                languages=list(app["languages"]),
                consent_contact=bool(app["consent_contact"]),
                submitted_at=datetime.fromisoformat(app["submitted_at"]),
            )
            for rid, app in rows
        ]

    def days_to_approval(self, since: datetime, until: datetime) -> list[float]:
        """Days from opening to first approval of each request first approved within [since, until] (one query)."""
        first = (
            select(RequestEventRow.request_id, func.min(RequestEventRow.at).label("approved"))
            .where(RequestEventRow.to_status == RequestStatus.APPROVED.value)
            .group_by(RequestEventRow.request_id)
            .subquery()
        )
        rows = self.session.execute(
            select(RequestRow.created_at, first.c.approved).join(first, first.c.request_id == RequestRow.id)
        )
        return [(approved - opened).total_seconds() / 86400 for opened, approved in rows if since <= approved <= until]

    def open_states(self, emails: Sequence[str], statuses: Sequence[RequestStatus]) -> dict[str, RequestState]:
        """Each of these mentees' open request in one of these statuses, as far as intake needs it (id, status,
        when its answer was given), by lower-case email: light columns, not whole requests."""
        out: dict[str, RequestState] = {}
        wanted = [s.value for s in statuses]
        for part in chunks(sorted({e.lower() for e in emails})):
            for rid, email, status, app in self.session.execute(
                select(RequestRow.id, RequestRow.mentee_email, RequestRow.status, RequestRow.application).where(
                    among(self.session, RequestRow.mentee_email, part),
                    RequestRow.is_open.is_(True),
                    RequestRow.status.in_(wanted),
                )
            ):
                out[email] = RequestState(rid, RequestStatus(status), datetime.fromisoformat(app["submitted_at"]))
        return out

    # --- lifecycle -------------------------------------------------------------------------------

    def transition(self, request_id: int, new: RequestStatus, actor: str, note: str, now: datetime) -> None:
        """Move a request along its lifecycle, recording who and why."""
        row = self.session.get(RequestRow, request_id)
        if row is None:
            raise KeyError(f"no request {request_id}")
        frm = row.status
        apply_transition(row, new, now)
        self.session.add(RequestEventRow(**event_row(row.id, frm, new.value, actor, note, now)))

    def note(self, request_id: int, actor: str, note: str, now: datetime) -> None:
        """A timeline entry that changes no status (a pause, an action asked through a self-service link)."""
        row = self.session.get(RequestRow, request_id)
        if row is None:
            raise KeyError(f"no request {request_id}")
        self.session.add(RequestEventRow(**event_row(row.id, row.status, row.status, actor, note, now)))

    def open_of(self, emails: Sequence[str]) -> dict[str, MentoringRequest]:
        """Each of these mentees' open request, by lower-case email."""
        out: dict[str, MentoringRequest] = {}
        for part in chunks(sorted({e.lower() for e in emails})):
            for r in self._load(RequestRow.mentee_email.in_(part) & RequestRow.is_open.is_(True)):
                out[str(r.application.email).lower()] = r
        return out

    def open_of_responses(self, response_ids: Sequence[str]) -> dict[str, MentoringRequest]:
        """The open request each of these form responses was taken in for, by response id."""
        out: dict[str, MentoringRequest] = {}
        for part in chunks(sorted(set(response_ids))):
            taken: dict[str, int] = {
                rid: req
                for rid, req in self.session.execute(
                    select(AnswerTakenRow.response_id, AnswerTakenRow.request_id)
                    .join(RequestRow, RequestRow.id == AnswerTakenRow.request_id)
                    .where(AnswerTakenRow.response_id.in_(part), RequestRow.is_open.is_(True))
                )
            }
            if taken:
                loaded = {r.id: r for r in self._load(RequestRow.id.in_(sorted(set(taken.values()))))}
                out.update({rid: loaded[req] for rid, req in taken.items()})
        return out

    def waiting_at(self, moment: datetime) -> list[datetime]:
        """Since when each request that was pending at ``moment`` had waited, read back from the timeline (one
        query): last week's waitlist for the lead's report, without a snapshot kept for it."""
        last = (
            select(RequestEventRow.request_id, func.max(RequestEventRow.id).label("last_id"))
            .where(RequestEventRow.at <= moment)
            .group_by(RequestEventRow.request_id)
            .subquery()
        )
        rows = self.session.execute(
            select(RequestRow.waiting_since)
            .join(last, last.c.request_id == RequestRow.id)
            .join(RequestEventRow, RequestEventRow.id == last.c.last_id)
            .where(RequestEventRow.to_status == RequestStatus.PENDING.value)
        )
        return [since for (since,) in rows]

    def wait_reasons(self) -> dict[int, str]:
        """The reason each pending request waits, as last noted (one query, two columns)."""
        rows = self.session.execute(
            select(RequestRow.id, RequestRow.wait_reason).where(RequestRow.status == RequestStatus.PENDING.value)
        )
        return {rid: reason for rid, reason in rows}

    def note_waiting(self, reasons: Mapping[int, str], now: datetime) -> None:
        """Why each still-pending request waits (a request no longer pending is left alone); one statement."""
        if not reasons:
            return
        self.session.execute(
            update(RequestRow.__table__)  # type: ignore[arg-type]
            .where(RequestRow.id == bindparam("rid"), RequestRow.status == RequestStatus.PENDING.value)
            .values(wait_reason=bindparam("reason"), updated_at=now),
            [{"rid": rid, "reason": reason} for rid, reason in reasons.items()],
        )

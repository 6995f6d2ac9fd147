"""Do a side effect at most once per key, and find out what happened when a run died halfway.

The intent is recorded before the side effect and the outcome after it, each committed in its own unit
of work (the record must survive the run dying during the side effect). A rerun that finds a key ``done``
skips it. One that finds it ``pending`` (the process died, or the outcome was unknown) asks the connector
whether the effect exists: done → record it; absent → perform it; unknown → mark it ``uncertain`` and
leave it to the lead (``mentorflow ledger release KEY`` allows one more attempt).

Email goes through :func:`send_once`, where the mailer can also *call off* an attempt whose outcome is unknown
(a SendGrid scheduled send in its own batch is cancelled), so that it is sent again without a guess and the
lead is left only what nothing can settle any more.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel
from sqlalchemy import Row, Table, delete, select, update
from sqlalchemy.orm import Session

from connectors.base import (
    ConnectorError,
    Mailer,
    OutcomeUnknown,
    OutgoingEmail,
    Presence,
    StagingMailer,
    TransientError,
)
from domain.keys import LedgerKey
from store.sql import IN_CHUNK, among, chunks, insert_rows, update_rows
from store.tables import LedgerRow

if TYPE_CHECKING:
    from store.uow import Store, UnitOfWork

LedgerStatus = Literal["pending", "done", "failed", "uncertain"]
LEDGER: Table = LedgerRow.__table__  # type: ignore[assignment]


class LedgerEntry(BaseModel):
    key: str
    kind: str
    status: LedgerStatus
    attempts: int
    provider_ref: str
    error: str
    updated_at: datetime


def _new_attempt(row: Row[Any], now: datetime) -> dict[str, object]:
    """The values that make a ``pending`` or ``failed`` entry a new ``pending`` attempt. A failed one loses its
    token: it is known not sent, and a token left on a pending entry reads as an attempt still in flight, which a
    process's first send would settle (for SendGrid, a cancellation whose window may be long closed: uncertain)."""
    return {
        "key": row.key,
        "status": "pending",
        "attempts": row.attempts + 1,
        "updated_at": now,
        "provider_ref": "" if row.status == "failed" else row.provider_ref,
    }


def _new_row(key: str, kind: str, attempts: int, now: datetime) -> dict[str, object]:
    """A new ledger row, ``pending``: intended (``attempts`` 0) or about to be attempted (1)."""
    return dict(
        key=key,
        kind=kind,
        status="pending",
        attempts=attempts,
        created_at=now,
        updated_at=now,
        provider_ref="",
        error="",
    )


def _entry(row: LedgerRow | Row[Any]) -> LedgerEntry:
    return LedgerEntry(
        key=row.key,
        kind=row.kind,
        status=row.status,  # type: ignore[arg-type]
        attempts=row.attempts,
        provider_ref=row.provider_ref,
        error=row.error,
        updated_at=row.updated_at,
    )


class LedgerRepository:
    """Ledger rows by key. Never commits: :func:`do_once` commits each step in its own unit of work."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, key: str | LedgerKey) -> LedgerEntry | None:
        row = self.session.get(LedgerRow, str(key))
        return _entry(row) if row else None

    def begin(self, key: str | LedgerKey, kind: str, now: datetime) -> LedgerEntry:
        """Record the intent (or a new attempt) before the side effect; returns the entry as it was."""
        return self.begin_many([str(key)], kind, now)[str(key)]

    def begin_many(self, keys: list[str], kind: str, now: datetime) -> dict[str, LedgerEntry]:
        """:meth:`begin` for many keys: the insert and the select of the keys already there, then one update of
        those found ``pending`` or ``failed`` (a new attempt), each set-based per :data:`IN_CHUNK` keys (compiling a
        multi-row ``VALUES`` of thousands of bound values was most of a large batch's claim; issue #12); returns
        each entry as it was."""
        s, out = self.session, {}
        for part in chunks(sorted(set(keys)), IN_CHUNK):
            rows = [_new_row(k, kind, 1, now) for k in part]
            created = {r.key for r in insert_rows(s, LEDGER, rows, returning=["key"], conflict=["key"])}
            for k in created:  # as inserted: no need to read them back (a first run's keys are all new)
                out[k] = LedgerEntry.model_construct(
                    key=k, kind=kind, status="pending", attempts=0, provider_ref="", error="", updated_at=now
                )
            older = [k for k in part if k not in created]
            if not older:
                continue
            found = s.execute(select(*LEDGER.c).where(among(s, LEDGER.c.key, older)).with_for_update()).all()
            again = []
            for row in found:
                out[row.key] = _entry(row)
                if row.status in {"pending", "failed"}:
                    again.append(_new_attempt(row, now))
            update_rows(s, LEDGER, again, key=["key"])
        return out

    def intend(self, kinds: Mapping[str, str], now: datetime) -> None:
        """Record side effects to be done (key → kind), never attempted yet (``pending``, no attempt), unless the
        key is already there: in the unit of work of what calls for them, so that a kill before they are done
        leaves them to find (their first attempt then needs no lookup: nothing was tried)."""
        rows = [_new_row(k, kind, 0, now) for k, kind in sorted(kinds.items())]
        insert_rows(self.session, LEDGER, rows, conflict=["key"])

    def drop_intents(self, keys: Sequence[str]) -> None:
        """Forget these keys where they are only intended (:meth:`intend`: ``pending``, never attempted)."""
        if keys:
            self.session.execute(
                delete(LedgerRow).where(LedgerRow.key.in_(keys), LedgerRow.status == "pending", LedgerRow.attempts == 0)
            )

    def restore(self, entries: list[LedgerEntry]) -> None:
        """Undo :meth:`begin_many` for keys nothing was attempted under: a new row goes, an older one gets its
        status and attempts back (only while it is still the ``pending`` the claim made)."""
        s = self.session
        for e in entries:
            claimed = (LedgerRow.key == e.key, LedgerRow.status == "pending", LedgerRow.attempts == e.attempts + 1)
            if e.attempts == 0 and e.status == "pending":
                s.execute(delete(LedgerRow).where(*claimed))
            else:
                s.execute(
                    update(LedgerRow)
                    .where(*claimed)
                    .values(status=e.status, attempts=e.attempts, provider_ref=e.provider_ref)
                )

    def finish_many(self, done: list[tuple[str, str]], now: datetime) -> None:
        """Record many side effects ``done`` at once: (key, provider reference) each."""
        rows = [{"key": k, "status": "done", "updated_at": now, "error": "", "provider_ref": r} for k, r in done]
        update_rows(self.session, LEDGER, rows, key=["key"])

    def finish(
        self, key: str | LedgerKey, status: LedgerStatus, now: datetime, provider_ref: str = "", error: str = ""
    ) -> None:
        values: dict[str, object] = {"status": status, "updated_at": now, "error": error}
        if provider_ref:
            values["provider_ref"] = provider_ref
        self.session.execute(update(LedgerRow).where(LedgerRow.key == str(key)).values(**values))

    def release(self, key: str, now: datetime) -> bool:
        """The lead checked an uncertain side effect did not happen: allow one more attempt."""
        n = self.session.execute(
            update(LedgerRow)
            .where(LedgerRow.key == key, LedgerRow.status == "uncertain")
            .values(status="failed", updated_at=now, error="released by the lead")
        ).rowcount  # type: ignore[attr-defined]
        return bool(n)

    def entries(self, prefix: str, status: LedgerStatus = "done") -> list[LedgerEntry]:
        rows = self.session.scalars(
            select(LedgerRow).where(LedgerRow.key.startswith(prefix), LedgerRow.status == status)
        )
        return [_entry(r) for r in rows.all()]

    def keys(self, prefix: str, status: LedgerStatus = "done") -> set[str]:
        return set(
            self.session.scalars(
                select(LedgerRow.key).where(LedgerRow.key.startswith(prefix), LedgerRow.status == status)
            ).all()
        )


class Outcome(StrEnum):
    PERFORMED = "performed"
    ALREADY_DONE = "already_done"
    FOUND_DONE = "found_done"
    UNCERTAIN = "uncertain"


class OutcomeCalledOff(TransientError):
    """Every attempt of this run had an unknown outcome and was called off: known not sent, try later.

    :func:`send_once`'s re-sends are the retry layer for unknown outcomes: the task does not add its own."""

    task_may_retry = False


def do_once(
    store: Store,
    key: str | LedgerKey,
    kind: str,
    perform: Callable[[], str],
    lookup: Callable[[], Presence],
    now: datetime,
    batch: LedgerBatch | None = None,
) -> Outcome:
    """Run ``perform`` (which returns a provider reference) unless the ledger says it already ran.

    A ConnectorError is recorded as ``failed`` (known not to have happened) and re-raised so the task's
    retries can act; OutcomeUnknown and any other exception leave the entry ``pending`` for the lookup.
    In a ``batch`` (only for effects ``lookup`` can find), the intent may have been claimed with the batch's
    and ``done`` is recorded with the batch's: until then the entry is ``pending``, which a rerun looks up.
    """

    def finish(status: LedgerStatus, provider_ref: str = "", error: str = "") -> None:
        with store.unit_of_work() as uow:
            uow.ledger.finish(key, status, now, provider_ref=provider_ref, error=error)

    before = _begin(store, key, kind, now, batch)
    if before.status == "done":
        return Outcome.ALREADY_DONE
    if before.status == "uncertain":
        return Outcome.UNCERTAIN
    if before.status == "pending" and before.attempts > 0:
        presence = lookup()
        if presence is Presence.DONE:
            finish("done", provider_ref="found on rerun")
            return Outcome.FOUND_DONE
        if presence is Presence.UNKNOWN:
            finish("uncertain", error="a previous attempt may have gone out; check, then release")
            return Outcome.UNCERTAIN
    try:
        ref = perform()
    except OutcomeUnknown as exc:
        finish("pending", error=type(exc).__name__)
        raise
    except ConnectorError as exc:
        finish("failed", error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    if batch is not None:
        batch.done(key, ref)
    else:
        finish("done", provider_ref=ref)
    return Outcome.PERFORMED


def send_once(
    store: Store,
    mailer: Mailer,
    message: OutgoingEmail,
    kind: str,
    now: datetime,
    *,
    resends: int = 3,
    batch: LedgerBatch | None = None,
) -> Outcome:
    """Send ``message`` exactly once, under its own key.

    The mailer's token (a SendGrid batch and send time) is recorded before each attempt. An attempt whose
    outcome is unknown — now, or found ``pending`` by a rerun — is settled by the mailer: found sent (done),
    called off (sent again under a new token, at most ``resends`` times here, then by later tries), or, only
    when nothing can settle it any more, ``uncertain`` for the lead.

    An attempt without a token (the mailer settles it by looking it up: the outbox) needs no record between
    the intent and the send, and in a ``batch`` its ``done`` is recorded with the batch's; an attempt with a
    token is recorded at every step as it happens (settling it after a kill costs a cancellation).
    """
    key = message.key

    def finish(status: LedgerStatus, provider_ref: str = "", error: str = "") -> None:
        with store.unit_of_work() as uow:
            uow.ledger.finish(key, status, now, provider_ref=provider_ref, error=error)

    _settle_left_over(store, mailer, now)
    before = _begin(store, key, kind, now, batch)
    recorded = before.provider_ref if before.attempts > 0 else ""
    if before.status == "done":
        return Outcome.ALREADY_DONE
    if before.status == "uncertain":
        return Outcome.UNCERTAIN
    if before.status == "pending" and before.attempts > 0:
        settled = _settle(store, mailer, key, before.provider_ref, now)
        if settled is not None:
            return settled
    for _ in range(resends + 1):
        try:
            token = mailer.prepare(message)
        except ConnectorError as exc:
            finish("failed", error=f"{type(exc).__name__}: {exc}"[:500])
            raise
        if token or recorded not in {"", "-"}:
            finish("pending", provider_ref=token or "-")  # committed before the send: a rerun can settle it
            recorded = token or "-"
        # else: the entry is already ``pending`` with no token, which a rerun settles by lookup
        stager = _stager(mailer) if batch is not None and not token else None
        try:
            if stager is not None:
                assert batch is not None
                batch.before_commit(stager.commit_staged)  # in place, durably, before the batch records it done
                ref = stager.stage(message)
            else:
                ref = mailer.send(message, token)
        except OutcomeUnknown:
            settled = _settle(store, mailer, key, token, now)
            if settled is not None:
                return settled
            continue  # called off: known not sent, send again under a new token
        except ConnectorError as exc:
            finish("failed", error=f"{type(exc).__name__}: {exc}"[:500])
            raise
        if batch is not None and not token:
            batch.done(key, ref.provider_id)
        else:
            finish("done", provider_ref=ref.provider_id or token)
        return Outcome.PERFORMED
    finish("failed", error=f"outcome unknown {resends + 1} times, each called off")
    raise OutcomeCalledOff(f"message {key}: {resends + 1} attempts had unknown outcomes; each was called off")


_stagers: weakref.WeakKeyDictionary[Mailer, bool] = weakref.WeakKeyDictionary()


def _stager(mailer: Mailer) -> StagingMailer | None:
    """``mailer`` when it stages a batch's messages, else None. Remembered per mailer: checking a runtime
    protocol looks up each of its members, a noticeable part of a local acknowledgment's cost (issue #12)."""
    stages = _stagers.get(mailer)
    if stages is None:
        stages = _stagers[mailer] = isinstance(mailer, StagingMailer)
    return cast(StagingMailer, mailer) if stages else None


def _begin(store: Store, key: str | LedgerKey, kind: str, now: datetime, batch: LedgerBatch | None) -> LedgerEntry:
    """The entry as it was before this attempt: claimed with the batch's, or recorded now in its own commit."""
    claimed = batch.take(key) if batch is not None else None
    if claimed is not None and claimed.attempts == 0:
        return claimed  # new with the claim: nothing else writes it
    if claimed is not None:
        # An earlier attempt: the claim saw it before this process's first send settled what a killed process
        # left in flight (_settle_left_over); acting on that stale view would settle it a second time, when its
        # window may have closed (uncertain) or after it was found sent.
        with store.unit_of_work() as uow:
            now_entry = uow.ledger.get(str(key))
        return now_entry if now_entry is not None else claimed
    with store.unit_of_work() as uow:
        return uow.ledger.begin(key, kind, now)


class LedgerBatch:
    """A batch task's side effects through the ledger in a few commits instead of two or three per effect.

    ``claim`` records the intent of every key the batch is about to attempt in one unit of work, before any
    of them is attempted (each key is then taken by :func:`do_once` / :func:`send_once`, once). An attempt that
    a lookup can settle (a calendar event; an email without a token: the outbox) is recorded ``done`` with the
    others when the batch is flushed (leaving the ``with`` block, even by an exception): a kill
    before that leaves it ``pending``, and the next run looks it up and finds it done, never does it twice.
    Keys claimed and never taken (their match stopped before them) get their entries back as they were.
    Everything else (a failure, an unknown outcome, an attempt with a token) is recorded at once, as without
    a batch. Thread-safe: the batch's items run ``SIDE_EFFECT_WORKERS`` at a time.
    """

    def __init__(self, store: Store, now: datetime) -> None:
        self.store, self.now = store, now
        self._claimed: dict[str, LedgerEntry] = {}
        self._done: list[tuple[str, str]] = []
        self._then: list[Callable[[UnitOfWork], None]] = []
        self._commits: dict[Callable[[], None], None] = {}  # a bound method is equal to itself taken again
        self._lock = threading.Lock()

    def __enter__(self) -> LedgerBatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()

    def claim(self, keys: Sequence[str | LedgerKey], kind: str) -> None:
        """Record the intent of these keys in one unit of work (the kind of each: ``kind``)."""
        if not keys:
            return
        with self.store.unit_of_work() as uow:
            claimed = uow.ledger.begin_many([str(k) for k in keys], kind, self.now)
        with self._lock:
            self._claimed.update(claimed)

    def take(self, key: str | LedgerKey) -> LedgerEntry | None:
        with self._lock:
            return self._claimed.pop(str(key), None)

    def done(self, key: str | LedgerKey, provider_ref: str) -> None:
        with self._lock:
            self._done.append((str(key), provider_ref))

    def before_commit(self, commit: Callable[[], None]) -> None:
        """Call ``commit`` (once, however often it is given) when the batch is flushed, before anything is
        recorded: a connector that staged the batch's effects (the local outbox's files) puts them in place, so
        that nothing is recorded done before it is. Should it fail, nothing of the batch is recorded done."""
        with self._lock:
            self._commits[commit] = None

    def then(self, write: Callable[[UnitOfWork], None]) -> None:
        """Write this to the store when the batch is flushed, after (and in the same commit as) the outcomes
        recorded with it: what follows from effects done (a match becoming scheduled) is never ahead of them."""
        with self._lock:
            self._then.append(write)

    def flush(self) -> None:
        """Record what was done, then what follows from it, and give back what was claimed and not taken:
        one unit of work."""
        with self._lock:
            done, self._done = self._done, []
            then, self._then = self._then, []
            untaken, self._claimed = list(self._claimed.values()), {}
            commits, self._commits = list(self._commits), {}
        if not (done or then or untaken or commits):
            return
        try:
            for commit in commits:
                commit()
        except BaseException:
            # Not in place (or not all): the batch's effects stay ``pending``, and the next run looks them up.
            with self.store.unit_of_work() as uow:
                uow.ledger.restore(untaken)
            raise
        with self.store.unit_of_work() as uow:
            uow.ledger.finish_many(done, self.now)
            for write in then:
                write(uow)
            uow.ledger.restore(untaken)


_recovery = threading.Lock()
_recovered: weakref.WeakSet[Mailer] = weakref.WeakSet()


def _settle_left_over(store: Store, mailer: Mailer, now: datetime) -> None:
    """Before a process's first send: settle every attempt an earlier (killed) process left in flight.

    Their cancellation windows are short (SendGrid: until 10 minutes before the send time), so they go first,
    not when their own task comes round. Assumes one email-sending run at a time, as the ledger does anyway
    (a pending key is settled by whoever meets it next)."""
    with _recovery:
        if mailer in _recovered:
            return
        with store.unit_of_work() as uow:
            pending = uow.ledger.entries("", "pending")
        for entry in pending:
            if entry.attempts > 0 and entry.provider_ref not in {"", "-"} and "@" in entry.provider_ref:
                try:
                    _settle(store, mailer, entry.key, entry.provider_ref, now)
                except ConnectorError:  # SendGrid failing: the key's own task settles it when it comes
                    continue
        _recovered.add(mailer)


def _settle(store: Store, mailer: Mailer, key: str, token: str, now: datetime) -> Outcome | None:
    """Settle an attempt made under ``token``: an outcome when it is decided, None when it was called off."""
    presence = mailer.settle(key, "" if token == "-" else token)  # a transient failure leaves it pending
    with store.unit_of_work() as uow:
        if presence is Presence.DONE:
            uow.ledger.finish(key, "done", now, provider_ref=token)
            return Outcome.FOUND_DONE
        if presence is Presence.UNKNOWN:
            uow.ledger.finish(
                key, "uncertain", now, error="may have gone out and can no longer be called off; check, then release"
            )
            return Outcome.UNCERTAIN
        uow.ledger.finish(key, "failed", now, error="called off")
    return None

"""Do a side effect at most once per key, and find out what happened when a run died halfway.

The intent is recorded before the side effect and the outcome after it. A rerun that finds a key
``done`` skips it. One that finds it ``pending`` (the process died, or the outcome was unknown) asks the
connector whether the effect exists: done → record it; absent → perform it; unknown → mark it
``uncertain`` and leave it to the lead (``mentorflow ledger release KEY`` allows one more attempt).
Email goes through :func:`send_once`, where the mailer can also *call off* an attempt whose outcome is unknown
(a SendGrid scheduled send in its own batch is cancelled), so that it can be sent again without a guess.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from connectors.base import ConnectorError, Mailer, OutcomeUnknown, OutgoingEmail, Presence, TransientError
from store.repository import Store


class Outcome(StrEnum):
    PERFORMED = "performed"
    ALREADY_DONE = "already_done"
    FOUND_DONE = "found_done"
    UNCERTAIN = "uncertain"


class OutcomeCalledOff(TransientError):
    """Every attempt of this run had an unknown outcome and was called off: known not sent, try later."""


def do_once(
    store: Store,
    key: str,
    kind: str,
    perform: Callable[[], str],
    lookup: Callable[[], Presence],
    now: datetime,
) -> Outcome:
    """Run ``perform`` (which returns a provider reference) unless the ledger says it already ran.

    A ConnectorError is recorded as ``failed`` (known not to have happened) and re-raised so the task's
    retries can act; OutcomeUnknown and any other exception leave the entry ``pending`` for the lookup.
    """
    before = store.ledger_begin(key, kind, now)
    if before.status == "done":
        return Outcome.ALREADY_DONE
    if before.status == "uncertain":
        return Outcome.UNCERTAIN
    if before.status == "pending" and before.attempts > 0:
        presence = lookup()
        if presence is Presence.DONE:
            store.ledger_finish(key, "done", now, provider_ref="found on rerun")
            return Outcome.FOUND_DONE
        if presence is Presence.UNKNOWN:
            store.ledger_finish(
                key, "uncertain", now, error="a previous attempt may have gone out; check, then release"
            )
            return Outcome.UNCERTAIN
    try:
        ref = perform()
    except OutcomeUnknown as exc:
        store.ledger_finish(key, "pending", now, error=type(exc).__name__)
        raise
    except ConnectorError as exc:
        store.ledger_finish(key, "failed", now, error=f"{type(exc).__name__}: {exc}"[:500])
        raise
    store.ledger_finish(key, "done", now, provider_ref=ref)
    return Outcome.PERFORMED


def send_once(
    store: Store, mailer: Mailer, message: OutgoingEmail, kind: str, now: datetime, *, resends: int = 3
) -> Outcome:
    """Send ``message`` exactly once, under its own key.

    The mailer's token (a SendGrid batch and send time) is recorded before each attempt. An attempt whose
    outcome is unknown — now, or found ``pending`` by a rerun — is settled by the mailer: found sent (done),
    called off (sent again under a new token, at most ``resends`` times here, then by later tries), or, only
    when nothing can settle it any more, ``uncertain`` for the lead.
    """
    _settle_left_over(store, mailer, now)
    key = message.key
    before = store.ledger_begin(key, kind, now)
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
            store.ledger_finish(key, "failed", now, error=f"{type(exc).__name__}: {exc}"[:500])
            raise
        store.ledger_finish(key, "pending", now, provider_ref=token or "-")
        try:
            ref = mailer.send(message, token)
        except OutcomeUnknown:
            settled = _settle(store, mailer, key, token, now)
            if settled is not None:
                return settled
            continue  # called off: known not sent, send again under a new token
        except ConnectorError as exc:
            store.ledger_finish(key, "failed", now, error=f"{type(exc).__name__}: {exc}"[:500])
            raise
        store.ledger_finish(key, "done", now, provider_ref=ref.provider_id or token)
        return Outcome.PERFORMED
    store.ledger_finish(key, "failed", now, error=f"outcome unknown {resends + 1} times, each called off")
    raise OutcomeCalledOff(f"message {key}: {resends + 1} attempts had unknown outcomes; each was called off")


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
        for entry in store.ledger_entries("", "pending"):
            if entry.attempts > 0 and entry.provider_ref not in {"", "-"} and "@" in entry.provider_ref:
                try:
                    _settle(store, mailer, entry.key, entry.provider_ref, now)
                except ConnectorError:  # SendGrid failing: the key's own task settles it when it comes
                    continue
        _recovered.add(mailer)


def _settle(store: Store, mailer: Mailer, key: str, token: str, now: datetime) -> Outcome | None:
    """Settle an attempt made under ``token``: an outcome when it is decided, None when it was called off."""
    presence = mailer.settle(key, "" if token == "-" else token)  # a transient failure leaves it pending
    if presence is Presence.DONE:
        store.ledger_finish(key, "done", now, provider_ref=token)
        return Outcome.FOUND_DONE
    if presence is Presence.UNKNOWN:
        store.ledger_finish(key, "uncertain", now, error="may have gone out and can no longer be called off; "
                                                         "check, then release")
        return Outcome.UNCERTAIN
    store.ledger_finish(key, "failed", now, error="called off")
    return None

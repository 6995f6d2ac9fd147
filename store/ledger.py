"""Do a side effect at most once per key, and find out what happened when a run died halfway.

The intent is recorded before the side effect and the outcome after it. A rerun that finds a key
``done`` skips it. One that finds it ``pending`` (the process died, or the outcome was unknown) asks the
connector whether the effect exists: done → record it; absent → perform it; unknown → mark it
``uncertain`` and leave it to the lead (``mentorflow ledger release KEY`` allows one more attempt).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum

from connectors.base import ConnectorError, Mailer, OutcomeUnknown, OutgoingEmail, Presence
from store.repository import Store


class Outcome(StrEnum):
    PERFORMED = "performed"
    ALREADY_DONE = "already_done"
    FOUND_DONE = "found_done"
    UNCERTAIN = "uncertain"


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


def send_once(store: Store, mailer: Mailer, message: OutgoingEmail, kind: str, now: datetime) -> Outcome:
    """Send ``message`` at most once, under its own key."""

    def perform() -> str:
        return mailer.send(message).provider_id

    return do_once(store, message.key, kind, perform=perform, lookup=lambda: mailer.lookup(message.key), now=now)

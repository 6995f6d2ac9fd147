"""Erasure and retention: who is forgotten, by what link, what text names them, and what is due for deletion.

Pure functions; the store, the files and the Prefect API are the tasks' business (``tasks/erasure.py``).

- ``forget``: a person is erased from every table and file; only :func:`forgotten_hash` of their address is
  kept (keyed with the program's secret, so the list of hashes cannot be checked against guessed addresses
  without it), so that a later answer from the same address is recognised as a returning person.
- The self-service "erase my data" link is a signed link (purpose ``erase``, subject the opaque person key of
  :func:`domain.links.person_key`), like the unsubscribe link; using it records a request that the next
  privacy run carries out through the same code path as ``mentorflow forget``.
- Retention (``rules.retention``): :func:`retention_due` decides what is due; the tasks delete it.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from domain.links import LinkClaims, person_key, sign_link
from domain.models import Frozen
from domain.rules import RetentionRules

ERASE = "erase"
REDACTED = "…"
ENDED_STATUSES = ("completed", "canceled", "rejected")
FREE_TEXT_FIELDS = ("goals", "accessibility_needs")


def forgotten_hash(email: str, secret: str) -> str:
    """The only trace kept of a forgotten person: a keyed hash of their address (hex, 64 characters)."""
    message = f"mentorflow-forgotten:{email.strip().casefold()}".encode()
    return hmac.digest(secret.encode(), message, "sha256").hex()  # one-shot: a 50,000-answer intake hashes each


def erase_token(email: str, secret: str, now: datetime, valid_days: int) -> str:
    """The signed self-service token that asks to erase the person of ``email`` (works for ``valid_days``)."""
    claims = LinkClaims(
        purpose=ERASE, subject=person_key(email, secret), match_id=None, expires=now + timedelta(days=valid_days)
    )
    return sign_link(claims, secret)


def people_by_key(emails: Iterable[str], secret: str) -> dict[str, str]:
    """Opaque person key → address, for resolving erase requests against the addresses the store knows."""
    return {person_key(e, secret): e.strip().casefold() for e in emails}


# --- text that names a person --------------------------------------------------------------------------------


class Person(Frozen):
    """What identifies someone in text: their address and the names they gave (full names only)."""

    email: str
    names: list[str] = Field(default_factory=list)

    def needles(self) -> list[str]:
        """The strings whose presence names the person (case-insensitive), longest first."""
        found = {self.email.strip().casefold()} | {" ".join(n.split()).casefold() for n in self.names if n.strip()}
        return sorted((n for n in found if len(n) >= 3), key=len, reverse=True)


def _flat(text: str) -> str:
    return " ".join(text.split()).casefold()


def names_person(text: str, person: Person) -> bool:
    """Whether ``text`` carries the person's address or one of their full names (whitespace folded)."""
    flat = _flat(text)
    return any(n in flat for n in person.needles())


def scrub_text(text: str, person: Person) -> tuple[str, int]:
    """``text`` with the person's address and full names replaced by ``…``; and how many were replaced."""
    total = 0
    for needle in person.needles():
        pattern = re.compile(r"\s+".join(re.escape(w) for w in needle.split()), re.IGNORECASE)
        text, n = pattern.subn(REDACTED, text)
        total += n
    return text, total


def scrub_json(value: Any, person: Person) -> tuple[Any, int]:
    """A JSON value with every string that names the person scrubbed (see :func:`scrub_text`); and the count."""
    if isinstance(value, str):
        return scrub_text(value, person)
    if isinstance(value, list):
        out, total = [], 0
        for item in value:
            new, n = scrub_json(item, person)
            out.append(new)
            total += n
        return out, total
    if isinstance(value, dict):
        pairs, total = {}, 0
        for key, item in value.items():
            new, n = scrub_json(item, person)
            pairs[key] = new
            total += n
        return pairs, total
    return value, 0


def without_people(proposal: Mapping[str, Any], request_ids: set[int], mentor_keys: set[str]) -> dict[str, Any]:
    """A stored proposal batch (``MatchResult``) without the entries of the given requests and mentors."""

    def kept(item: Any) -> bool:
        if not isinstance(item, dict):
            return True
        return item.get("request_id") not in request_ids and item.get("mentor_email") not in mentor_keys

    out = dict(proposal)
    for field in ("matches", "waitlist"):
        items = out.get(field)
        if isinstance(items, list):
            out[field] = [i for i in items if kept(i)]
    return out


# --- what is due ----------------------------------------------------------------------------------------------


class RequestAge(Frozen):
    """What retention needs to know of one request: its status and when it was matched and last changed."""

    id: int
    status: str
    updated_at: datetime
    matched_at: datetime | None = None
    has_free_text: bool = False


class RetentionDue(Frozen):
    """What retention deletes now: whole ended requests, and the free-text answers of matched ones."""

    ended_requests: list[int] = Field(default_factory=list)
    answers_of: list[int] = Field(default_factory=list, description="requests whose free-text answers go")
    prefect_before: datetime


def months_before(now: datetime, months: int) -> datetime:
    """``now`` minus ``months`` calendar months (the day clamped to the month's end)."""
    month = now.month - 1 - months
    year, month = now.year + month // 12, month % 12 + 1
    for day in (now.day, 30, 29, 28):
        try:
            return now.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def retention_due(requests: Iterable[RequestAge], rules: RetentionRules, now: datetime) -> RetentionDue:
    """What the retention policy deletes at ``now``: a request ended (completed, canceled, rejected) and unchanged
    for ``ended_relationships_months``; the free-text answers of a request matched at least
    ``form_answers_days_after_match`` days ago (not of one deleted whole); Prefect runs older than
    ``prefect_runs_days``."""
    ended_before = months_before(now, rules.ended_relationships_months)
    answers_before = now - timedelta(days=rules.form_answers_days_after_match)
    ended, answers = [], []
    for r in requests:
        if r.status in ENDED_STATUSES and r.updated_at <= ended_before:
            ended.append(r.id)
        elif r.has_free_text and r.matched_at is not None and r.matched_at <= answers_before:
            answers.append(r.id)
    return RetentionDue(
        ended_requests=sorted(ended),
        answers_of=sorted(answers),
        prefect_before=now - timedelta(days=rules.prefect_runs_days),
    )


def drop_free_text(application: Mapping[str, Any]) -> dict[str, Any]:
    """A stored application without its free-text answers (what retention removes after matching)."""
    return {**application, **{f: "" for f in FREE_TEXT_FIELDS if f in application}}

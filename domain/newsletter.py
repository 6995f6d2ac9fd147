"""The newsletter people chose and can leave: its audience, its unsubscribe link and headers, moderated quotes,
and when a composed issue may go out. Pure functions; the store and the mailer are the tasks' business.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from domain.links import LinkClaims, person_key, sign_link
from domain.models import DigestIssue

UNSUBSCRIBE = "unsubscribe"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class Candidate(_Frozen):
    """Someone the program knows (a mentor or a mentee) and whether they opted in to the newsletter."""

    email: EmailStr
    name: str
    languages: list[str] = Field(default_factory=list)
    opted_in: bool = False


class Reader(_Frozen):
    """One recipient of the newsletter, in their language, with their opaque key for the unsubscribe link."""

    email: EmailStr
    name: str
    language: str
    person: str = Field(description="person_key of the address: what unsubscribe links and records carry")


def newsletter_audience(
    candidates: Iterable[Candidate],
    unsubscribed: Iterable[str],
    *,
    secret: str,
    languages: Iterable[str],
    default_language: str,
) -> list[Reader]:
    """The opted-in who have not unsubscribed, once each (by address), each in the first of their languages the
    newsletter is written in. Someone known twice (mentor and mentee) is in when either record opted in;
    an unsubscribe always wins."""
    gone = set(unsubscribed)
    offered = list(languages)
    chosen: dict[str, Candidate] = {}
    for c in candidates:
        address = str(c.email).casefold()
        if c.opted_in and address not in chosen:
            chosen[address] = c
    readers = []
    for address, c in sorted(chosen.items()):
        person = person_key(address, secret)
        if person in gone:
            continue
        language = next((code for code in c.languages if code in offered), default_language)
        readers.append(Reader(email=c.email, name=c.name, language=language, person=person))
    return readers


# --- unsubscribe ---------------------------------------------------------------------------------------------


def unsubscribe_token(reader: Reader, secret: str, now: datetime, valid_days: int) -> str:
    """The signed self-service token that unsubscribes ``reader`` (works for ``valid_days``)."""
    claims = LinkClaims(
        purpose=UNSUBSCRIBE, subject=reader.person, match_id=None, expires=now + timedelta(days=valid_days)
    )
    return sign_link(claims, secret)


def unsubscribe_headers(url: str, mailto: str | None = None) -> dict[str, str]:
    """RFC 2369 ``List-Unsubscribe`` with RFC 8058 one-click (``List-Unsubscribe-Post``); mailto as a fallback."""
    targets = [f"<{url}>"] + ([f"<mailto:{mailto}?subject=unsubscribe>"] if mailto else [])
    return {"List-Unsubscribe": ", ".join(targets), "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


# --- quotes --------------------------------------------------------------------------------------------------

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"(?i)\b(?:https?://|www\.)\S+")
_PHONE = re.compile(r"(?<![\w+])\+?\d(?:[\s().-]*\d){6,}(?!\w)")
_HEBREW_PREFIXES = "בלהוש"
REDACTED = "…"


class QuoteCandidate(_Frozen):
    """A consented quote, already scrubbed, with a short id the lead approves it by."""

    id: str
    text: str


def quote_id(text: str) -> str:
    """A short stable id for a quote (the lead types it to approve)."""
    return hashlib.sha256(text.encode()).hexdigest()[:6]


def _name_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    words = sorted({w for n in names for w in n.split() if len(w) >= 2}, key=len, reverse=True)
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in words)
    # A Hebrew name may carry a one-letter prefix (ל, ב, ה, ו, ש): "לדנה" names Dana too.
    return re.compile(rf"(?<!\w)[{_HEBREW_PREFIXES}]?(?:{alternatives})(?!\w)", re.IGNORECASE)


def moderate_quote(text: str, names: Iterable[str], max_length: int = 280) -> str | None:
    """``text`` with emails, links, phone numbers and people's names (any word of ``names``) removed, or None
    when too little would be left to be worth quoting (fewer than four words, or more than a third removed)."""
    flat = " ".join(text.split())
    if not flat:
        return None
    removed = 0

    def cut(_: re.Match[str]) -> str:
        nonlocal removed
        removed += 1
        return REDACTED

    for pattern in (_EMAIL, _URL, _PHONE, _name_pattern(names)):
        if pattern is not None:
            flat = pattern.sub(cut, flat)
    words = [w for w in flat.split() if w.strip(REDACTED + ".,;:!?")]
    if len(words) < 4 or removed * 3 > len(words):
        return None
    return flat if len(flat) <= max_length else flat[: max_length - 1].rstrip() + REDACTED


def quote_candidates(texts: Iterable[str], names: Iterable[str]) -> list[QuoteCandidate]:
    """Each consented free text, scrubbed; left out where scrubbing leaves too little. Duplicates once."""
    known = list(names)
    out: dict[str, QuoteCandidate] = {}
    for text in texts:
        moderated = moderate_quote(text, known)
        if moderated is not None:
            out.setdefault(moderated, QuoteCandidate(id=quote_id(moderated), text=moderated))
    return list(out.values())


class Preview(_Frozen):
    """A composed issue shown to the lead: what it says in each language, the quotes that may go in, and the
    lead's decision."""

    period_start: datetime
    period_end: datetime
    composed_at: datetime
    issues: dict[str, DigestIssue] = Field(description="per language, without quotes; approved ones are added")
    quotes: list[QuoteCandidate] = Field(default_factory=list, description="consented and scrubbed, not approved")
    approved_at: datetime | None = None
    approved_quotes: list[str] = Field(default_factory=list, description="ids of the quotes the lead approved")
    status: Literal["waiting", "sent", "skipped"] = "waiting"

    def final_issue(self, language: str) -> DigestIssue:
        """The issue as it goes out in ``language``: with the quotes the lead approved, and only those."""
        issue = self.issues.get(language) or next(iter(self.issues.values()))
        chosen = [q.text for q in self.quotes if q.id in set(self.approved_quotes)]
        return issue.model_copy(update={"quotes": chosen})

    def decide(self, now: datetime, approval: Literal["lead", "quiet_period"], quiet_period_hours: int) -> Release:
        """:func:`release` for this preview."""
        issue = self.final_issue(next(iter(self.issues)))
        return release(issue, self.composed_at, self.approved_at is not None, now, approval, quiet_period_hours)


# --- preview and release -------------------------------------------------------------------------------------


def has_news(issue: DigestIssue) -> bool:
    """Whether an issue says anything: something happened, someone joined, or mentors are needed."""
    return bool(
        issue.matches_made
        or issue.meetings_held
        or issue.new_mentors
        or issue.topics_in_demand
        or issue.answers
        or issue.quotes
    )


Release = Literal["send", "wait", "skip"]


def release(
    issue: DigestIssue,
    composed_at: datetime,
    approved: bool,
    now: datetime,
    approval: Literal["lead", "quiet_period"],
    quiet_period_hours: int,
) -> Release:
    """What to do with a composed issue now: ``skip`` one with nothing to say; ``send`` once the lead approved
    it, or (with ``quiet_period``) once that many hours passed since the preview without a stop; else ``wait``."""
    if not has_news(issue):
        return "skip"
    if approved:
        return "send"
    if approval == "quiet_period" and now >= composed_at + timedelta(hours=quiet_period_hours):
        return "send"
    return "wait"

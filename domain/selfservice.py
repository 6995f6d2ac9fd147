"""Mentees and mentors know where they stand: acknowledgment, fix-it notes and self-service through signed links.

A self-service link is a signed token (:mod:`domain.links`) whose purpose is ``<role>-<action>``
(``mentee-withdraw``, ``mentee-pause``, ``mentee-unreachable``, ``mentee-end``, ``mentor-pause``,
``mentor-capacity``, ``mentor-unreachable``, ``mentor-end``), whose subject is the person's opaque key
(:func:`domain.links.person_key`, never the address) and whose number is what it acts on: the request for a
mentee's withdraw or pause, the match for "I could not reach …" and "end this mentoring", nothing for a mentor's
pause or capacity. The link opens a form (Google Forms in
production, an answers file locally) with the columns ``token``, ``action``, ``timestamp``, ``until`` (a
pause's return date), ``capacity`` and ``reason``. Everything here is pure: the tasks read and act.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import Field

from domain.fields import parse_int, parse_timestamp
from domain.links import LinkClaims, LinkRefused, sign_link, verify_link
from domain.models import AwareDatetime, Frozen, MentoringRequest, RawResponse, RequestStatus, Role, SetAside
from domain.rules import SelfServiceRules


class Action(StrEnum):
    WITHDRAW = "withdraw"
    PAUSE = "pause"
    UNREACHABLE = "unreachable"
    CAPACITY = "capacity"
    END = "end"


ACTIONS: dict[Role, tuple[Action, ...]] = {
    Role.MENTEE: (Action.WITHDRAW, Action.PAUSE, Action.UNREACHABLE, Action.END),
    Role.MENTOR: (Action.PAUSE, Action.CAPACITY, Action.UNREACHABLE, Action.END),
}
# Actions on a match, offered only in an email about one: either side ends it (invariant 8: the place frees, the
# future meeting is cancelled, both sides are told, and the mentee is queued again with their waiting time kept),
# saying why ("I could not reach …") or not ("end this mentoring").
MATCH_ACTIONS = frozenset({Action.UNREACHABLE, Action.END})
VIA_LINK = "(self-service link)"  # how a timeline entry or a match's end reason says the person acted through one
FIELDS = ("token", "action", "timestamp", "until", "capacity", "reason")


def purpose(role: Role, action: Action) -> str:
    """The signed purpose of a link: ``mentee-withdraw`` and so on."""
    return f"{role.value}-{action.value}"


def _parse_purpose(text: str) -> tuple[Role, Action] | None:
    role, _, action = text.strip().lower().partition("-")
    try:
        pair = Role(role), Action(action)
    except ValueError:
        return None
    return pair if pair[1] in ACTIONS[pair[0]] else None


class SelfServiceLink(Frozen):
    """One action offered in an email: what it is and where it is answered."""

    action: Action
    url: str


def self_service_links(
    role: Role,
    person: str,
    secret: str,
    expires: datetime,
    rules: SelfServiceRules,
    *,
    request_id: int | None = None,
    match_id: int | None = None,
) -> list[SelfServiceLink]:
    """The links one person gets in an email: a mentee's withdraw and pause act on ``request_id``, "could not
    reach" and "end this mentoring" on ``match_id`` (only offered with a match); a mentor's pause and capacity on
    the mentor."""
    out: list[SelfServiceLink] = []
    for action in ACTIONS[role]:
        if action in MATCH_ACTIONS:
            number = match_id
        elif role is Role.MENTEE:
            number = request_id
        else:
            number = None
        if number is None and (action in MATCH_ACTIONS or role is Role.MENTEE):
            continue
        token = action_token(role, action, person, secret, expires, number)
        url = rules.url_template.format(token=token, action=purpose(role, action))
        out.append(SelfServiceLink(action=action, url=url))
    return out


def action_token(role: Role, action: Action, person: str, secret: str, expires: datetime, number: int | None) -> str:
    """The signed token one self-service link carries: ``person`` (an opaque key) may take ``action`` as
    ``role`` on ``number`` (a request or a match, see the module) until ``expires``."""
    claims = LinkClaims(purpose=purpose(role, action), subject=person, match_id=number, expires=expires)
    return sign_link(claims, secret)


class ActionRequest(Frozen):
    """A self-service answer whose link is genuine and was used before it expired."""

    token: str
    role: Role
    action: Action
    person: str = Field(description="the opaque person key the link was made for")
    target: int | None = Field(description="the request (mentee withdraw/pause) or match (unreachable) it acts on")
    submitted_at: AwareDatetime
    until: date | None = None
    capacity: int | None = None
    reason: str = Field("", max_length=500)
    source: str
    ref: str


def _text(raw: RawResponse, field: str) -> str:
    """A field's answer by question title, whatever its case (a Google Form's ``Timestamp`` is ``timestamp``)."""
    value = next((v for k, v in raw.answers.items() if k.strip().casefold() == field), "")
    return (", ".join(value) if isinstance(value, list) else str(value)).strip()


_DAY_FIRST = re.compile(r"^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$")


def parse_day(text: str, tz: str) -> date:
    """A return date as people write it: ``2027-01-10``, day first ``10/01/2027`` or ``10.1.2027`` (a Hebrew
    form's dates are day-first), or a form's full timestamp."""
    s = text.strip()
    if m := _DAY_FIRST.match(s):
        day, month, year = (int(g) for g in m.groups())
        try:
            return date(year, month, day)
        except ValueError:
            raise ValueError("not a date") from None
    try:
        return date.fromisoformat(s)
    except ValueError:
        return parse_timestamp(s, tz, day_first=True).astimezone(ZoneInfo(tz)).date()


def read_action(
    raw: RawResponse, secret: str, tz: str, now: datetime, rules: SelfServiceRules
) -> ActionRequest | SetAside:
    """Check one self-service answer: a genuine link for the action it names, answered before it expired, with a
    return date for a pause (in the future, at most ``max_pause_days`` away) and a number for a capacity."""

    def refuse(reason: str) -> SetAside:
        return SetAside(source=raw.source, ref=raw.ref, reasons=[reason])

    pair = _parse_purpose(_text(raw, "action"))
    if pair is None:
        return refuse("action: not one of the self-service actions")
    role, action = pair
    try:
        claims = verify_link(_text(raw, "token"), secret, purpose(role, action))
    except LinkRefused as refused:
        return refuse(f"token: {refused.reason}")
    try:
        at = parse_timestamp(_text(raw, "timestamp"), tz, now=now) if _text(raw, "timestamp") else raw.submitted_at
    except ValueError as exc:
        return refuse(f"timestamp: {exc}")
    if at is None:
        return refuse("timestamp: missing")
    if at > claims.expires:
        return refuse("token: the link had expired when this answer was given")
    until: date | None = None
    capacity: int | None = None
    if action is Action.PAUSE:
        try:
            until = parse_day(_text(raw, "until"), tz)
        except ValueError as exc:
            return refuse(f"until: {exc}")
        today = at.astimezone(ZoneInfo(tz)).date()
        if until <= today:
            return refuse("until: the return date must be after the day of the answer")
        until = min(until, today + timedelta(days=rules.max_pause_days))
    if action is Action.CAPACITY:
        try:
            capacity = parse_int(_text(raw, "capacity"), 0, 20)
        except ValueError as exc:
            return refuse(f"capacity: {exc}")
    return ActionRequest(
        token=_text(raw, "token"),
        role=role,
        action=action,
        person=claims.subject,
        target=claims.match_id,
        submitted_at=at,
        until=until,
        capacity=capacity,
        reason=" ".join(_text(raw, "reason").split())[:500],
        source=raw.source,
        ref=raw.ref,
    )


def screen_actions(
    items: Iterable[ActionRequest], taken: Mapping[str, datetime]
) -> tuple[list[ActionRequest], list[SetAside]]:
    """A link acts once: the answer already taken (same token, same time) is skipped silently when the form is
    read again; another answer through a used link (a replay, or a forwarded link) is set aside."""
    seen = dict(taken)
    new: list[ActionRequest] = []
    refused: list[SetAside] = []
    for item in sorted(items, key=lambda i: i.submitted_at):
        at = seen.get(item.token)
        if at is None:
            seen[item.token] = item.submitted_at
            new.append(item)
        elif at != item.submitted_at:
            refused.append(
                SetAside(source=item.source, ref=item.ref, reasons=["token: this link was already used; it acts once"])
            )
    return new, refused


# --- the acknowledgment --------------------------------------------------------------------------------------


def typical_wait_days(
    requests: Iterable[MentoringRequest], now: datetime, history_days: int, min_history: int
) -> int | None:
    """The median number of days from application to approved match over requests approved in the last
    ``history_days``; None with fewer than ``min_history`` of them (no history to speak of yet)."""
    since = now - timedelta(days=history_days)
    waits: list[float] = []
    for r in requests:
        approved = next((c.at for c in r.timeline if c.to_status is RequestStatus.APPROVED), None)
        if approved is not None and since <= approved <= now:
            waits.append((approved - r.created_at).total_seconds() / 86400)
    return median_wait_days(waits, min_history)


def median_wait_days(waits: Sequence[float], min_history: int) -> int | None:
    """The median of these waits (days from application to approved match), in whole days and at least one;
    None with fewer than ``min_history`` of them (no history to speak of yet)."""
    if len(waits) < min_history:
        return None
    return max(1, round(statistics.median(waits)))


# --- fix-it notes ----------------------------------------------------------------------------------------------


class FixNote(Frozen):
    """An answer that was set aside, of someone who gave a valid email and agreed to be contacted."""

    email: str
    name: str = ""
    language: str
    fields: list[str] = Field(min_length=1, description="the fields to fix, as the reasons name them")
    answer: str = Field(description="a hash of the answer (response id, time, content): one note per answer")


def answer_hash(raw: RawResponse) -> str:
    """A stable hash of one answer as given (an edit of it is another answer)."""
    body = json.dumps([raw.source, raw.ref, sorted(raw.answers.items())], ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:24]


def fields_to_fix(problem: SetAside) -> list[str]:
    """The fields named by the reasons (``availability: …`` → ``availability``), in order, once each."""
    out: list[str] = []
    for reason in problem.reasons:
        field = reason.partition(":")[0].strip().split(".")[0].split("[")[0]
        if field and field not in out:
            out.append(field)
    return out


class TakenAction(Frozen):
    """A self-service action as the store keeps it (``applied``: it changed something and is confirmed)."""

    id: int
    role: Role
    action: Action
    person: str
    target: int | None
    until: AwareDatetime | None = None
    capacity: int | None = None
    outcome: str
    taken_at: AwareDatetime

    @property
    def applied(self) -> bool:
        return self.outcome in APPLIED


APPLIED = frozenset({"withdrawn", "paused", "ended", "capacity"})

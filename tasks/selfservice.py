"""Tasks that keep mentees and mentors informed: acknowledgments, fix-it notes, self-service actions."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from connectors.base import Address, IntakeBatch
from domain.erasure import forgotten_hash
from domain.intake import answer_of, fix_note_of
from domain.keys import AckKey, FixKey, SelfServiceKey
from domain.links import person_key
from domain.messages import pick_language, render_ack, render_fixit, render_self_service
from domain.models import OPEN_STATUSES, MenteeApplication, RequestStatus, Role, SetAside
from domain.selfservice import (
    MATCH_ACTIONS,
    VIA_LINK,
    Action,
    ActionRequest,
    FixNote,
    TakenAction,
    median_wait_days,
    read_action,
    screen_actions,
    self_service_links,
)
from mentorflow.bootstrap import Services, current_services
from store.ledger import LedgerBatch, Outcome, send_once
from store.uow import UnitOfWork
from tasks.common import each, log, retry_if_transient, workers_for
from tasks.compose import _email
from tasks.intake import parsed_answers
from tasks.lifecycle import end_relationship

CONFIRM_WITHIN_DAYS = 7  # an action's confirmation not sent yet (a crash, an outage) is tried again this long


def _secret(svc: Services) -> str:
    return svc.settings.survey_token_secret.get_secret_value()


def _sent(outcomes: Counter[str]) -> int:
    return outcomes[Outcome.PERFORMED.value]


# --- acknowledgment ------------------------------------------------------------------------------------------


class AckReport(BaseModel):
    due: int
    sent: int
    failed: int
    wait_days: int | None


@task(name="acknowledge-applications", cache_policy=NO_CACHE)
def acknowledge_applications(now: datetime) -> AckReport:
    """Each new request's mentee is told once (``ack:<request>``), in their language: received, what happens
    next, the usual wait from the program's own recent history, and their self-service links."""
    svc = current_services()
    rules = svc.rules.self_service
    since = now - timedelta(days=rules.acknowledge_within_days)
    with svc.store.unit_of_work() as uow:
        opened = uow.requests.contacts_opened_since(since)
        done = uow.ledger.keys(AckKey.prefix())
        waits = uow.requests.days_to_approval(now - timedelta(days=rules.history_days), now)
    due = [c for c in opened if c.consent_contact and str(AckKey(request_id=c.request_id)) not in done]
    wait = median_wait_days(waits, rules.min_history)
    secret = _secret(svc)
    by_id = {c.request_id: c for c in due}
    expires = now + timedelta(days=rules.link_valid_days)

    def send(request_id: int) -> Outcome:
        c = by_id[request_id]
        language = pick_language(c.languages, svc.rules.digest.language)
        links = self_service_links(
            Role.MENTEE, person_key(c.email, secret), secret, expires, rules, request_id=c.request_id
        )
        rendered = render_ack(
            svc.templates, name=c.name, wait_days=wait, links=links, rules=svc.rules, language=language
        )
        to = Address(email=c.email, name=c.name)
        key = str(AckKey(request_id=c.request_id))
        message = _email(key, to, rendered, language, ["ack"], {"request_id": str(c.request_id)}, svc.rules)
        return send_once(svc.store, svc.connectors.mailer, message, "ack", now, batch=ledger)

    with LedgerBatch(svc.store, now) as ledger:
        ledger.claim([AckKey(request_id=i) for i in by_id], "ack")
        sent, failed = each(sorted(by_id), send, workers_for(svc.connectors.mailer))
    outcomes = Counter(o.value for o in sent.values())
    log("applications acknowledged", due=len(due), sent=_sent(outcomes), failed=len(failed))
    return AckReport(due=len(due), sent=_sent(outcomes), failed=len(failed), wait_days=wait)


# --- fix-it notes ----------------------------------------------------------------------------------------------


class FixReport(BaseModel):
    notes: int
    sent: int
    failed: int


def fix_notes(svc: Services, batch: IntakeBatch, now: datetime) -> list[FixNote]:
    """The notes this batch calls for: answers set aside (not withdrawals) of people with a valid email and
    consent, unless a valid answer of theirs at least as recent is in the batch or in the store."""
    tz = svc.settings.timezone
    notes: list[tuple[FixNote, datetime | None]] = []
    newest_good: dict[str, datetime] = {}
    for raw, parsed in parsed_answers(batch, svc.rules, tz, now):
        if isinstance(parsed, MenteeApplication):
            e = str(parsed.email).lower()
            newest_good[e] = max(parsed.submitted_at, newest_good.get(e, parsed.submitted_at))
        elif isinstance(parsed, SetAside) and (note := fix_note_of(raw, parsed, svc.rules)) is not None:
            given = answer_of(raw, svc.rules, tz)
            notes.append((note, given[1] if given else None))
    secret = _secret(svc)
    hashes = {n.email: forgotten_hash(n.email, secret) for n, _ in notes}
    with svc.store.unit_of_work() as uow:
        stored = uow.requests.open_of([n.email for n, _ in notes])
        erased_at = uow.erasure.forgotten(hashes.values())
    for e, r in stored.items():
        newest_good[e] = max(r.application.submitted_at, newest_good.get(e, r.application.submitted_at))
    out: list[FixNote] = []
    for note, at in notes:
        fixed = newest_good.get(note.email)
        if fixed is not None and (at is None or fixed >= at):
            continue  # a valid answer replaced it: nothing to fix
        erased = erased_at.get(hashes[note.email])
        if erased is not None and (at is None or at <= erased):
            continue  # given before its person asked to be forgotten: no more mail
        out.append(note)
    return out


@task(
    name="send-fix-notes",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=retry_if_transient,
)
def send_fix_notes(batch: IntakeBatch, now: datetime) -> FixReport:
    """Tell each applicant whose answer was set aside what to fix, once per answer (``fixit:<answer hash>``):
    reading the same answer again sends nothing, and only a new answer can bring a new note."""
    svc = current_services()
    notes = {n.answer: n for n in fix_notes(svc, batch, now)}
    with svc.store.unit_of_work() as uow:
        done = uow.ledger.keys("fixit:")
    due = sorted(a for a in notes if str(FixKey(answer=a)) not in done)

    def send(answer: str) -> Outcome:
        note = notes[answer]
        rendered = render_fixit(svc.templates, note, svc.rules)
        to = Address(email=note.email, name=note.name)
        message = _email(str(FixKey(answer=answer)), to, rendered, note.language, ["fixit"], {}, svc.rules)
        return send_once(svc.store, svc.connectors.mailer, message, "fixit", now)

    sent, failed = each(due, send)
    outcomes = Counter(o.value for o in sent.values())
    log("fix notes sent", due=len(due), sent=_sent(outcomes), failed=len(failed))
    return FixReport(notes=len(due), sent=_sent(outcomes), failed=len(failed))


# --- self-service actions --------------------------------------------------------------------------------------


class ActionsReport(BaseModel):
    read: int
    taken: dict[str, int]
    set_aside: list[SetAside]
    confirmed: int


def _until(item: ActionRequest, tz: str) -> datetime | None:
    """A pause holds until the start of its return day, in the program's time zone."""
    return None if item.until is None else datetime.combine(item.until, time(0), ZoneInfo(tz))


def _mentor_key(uow: UnitOfWork, person: str, secret: str) -> str | None:
    return next((m.key for m in uow.roster.mentors() if person_key(m.key, secret) == person), None)


def _take(svc: Services, item: ActionRequest, now: datetime) -> str:
    """Apply one action (its link is genuine, unexpired, not used before); the outcome in words."""
    secret = _secret(svc)
    actor = item.role.value
    why = f"{item.role.value} {item.action.value} {VIA_LINK}" + (f": {item.reason}" if item.reason else "")
    if item.action in MATCH_ACTIONS:
        with svc.store.unit_of_work() as uow:
            match = uow.matches.many([item.target or 0]).get(item.target or 0)
            if match is None:
                return "refused: no such match"
            request = uow.requests.get(match.request_id)
            mine = (
                person_key(str(request.application.email), secret) == item.person
                if item.role is Role.MENTEE
                else person_key(match.mentor_email, secret) == item.person
            )
        if not mine:
            return "refused: the link is not of this match"
        ended = end_relationship(svc, match.id, why, actor, now)  # back to the waitlist, waiting time kept
        return "ended" if ended is not None else "nothing to do: the match had already ended"
    if item.role is Role.MENTEE:
        with svc.store.unit_of_work() as uow:
            try:
                request = uow.requests.get(item.target or 0)
            except KeyError:
                return "refused: no such request"
            if person_key(str(request.application.email), secret) != item.person:
                return "refused: the link is not of this request"
            if request.status not in OPEN_STATUSES:
                return "nothing to do: the request is closed"
            if item.action is Action.PAUSE:
                uow.requests.note(request.id, actor, f"matching paused until {item.until:%Y-%m-%d}: {why}", now)
                return "paused"
            match_id = uow.matches.active_of_requests([request.id]).get(request.id)
        if match_id is not None:  # the meeting is cancelled and the mentor told; the mentee gets the confirmation
            end_relationship(svc, match_id, why, actor, now, requeue=False, tell=(Role.MENTOR,))
        with svc.store.unit_of_work() as uow:
            uow.requests.transition(request.id, RequestStatus.CANCELED, actor, why, now)
        return "withdrawn"
    with svc.store.unit_of_work() as uow:
        if _mentor_key(uow, item.person, secret) is None:
            return "refused: no such mentor"
    return "paused" if item.action is Action.PAUSE else "capacity"


def _recipient(uow: UnitOfWork, action: TakenAction, svc: Services) -> tuple[Address, str] | None:
    """Whom an action's confirmation goes to, and in which language (None: a mentor without email)."""
    default = svc.rules.digest.language
    if action.role is Role.MENTEE:
        try:
            request_id = action.target or 0
            if action.action in MATCH_ACTIONS:
                request_id = uow.matches.get(request_id).request_id
            app = uow.requests.get(request_id).application
        except KeyError:  # erased since (at their request): no more mail
            return None
        return Address(email=str(app.email), name=app.name), pick_language(app.languages, default)
    key = _mentor_key(uow, action.person, _secret(svc))
    mentor = uow.roster.get(key) if key else None
    if mentor is None or mentor.email is None:
        return None
    return Address(email=str(mentor.email), name=mentor.name), pick_language(mentor.languages, default)


def _confirm(svc: Services, action: TakenAction, now: datetime) -> Outcome | None:
    with svc.store.unit_of_work() as uow:
        found = _recipient(uow, action, svc)
    if found is None:
        return None
    to, language = found
    until = action.until.astimezone(ZoneInfo(svc.settings.timezone)).date() if action.until else None
    rendered = render_self_service(
        svc.templates,
        role=action.role,
        action=action.action.value,
        name=to.name,
        until=until,
        capacity=action.capacity,
        rules=svc.rules,
        language=language,
    )
    key = str(SelfServiceKey(action_id=action.id))
    message = _email(key, to, rendered, language, ["self-service"], {"action": action.action.value}, svc.rules)
    return send_once(svc.store, svc.connectors.mailer, message, "self-service", now)


@task(
    name="take-self-service-actions",
    cache_policy=NO_CACHE,
    retries=2,
    retry_delay_seconds=[10, 60],
    retry_condition_fn=retry_if_transient,
)
def take_self_service_actions(now: datetime, confirm: bool = True) -> ActionsReport:
    """Read the self-service answers; act once per genuine, unexpired link (a replayed, forged or expired one
    changes nothing and is set aside for the lead), write it to the request's timeline, and (``confirm``) confirm
    each action of the last week not yet confirmed by email, once (``selfservice:<action>``)."""
    svc = current_services()
    source = svc.connectors.actions
    raws = source.fetch() if source is not None else []
    secret, tz = _secret(svc), svc.settings.timezone
    parsed = [read_action(raw, secret, tz, now, svc.rules.self_service) for raw in raws]
    bad = [p for p in parsed if isinstance(p, SetAside)]
    with svc.store.unit_of_work() as uow:
        new, replayed = screen_actions([p for p in parsed if isinstance(p, ActionRequest)], uow.self_service.taken())
    bad += replayed
    taken: Counter[str] = Counter()
    for item in new:
        outcome = _take(svc, item, now)
        if outcome.startswith("refused"):
            reason = f"token: {outcome.removeprefix('refused: ')}"
            bad.append(SetAside(source=item.source, ref=item.ref, reasons=[reason]))
        with svc.store.unit_of_work() as uow:
            uow.self_service.record(item, _until(item, tz), outcome, now)
        taken[outcome if outcome in ("withdrawn", "paused", "ended", "capacity") else "not applied"] += 1
    with svc.store.unit_of_work() as uow:
        uow.requests.record_set_aside(bad, "self-service", now)
        recent = [a for a in uow.self_service.since(now - timedelta(days=CONFIRM_WITHIN_DAYS)) if a.applied]
        done = uow.ledger.keys("selfservice:")
    due = {a.id: a for a in recent if confirm and str(SelfServiceKey(action_id=a.id)) not in done}
    sent, failed = each(sorted(due), lambda i: _confirm(svc, due[i], now))
    confirmed = sum(o is Outcome.PERFORMED for o in sent.values())
    log("self-service actions", read=len(raws), set_aside=len(bad), confirmed=confirmed, failed=len(failed), **taken)
    return ActionsReport(read=len(raws), taken=dict(taken), set_aside=bad, confirmed=confirmed)

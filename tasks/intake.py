"""Tasks of the intake stage: read the roster and new form answers, validate them, keep them in the store."""

from __future__ import annotations

import threading
import weakref
from datetime import UTC, datetime
from typing import Any

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from pydantic import BaseModel, Field

from connectors.base import IntakeBatch
from domain.erasure import forgotten_hash
from domain.followup import MENTOR_LEFT, settle_departures
from domain.intake import answer_of, inspect_mentor, parse_mentee, parse_withdrawal
from domain.links import person_key
from domain.models import MenteeApplication, Mentor, RawResponse, RequestStatus, SetAside, Withdrawal
from domain.rules import ProgramRules
from domain.topics import MappingReport, mapping_report
from mentorflow.bootstrap import current_services
from store.uow import UnitOfWork
from tasks.common import log, retry_if_transient
from tasks.lifecycle import end_relationship

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def emails_in(raw: RawResponse) -> list[str]:
    """Every email-like value of a raw record (lower case), to know who a record names even when it is invalid."""
    values = [v for a in raw.answers.values() for v in (a if isinstance(a, list) else [a])]
    return [v.strip().lower() for v in values if "@" in v and " " not in v.strip()]


class RosterReport(BaseModel):
    read: int
    added: int
    updated: int
    set_aside: list[SetAside]
    mapping: MappingReport = Field(default_factory=MappingReport, description="the roster's free text → topics")


class IntakeReport(BaseModel):
    received: int
    created: int
    updated: int
    unchanged: int
    set_aside: list[SetAside]
    returning: int = Field(0, description="answers from people erased earlier at their request, applying again")
    erased: int = Field(0, description="answers given before their person was erased: not taken in again")


@task(
    name="sync-roster", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5, retry_condition_fn=retry_if_transient
)
def sync_roster(now: datetime) -> RosterReport:
    """Read the whole mentor roster; keep valid mentors, set the rest aside with reasons."""
    svc = current_services()
    raws = svc.connectors.roster.fetch()
    inspected = [inspect_mentor(r, svc.rules) for r in raws]  # what `mentorflow roster check` shows, per row
    parsed = [p for p, _ in inspected]
    mentors = [m for m in parsed if isinstance(m, Mentor)]
    bad = [m for m in parsed if isinstance(m, SetAside)]
    # Whoever is named in the roster, even in a record set aside, is still in it; the others left.
    present = [m.key for m in mentors] + [e for r in raws for e in emails_in(r)]
    with svc.store.unit_of_work() as uow:
        added, updated = uow.roster.sync(mentors, now)
        uow.requests.record_set_aside(bad, "mentor", now)
        # every mentor not in the roster (``departed``), not only those who left since the last read (``gone``):
        # an ending a crash cut short is found again here
        gone, departed = uow.roster.deactivate_absent(present, now) if raws else ([], [])
        open_matches = uow.matches.many(uow.matches.active_of_mentors(departed))
        met = [i for i, m in uow.matches.meetings(list(open_matches)).items() if m.start <= now]
        end, flags = settle_departures(
            {i: m.mentor_email.lower() for i, m in open_matches.items()}, met, {g.lower() for g in gone}
        )
        uow.followup.record_flags(flags, now)
        unfinished = uow.matches.unfinished_endings(MENTOR_LEFT)
    # each ending frees the place, cancels the meeting, tells whoever may be written to, and re-queues the mentee
    # (waiting time kept); one whose cancel or emails failed is finished by a later run (idempotent by ledger key)
    for match_id in [*end, *unfinished]:
        end_relationship(svc, match_id, MENTOR_LEFT, "roster", now)
    log(
        "roster synced",
        read=len(raws),
        added=added,
        updated=updated,
        set_aside=len(bad),
        left=len(gone),
        matches_ended=len(end),
    )
    mapping = mapping_report(check for _, check in inspected)
    return RosterReport(read=len(raws), added=added, updated=updated, set_aside=bad, mapping=mapping)


@task(
    name="fetch-responses",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=10,
    retry_condition_fn=retry_if_transient,
)
def fetch_responses() -> IntakeBatch:
    """New or edited form answers since the stored watermark (reading has no side effect: safe to retry)."""
    svc = current_services()
    source = svc.connectors.intake
    with svc.store.unit_of_work() as uow:
        watermark = uow.requests.watermark(source.name)
    return source.fetch(watermark)


def withdraw_requests(uow: UnitOfWork, withdrawals: list[Withdrawal], now: datetime) -> int:
    """Cancel the open request of each mentee whose later answer refuses contact, and end its match (the mentor's
    place is freed; no invite, survey or reminder goes out for a canceled request). Returns how many."""
    if not withdrawals:
        return 0
    by_email: dict[str, Withdrawal] = {}
    by_response: dict[str, Withdrawal] = {}
    for w in sorted(withdrawals, key=lambda w: w.submitted_at):
        by_email[str(w.email).lower()], by_response[w.response_id] = w, w
    # the request of the person's email, and the one the same form response opened (an edit may change the email)
    found = [(r, by_email[e]) for e, r in uow.requests.open_of(list(by_email)).items()]
    found += [(r, by_response[rid]) for rid, r in uow.requests.open_of_responses(list(by_response)).items()]
    chosen = list({r.id: r for r, w in found if r.application.submitted_at < w.submitted_at}.values())
    matches = uow.matches.active_of_requests([r.id for r in chosen])
    why = "consent to contact withdrawn in a later answer"
    for r in chosen:
        if r.id in matches:
            uow.matches.end(matches[r.id], why, "mentee", now, requeue=False)
        uow.requests.transition(r.id, RequestStatus.CANCELED, "mentee", why, now)
    return len(chosen)


def ask_for_info(
    uow: UnitOfWork, good: list[MenteeApplication], bad: list[tuple[tuple[str, datetime], SetAside]], now: datetime
) -> None:
    """A pending request whose person's latest answer must be completed waits in needs_info; a later valid answer
    brings it back to pending (statuses set where they happen: invariant 6)."""
    latest: dict[str, tuple[datetime, SetAside | None]] = {}
    for app in good:
        e = str(app.email).lower()
        if e not in latest or app.submitted_at >= latest[e][0]:
            latest[e] = (app.submitted_at, None)
    for (e, at), problem in bad:
        if e not in latest or at > latest[e][0]:
            latest[e] = (at, problem)
    # only these can change: a pending request whose person's latest answer is bad, a waiting one whose is good
    bad_latest = [e for e, (_, item) in latest.items() if item is not None]
    good_latest = [e for e, (_, item) in latest.items() if item is None]
    found = uow.requests.open_states(bad_latest, [RequestStatus.PENDING])
    found |= uow.requests.open_states(good_latest, [RequestStatus.NEEDS_INFO])
    for e, r in found.items():
        at, item = latest[e]
        if item is not None and r.status is RequestStatus.PENDING and at > r.submitted_at:
            why = "a later answer must be completed: " + "; ".join(item.reasons)
            uow.requests.transition(r.request_id, RequestStatus.NEEDS_INFO, "intake", why, now)
        elif item is None and r.status is RequestStatus.NEEDS_INFO:
            uow.requests.transition(r.request_id, RequestStatus.PENDING, "intake", "the answer was completed", now)


Parsed = list[tuple[RawResponse, MenteeApplication | SetAside]]
_PARSED: list[tuple[weakref.ref[IntakeBatch], ProgramRules, str, datetime, Parsed]] = []
_PARSED_LOCK = threading.Lock()


def parsed_answers(batch: IntakeBatch, rules: ProgramRules, tz: str, now: datetime) -> Parsed:
    """Each answer of the batch with what :func:`parse_mentee` makes of it, worked out once per batch: saving
    and the fix-it notes both need it, and parsing was most of a large intake's own time (issue #12). Kept only
    while the batch lives (the flow hands the same batch to both tasks; a copy is simply parsed again)."""
    with _PARSED_LOCK:
        for ref, r, t, n, parsed in _PARSED:
            if ref() is batch and r is rules and t == tz and n == now:
                return parsed
    parsed = [(raw, parse_mentee(raw, rules, tz, now=now)) for raw in batch.responses]
    with _PARSED_LOCK:
        _PARSED[:] = [e for e in _PARSED if e[0]() is not None][-3:]
        _PARSED.append((weakref.ref(batch), rules, tz, now, parsed))
    return parsed


def retry_if_taken_in_meanwhile(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Another intake stored the same answers at the same moment (the watch's own and a scheduled one): the
    store's uniqueness refused this write (PostgreSQL), or SQLite refused a write on a stale read. Read again,
    the answers are taken in already: the retry finds them unchanged, so nothing is stored or sent twice."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    try:
        state.result()
    except IntegrityError:
        return True
    except OperationalError as exc:
        return "locked" in str(exc)
    except Exception:
        return False
    return False


@task(
    name="save-applications",
    cache_policy=NO_CACHE,
    retries=1,
    retry_delay_seconds=1,
    retry_condition_fn=retry_if_taken_in_meanwhile,
)
def save_applications(batch: IntakeBatch, now: datetime) -> IntakeReport:
    """Validate every answer; upsert the good ones (by response id, else email), set the bad ones aside, move
    the watermark.

    All three in one unit of work: a run killed halfway keeps nothing and reads the same answers again.
    """
    svc = current_services()
    tz = svc.settings.timezone
    parsed = parsed_answers(batch, svc.rules, tz, now)
    good = [p for _, p in parsed if isinstance(p, MenteeApplication)]
    withdrawals: list[Withdrawal] = []
    bad = list(batch.problems)
    people = [""] * len(bad)
    given: list[datetime | None] = [None] * len(bad)
    for raw, p in parsed:
        if isinstance(p, SetAside):
            w = parse_withdrawal(raw, svc.rules, tz)  # "do not contact me" is an answer, not a mistake
            if w is not None:
                withdrawals.append(w)
            else:
                bad.append(p)
                people.append(next(iter(emails_in(raw)), ""))
                given.append(raw.submitted_at)
    secret = svc.settings.survey_token_secret.get_secret_value()
    with svc.store.unit_of_work() as uow:
        # an answer given before its person was forgotten stays forgotten (a form such as Google Forms keeps
        # it and may be read again); one given after is a returning person, taken in as anyone else
        answers: list[MenteeApplication | Withdrawal] = [*good, *withdrawals]
        hashes = {a.response_id: forgotten_hash(str(a.email), secret) for a in answers}
        of_bad = [forgotten_hash(e, secret) if e else "" for e in people]
        erased_at = uow.erasure.forgotten([*hashes.values(), *filter(None, of_bad)])
        old = {a.response_id for a in good if a.submitted_at <= erased_at.get(hashes[a.response_id], EPOCH)}
        good = [a for a in good if a.response_id not in old]
        # the same for an answer set aside: not set aside again (it would name the person to the lead)
        gone = [h in erased_at and (at is None or at <= erased_at[h]) for h, at in zip(of_bad, given, strict=True)]
        bad = [b for b, g in zip(bad, gone, strict=True) if not g]
        people = [e for e, g in zip(people, gone, strict=True) if not g]
        returning = sum(hashes[a.response_id] in erased_at for a in good)
        counts = uow.requests.save_applications(good, now)
        withdrawn = withdraw_requests(uow, withdrawals, now)
        # refusing contact refuses the newsletter too, whatever became of the request (a completed mentee is still
        # a reader until then); for good: a later application does not undo it
        refusing = [w for w in withdrawals if w.submitted_at > erased_at.get(hashes[w.response_id], EPOCH)]
        uow.newsletter.unsubscribe_many([person_key(str(w.email), secret) for w in refusing], "withdrawal", now)
        uow.requests.record_set_aside(bad, "mentee", now, people)
        ask_for_info(
            uow,
            good,
            [
                (a, p)
                for raw, p in parsed
                if isinstance(p, SetAside) and (a := answer_of(raw, svc.rules, tz)) is not None
            ],
            now,
        )
        # a later valid answer (or withdrawal) of the same person or response resolves what was set aside
        answered: list[MenteeApplication | Withdrawal] = [*good, *withdrawals]
        uow.requests.resolve_set_aside(
            "mentee", [str(a.email) for a in answered], [a.response_id for a in answered], now
        )
        if batch.watermark is not None:
            uow.requests.set_watermark(svc.connectors.intake.name, batch.watermark, now)
    log(
        "applications saved",
        received=len(batch.responses),
        set_aside=len(bad),
        withdrawn=withdrawn,
        returning=returning,
        erased=len(old) + sum(gone),
        **dict(counts),
    )
    return IntakeReport(
        received=len(batch.responses),
        created=counts["created"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        set_aside=bad,
        returning=returning,
        erased=len(old) + sum(gone),
    )


def count_new_answers() -> tuple[int, str | None]:
    """How many answers (and unreadable ones) arrived after the stored watermark, and the watermark they reach.

    Only reads (one list request for Google Forms), and is no task: the watch looks every minute, and a look
    that finds nothing should leave no trace. The intake run that follows stores them and moves the watermark.
    """
    svc = current_services()
    source = svc.connectors.intake
    with svc.store.unit_of_work() as uow:
        since = uow.requests.watermark(source.name)
    batch = source.fetch(since)
    return len(batch.responses) + len(batch.problems), batch.watermark

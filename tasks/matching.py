"""Tasks of the match stage: propose a batch from the store, record the lead's decision."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from prefect import task
from prefect.cache_policies import NO_CACHE

from domain.approval import ProposalLine, WaitingProposal
from domain.links import person_key
from domain.matching import propose_matches
from domain.models import MatchResult, Mentor, ProposedMatch, RequestStatus, Role, Unmatched
from mentorflow.bootstrap import current_services
from mentorflow.lead import Closing, save_decision
from tasks.common import log
from tasks.reporting import md_table


def own_capacities(
    mentors: list[Mentor], pauses: Mapping[str, datetime], capacities: Mapping[str, int], secret: str
) -> list[Mentor]:
    """The mentors as they asked through their self-service links: a paused mentor takes no one until their
    return date, and a capacity they set replaces the roster's (both by the opaque key of the mentor)."""
    out: list[Mentor] = []
    for m in mentors:
        person = person_key(m.key, secret)
        if person in pauses:
            m = m.model_copy(update={"capacity": 0})
        elif person in capacities:
            m = m.model_copy(update={"capacity": capacities[person]})
        out.append(m)
    return out


class Planned(NamedTuple):
    """A plan of matches, with how many requests it planned and how many of them are paused, and the batches
    waiting for the lead that it read (their pairs win ties)."""

    result: MatchResult
    pending: int
    paused: int
    waiting: list[WaitingProposal]


def plan_matches(now: datetime, objective: Literal["fit", "participation", "stable"] | None = None) -> Planned:
    """Match every pending request against the mentors' remaining capacity (reads only: nothing is recorded)."""
    svc = current_services()
    with svc.store.unit_of_work() as uow:
        pending = uow.requests.all(RequestStatus.PENDING)
        since = now - timedelta(days=svc.rules.matching.relationship_days)
        mentors, load = uow.roster.mentors(), uow.matches.mentor_load(since)
        paused, tz = uow.self_service.paused_requests(now), ZoneInfo(svc.settings.timezone)
        mentor_pauses, capacities = uow.self_service.pauses(Role.MENTOR, now), uow.self_service.capacities()
        waiting = uow.matches.waiting_proposals()
    # the pairs the lead is already asked about win ties, latest batch last (it supersedes the others)
    keep = {m.request_id: str(m.mentor_email) for w in waiting for m in w.result.matches}
    on_pause = [
        Unmatched(request_id=r.id, reason=f"paused by the mentee until {paused[r.id].astimezone(tz):%Y-%m-%d}")
        for r in pending
        if r.id in paused
    ]
    pending = [r for r in pending if r.id not in paused]
    mentors = own_capacities(mentors, mentor_pauses, capacities, svc.settings.survey_token_secret.get_secret_value())
    result = propose_matches(pending, mentors, load, svc.rules, now, objective, keep)
    result = result.model_copy(update={"waitlist": [*result.waitlist, *on_pause]})  # the lead sees why they wait
    return Planned(result, len(pending), len(paused), waiting)


@task(name="propose-matches", cache_policy=NO_CACHE)
def propose(now: datetime, objective: Literal["fit", "participation", "stable"] | None = None) -> MatchResult:
    """Match every pending request against the mentors' remaining capacity."""
    result, pending, paused, _ = plan_matches(now, objective)
    log(
        "matches proposed",
        pending=pending,
        paused=paused,
        proposed=len(result.matches),
        waiting=len(result.waitlist),
    )
    return result


@task(name="record-decision", cache_policy=NO_CACHE)
def record_decision(
    result: MatchResult,
    approved: list[ProposedMatch],
    rejected: dict[int, str],
    actor: str,
    now: datetime,
    closing: Closing | None = None,
) -> list[int] | None:
    """The task form of :func:`save_decision` (one unit of work), so the decision shows in the run."""
    with current_services().store.unit_of_work() as uow:
        ids = save_decision(uow, result, approved, rejected, actor, now, closing)
    if ids is not None:
        log("decision recorded", approved=len(ids), rejected=len(rejected), waiting=len(result.waitlist))
    return ids


@task(name="load-waiting-proposals", cache_policy=NO_CACHE)
def load_waiting_proposals() -> list[WaitingProposal]:
    """The batches kept for the lead and not decided yet."""
    with current_services().store.unit_of_work() as uow:
        return uow.matches.waiting_proposals()


@task(name="retire-waiting-proposals", cache_policy=NO_CACHE)
def retire_waiting_proposals() -> list[str]:
    """A match run whose plan asks the lead nothing retires the batches still waiting: it re-planned their
    requests with every place as it is now, so a pair it did not propose again is no longer possible (its
    mentor's place went to someone else). Approving such a batch later, on time-out or by the lead, would give a
    mentor more mentees than their capacity (invariant 2). Returns the retired batches' flow run ids."""
    with current_services().store.unit_of_work() as uow:
        return uow.matches.supersede_waiting()


@task(name="keep-proposal", cache_policy=NO_CACHE)
def keep_proposal(ask: MatchResult, flow_run_id: str, now: datetime) -> int:
    """Keep a batch for the lead (an older one still waiting is superseded); returns its id."""
    with current_services().store.unit_of_work() as uow:
        return uow.matches.save_proposal(ask, flow_run_id, now)


@task(name="describe-proposals", cache_policy=NO_CACHE)
def proposal_lines(result: MatchResult) -> list[ProposalLine]:
    """The proposals with the mentee's and the mentor's names (one read of the store)."""
    with current_services().store.unit_of_work() as uow:
        named = uow.roster.many([str(m.mentor_email) for m in result.matches])  # these mentors only, not the roster
        mentors = {key: m.name for key, m in named.items()}
        requests = uow.requests.many([m.request_id for m in result.matches])
    return [
        ProposalLine(
            request_id=m.request_id,
            mentee=requests[m.request_id].application.name,
            mentor=mentors.get(str(m.mentor_email).lower(), "?"),
            score=m.score,
            reasons=list(m.reasons),
        )
        for m in result.matches
    ]


def describe_proposals(result: MatchResult, lines: list[ProposalLine] | None = None) -> str:
    """The proposals and the waitlist as markdown tables for the lead (names from the store, unless ``lines``
    already has them)."""
    if lines is None:
        lines = proposal_lines(result) if result.matches else []
    rows = [p.cells() for p in lines]
    table = md_table(["request", "mentee", "mentor", "score", "reasons"], rows) if rows else "No proposals."
    waitlist = (
        md_table(["request", "why waiting"], [(w.request_id, w.reason) for w in result.waitlist])
        if result.waitlist
        else "Nobody is waiting."
    )
    return f"### Proposed matches\n{table}\n\n### Waitlist\n{waitlist}"


@task(name="proposal-status-of-run", cache_policy=NO_CACHE)
def proposal_status_of_run(run_id: str) -> str | None:
    """The status of the batch this flow run proposed (waiting, decided, superseded), or None when it has none."""
    with current_services().store.unit_of_work() as uow:
        return uow.matches.proposal_status_of_run(run_id)

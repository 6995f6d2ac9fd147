"""Erasure on request and the retention policy: ``mentorflow forget``, the self-service erase link, and the
scheduled privacy run. The decisions are in ``domain/erasure.py``; this module only does the I/O.

``forget_person`` (the one code path for the lead's command and for erase links), in this order, so that a run
killed halfway can be repeated (the store, which holds the person's names, goes last):

1. every active match of theirs is ended through ``tasks.lifecycle.end_relationship``: the future meeting is
   cancelled in the calendar and both sides are told; the other side of a mentee's match keeps their place
   (the mentor's place is freed), a forgotten mentor's mentees go back to the waitlist, first in line;
2. local files: form-export and survey rows blanked, outbox emails and invitations that name them deleted,
   digests on disk scrubbed, their roster entry removed (a mentors page is reported for the lead to edit);
3. the Prefect artifacts that name them are deleted, when a Prefect API is configured;
4. one unit of work deletes them from every table and keeps only their keyed hash (a returning person is then
   recognised at intake).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, Field

from connectors.local.erasure import (
    blank_rows,
    delete_emails,
    delete_invites,
    naming,
    remove_from_roster,
    scrub_files,
)
from domain.erasure import ERASE, Person, forgotten_hash, names_person, people_by_key, retention_due
from domain.followup import read_survey_link
from domain.links import LinkRefused, person_key, verify_link
from domain.models import Role
from mentorflow.bootstrap import Services, current_services
from store.sql import chunks
from tasks.lifecycle import end_relationship
from tasks.logs import log

ERASURE_REASON = "ended: one side asked to be forgotten"


class ForgetReport(BaseModel):
    """What ``forget`` removed, as counts per place (no personal data)."""

    known: bool = Field(description="whether the store knew the address at all")
    ended_matches: int = 0
    store: dict[str, int] = Field(default_factory=dict, description="rows removed or rewritten per table")
    files: dict[str, int] = Field(default_factory=dict, description="rows blanked or files removed per place")
    prefect_artifacts: int | None = Field(None, description="artifacts deleted; None without a Prefect API")
    roster_page_names_them: bool = False

    def render(self) -> str:
        """The lead's summary: counts per place."""
        lines = [f"ended matches (meeting cancelled, both sides told): {self.ended_matches}"]
        lines += [f"store {table}: {n}" for table, n in sorted(self.store.items())]
        lines += [f"files {place}: {n}" for place, n in sorted(self.files.items())]
        lines.append(
            "prefect artifacts: no Prefect API configured (PREFECT_API_URL)"
            if self.prefect_artifacts is None
            else f"prefect artifacts: {self.prefect_artifacts}"
        )
        if self.roster_page_names_them:
            lines.append("the roster page still names them: remove their row from it")
        if not self.known:
            lines.insert(0, "the store did not know this address; files and artifacts were searched anyway")
        return "\n".join(lines)


def _prefect_api() -> str | None:
    """The configured Prefect API, or inside a flow run the API that run reports to (e.g. a temporary server)."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return str(PREFECT_API_URL.value())
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    return "the flow run's server" if context is not None and context.flow_run is not None else None


def _artifact_text(*parts: object) -> str:
    """An artifact's markdown with its escapes undone (``md_escape``), so names and addresses can be found."""
    text = "\n".join(str(p) for p in parts if p)
    return re.sub(r"\\(.)", r"\1", text).replace("\u200b", "")


def delete_artifacts_naming(person: Person) -> int | None:
    """Delete every Prefect artifact whose markdown or description names the person; None without an API."""
    if _prefect_api() is None:
        return None
    from prefect.client.orchestration import get_client

    deleted, offset = 0, 0
    with get_client(sync_client=True) as client:
        while True:
            page = client.read_artifacts(limit=200, offset=offset)
            if not page:
                return deleted
            doomed = [a for a in page if names_person(_artifact_text(a.data, a.description), person)]
            for artifact in doomed:
                client.delete_artifact(artifact.id)
            deleted += len(doomed)
            offset += len(page) - len(doomed)


def _erase_files(svc: Services, person: Person, match_ids: set[int], event_ids: set[str]) -> tuple[Counter[str], bool]:
    settings, secret = svc.settings, svc.settings.survey_token_secret.get_secret_value()
    files: Counter[str] = Counter()
    names = naming(person)

    def survey_row(cells: list[str]) -> bool:
        links = [read_survey_link(c, secret) for c in cells if c.count(".") == 3]
        return names(cells) or any(c is not None and c.match_id in match_ids for c in links)

    page_names_them = False
    if settings.intake == "local":
        files["form exports (rows)"] = blank_rows(settings.inbox(), names)
    if settings.surveys == "local":
        files["survey answers (rows)"] = blank_rows(settings.survey_inbox(), survey_row)
    if settings.mailer == "local":
        files["outbox emails"] = delete_emails(settings.outbox(), person)
    if settings.calendar == "local":
        files["invitations (.ics)"] = delete_invites(settings.invites_dir(), person, event_ids)
    files["digests on disk"] = scrub_files(settings.digests_dir(), person)
    if settings.roster == "local":
        files["roster entries"], page_names_them = remove_from_roster(settings.roster_file(), person)
    return +files, page_names_them


def forget_person(svc: Services, email: str, now: datetime, actor: str = "lead") -> ForgetReport:
    """Erase the person of ``email`` everywhere mentorflow keeps them (see the module's docstring)."""
    secret = svc.settings.survey_token_secret.get_secret_value()
    address = email.strip().casefold()
    with svc.store.unit_of_work() as uow:
        footprint = uow.erasure.footprint(address)
    ended = 0
    with svc.store.unit_of_work() as uow:
        sides = {
            m.id: Role.MENTOR if str(m.mentor_email).lower() == address else Role.MENTEE
            for m in uow.matches.many(footprint.active_match_ids).values()
        }
    for match_id, side in sides.items():  # the other side is told; the person who is forgotten gets no more mail
        if end_relationship(svc, match_id, ERASURE_REASON, actor, now, untold=side) is not None:
            ended += 1
    person = footprint.person
    files, page_names_them = _erase_files(svc, person, set(footprint.match_ids), set(footprint.event_ids))
    artifacts = delete_artifacts_naming(person)
    with svc.store.unit_of_work() as uow:
        store = uow.erasure.forget(footprint, person_key(address, secret), forgotten_hash(address, secret), now)
    known = bool(footprint.request_ids or footprint.mentor)
    log("person forgotten", known=known, ended=ended, rows=sum(store.values()), files=sum(files.values()))
    return ForgetReport(
        known=known,
        ended_matches=ended,
        store=dict(store),
        files=dict(files),
        prefect_artifacts=artifacts,
        roster_page_names_them=page_names_them,
    )


# --- the self-service link ------------------------------------------------------------------------------------


def request_erasure(svc: Services, token: str, now: datetime) -> str:
    """Honour a signed "erase my data" link: the request is kept (by opaque key) for the next privacy run."""
    try:
        claims = verify_link(token, svc.settings.survey_token_secret.get_secret_value(), ERASE, now)
    except LinkRefused as refused:
        return f"not erased: {refused.reason}"
    with svc.store.unit_of_work() as uow:
        new = uow.erasure.request_erasure(claims.subject, now)
    return "erasure requested: the next privacy run erases the data" if new else "erasure already requested"


class ErasuresReport(BaseModel):
    requested: int
    forgotten: int
    unknown: int
    reports: list[ForgetReport] = Field(default_factory=list, description="what each erasure removed (counts)")


@task(name="carry-out-erasures", cache_policy=NO_CACHE)
def carry_out_erasures(now: datetime) -> ErasuresReport:
    """Forget everyone who used an erase link since the last run (the same code path as ``mentorflow forget``)."""
    svc = current_services()
    secret = svc.settings.survey_token_secret.get_secret_value()
    with svc.store.unit_of_work() as uow:
        pending = uow.erasure.erase_requests()
        known = people_by_key(uow.erasure.known_emails(), secret) if pending else {}
    unknown = [p for p in pending if p not in known]
    reports = [forget_person(svc, known[k], now, actor="mentee") for k in pending if k in known]
    if unknown:
        with svc.store.unit_of_work() as uow:
            uow.erasure.drop_erase_requests(unknown)
    log("erasures carried out", requested=len(pending), unknown=len(unknown))
    return ErasuresReport(requested=len(pending), forgotten=len(reports), unknown=len(unknown), reports=reports)


# --- retention ---------------------------------------------------------------------------------------------------


class RetentionReport(BaseModel):
    ended_requests: int
    answers_dropped: int
    store: dict[str, int]
    form_rows_blanked: int


@task(name="apply-retention", cache_policy=NO_CACHE)
def apply_retention(now: datetime) -> RetentionReport:
    """Delete what the retention policy says is due (``domain.erasure.retention_due``), set-based, in one unit of
    work; then blank the raw rows of those people's answers in the local form exports."""
    svc = current_services()
    with svc.store.unit_of_work() as uow:
        due = retention_due(uow.erasure.request_ages(), svc.rules.retention, now)
        emails = uow.erasure.emails_of([*due.ended_requests, *due.answers_of])
        store: Counter[str] = Counter()
        for part in chunks(due.ended_requests, 2_000):  # bounded IN lists, one unit of work
            store += uow.erasure.delete_requests(part)
        dropped, _ = uow.erasure.drop_free_text(due.answers_of)
    blanked = 0
    if svc.settings.intake == "local" and emails:
        wanted = set(emails)
        blanked = blank_rows(svc.settings.inbox(), lambda cells: any(c.strip().casefold() in wanted for c in cells))
    log("retention applied", ended=len(due.ended_requests), answers=dropped, rows=blanked)
    return RetentionReport(
        ended_requests=len(due.ended_requests), answers_dropped=dropped, store=dict(store), form_rows_blanked=blanked
    )


class PrefectPruneReport(BaseModel):
    flow_runs: int
    artifacts: int


@task(name="prune-prefect-runs", cache_policy=NO_CACHE)
def prune_prefect_runs(before: datetime) -> PrefectPruneReport | None:
    """Delete mentorflow's finished Prefect flow runs that started before ``before``, with their artifacts (their
    logs go with the server's orphan vacuum); None without a Prefect API."""
    if _prefect_api() is None:
        return None
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import TERMINAL_STATES

    old = FlowRunFilter(
        tags=FlowRunFilterTags(all_=["mentorflow"]),
        start_time=FlowRunFilterStartTime(before_=before),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(TERMINAL_STATES))),
    )
    runs = artifacts = 0
    with get_client(sync_client=True) as client:
        while page := client.read_flow_runs(flow_run_filter=old, limit=200):
            ids = [r.id for r in page]
            of_runs = ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids))
            while found := client.read_artifacts(artifact_filter=of_runs, limit=200):
                for artifact in found:
                    client.delete_artifact(artifact.id)
                artifacts += len(found)
            for run_id in ids:
                client.delete_flow_run(run_id)
                runs += 1
    log("prefect runs pruned", flow_runs=runs, artifacts=artifacts)
    return PrefectPruneReport(flow_runs=runs, artifacts=artifacts)

"""Tasks of the newsletter: compose a preview for the lead, send an approved issue to its readers, unsubscribe."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from connectors.base import Address, OutgoingEmail, TransientError
from connectors.local.files import write_private
from domain.digest import build_digest
from domain.erasure import erase_token
from domain.keys import DigestPreviewKey, NewsletterKey
from domain.links import LinkRefused, verify_link
from domain.messages import Rendered, render_digest
from domain.models import MentoringRequest, RequestStatus
from domain.newsletter import (
    UNSUBSCRIBE,
    Candidate,
    Preview,
    Reader,
    newsletter_audience,
    quote_candidates,
    unsubscribe_headers,
    unsubscribe_token,
)
from mentorflow.bootstrap import Services, current_services
from store.ledger import Outcome, send_once
from tasks.common import each, log, retry_if_transient
from tasks.compose import bulk_email


class CopiesLeft(TransientError):
    """Some copies of an issue failed for now (each was known not sent, or left pending to settle): the next run
    sends them. Each copy had its retries already (the connector's, or the task's for what it did not retry):
    the task is not run again for them."""

    task_may_retry = False


class NewsletterReport(BaseModel):
    readers: dict[str, int]
    sent: int
    already_sent: int
    uncertain: int


def readers(svc: Services) -> list[Reader]:
    """Who gets the newsletter now: opted in (roster field, or a mentee's latest answer) and not unsubscribed (an
    answer withdrawing consent to be contacted unsubscribes too: see intake)."""
    with svc.store.unit_of_work() as uow:
        candidates = [
            Candidate(email=m.email, name=m.name, languages=m.languages, opted_in=m.newsletter)
            for m in uow.roster.mentors(active_only=True)
            if m.email is not None
        ]
        latest: dict[str, MentoringRequest] = {}
        for r in sorted(uow.requests.all(), key=lambda r: (r.created_at, r.id)):
            latest[str(r.application.email).casefold()] = r
        candidates += [
            Candidate(
                email=r.application.email,
                name=r.application.name,
                languages=r.application.languages,
                opted_in=r.application.newsletter,
            )
            for r in latest.values()
        ]
        gone = uow.newsletter.unsubscribed()
    digest = svc.rules.digest
    return newsletter_audience(
        candidates,
        gone,
        secret=svc.settings.survey_token_secret.get_secret_value(),
        languages=digest.languages,
        default_language=digest.language,
    )


@task(name="preview-newsletter", cache_policy=NO_CACHE)
def preview_newsletter(start: datetime, end: datetime, now: datetime) -> Preview:
    """The period's preview: composed once (in every newsletter language, quotes only as candidates for the
    lead), then the same one on every rerun, with the lead's decision."""
    svc = current_services()
    rules = svc.rules
    with svc.store.unit_of_work() as uow:
        stored = uow.newsletter.preview(start, end)
        if stored is not None:
            return stored
        answers = uow.followup.survey_answers(start, end)
        issues = {
            language: build_digest(
                period_start=start.date(),
                period_end=(end - timedelta(days=1)).date(),
                language=language,
                new_mentor_names=[m.name for m in uow.roster.joined(start, end) if m.active],
                matches_made=len(uow.matches.made(start, end)),
                meetings_held=uow.matches.meetings_held(start, end),
                # quotes wait for the lead: they are candidates in the preview, not part of the issue
                answers=[a.model_copy(update={"consent_quote": False}) for a in answers],
                requested_topics=[a.topics for a in uow.requests.applications_received(start, end)],
                waiting_topics=[r.application.topics for r in uow.requests.all(RequestStatus.PENDING)],
                mentor_expertise=[m.expertise for m in uow.roster.mentors(active_only=True)],
                rules=rules,
            )
            for language in rules.digest.languages
        }
        names = [m.name for m in uow.roster.mentors()] + [r.application.name for r in uow.requests.all()]
        consented = [a.free_text for a in sorted(answers, key=lambda a: a.submitted_at) if a.consent_quote]
        preview = Preview(
            period_start=start,
            period_end=end,
            composed_at=now,
            issues=issues,
            quotes=quote_candidates(consented, names),
        )
        return uow.newsletter.save_preview(preview)


def render_preview(preview: Preview) -> dict[str, Rendered]:
    """The issue as readers would get it, per language (approved quotes included, no personal link)."""
    svc = current_services()
    return {lang: render_digest(svc.templates, preview.final_issue(lang), svc.rules) for lang in preview.issues}


@task(
    name="send-preview",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[10, 60, 300],
    retry_condition_fn=retry_if_transient,
)
def send_preview(preview: Preview, now: datetime) -> Outcome:
    """Mail the preview to the lead once (ledger key ``digest-preview:<start>:<end>``)."""
    svc = current_services()
    rules = svc.rules
    rendered = render_preview(preview)[
        rules.digest.language if rules.digest.language in preview.issues else next(iter(preview.issues))
    ]
    rendered = Rendered(subject=f"[preview] {rendered.subject}", text=rendered.text, html=rendered.html)
    key = str(DigestPreviewKey(start=preview.period_start.date(), end=preview.period_end.date()))
    message = bulk_email(
        key, [Address(email=rules.lead_email, name="lead")], rendered, rules.digest.language, "digest-preview", rules
    )
    return send_once(svc.store, svc.connectors.mailer, message, "digest-preview", now)


def reader_counts(svc: Services) -> dict[str, int]:
    return dict(sorted(Counter(r.language for r in readers(svc)).items()))


def _send_copy(svc: Services, preview: Preview, reader: Reader, now: datetime) -> Outcome:
    """One reader's copy of the issue, with their own unsubscribe and erase links, once (its ledger key)."""
    rules, secret = svc.rules, svc.settings.survey_token_secret.get_secret_value()
    token = unsubscribe_token(reader, secret, now, rules.digest.unsubscribe_link_valid_days)
    url = rules.digest.unsubscribe_url_template.format(token=token)
    erase = erase_token(str(reader.email), secret, now, rules.retention.erase_link_valid_days)
    issue = preview.final_issue(reader.language)
    page = render_digest(
        svc.templates,
        issue,
        rules,
        unsubscribe_url=url,
        erase_url=rules.retention.erase_url_template.format(token=erase),
    )
    key = NewsletterKey(start=preview.period_start.date(), end=preview.period_end.date(), person=reader.person)
    to = [Address(email=str(reader.email), name=reader.name)]
    base = bulk_email(str(key), to, page, reader.language, "digest", rules)
    message = OutgoingEmail.model_validate(base.model_dump() | {"headers": unsubscribe_headers(url)})
    return send_once(svc.store, svc.connectors.mailer, message, "newsletter", now)


def released_copies(svc: Services) -> list[tuple[Preview, Reader]]:
    """Copies of issues already recorded as sent that the lead released (``mentorflow ledger release``: checked
    and not delivered), for readers still reading. An issue is recorded as sent although a copy was left
    ``uncertain`` (nothing the program can do settles it); the released copy is then owed by a later run."""
    with svc.store.unit_of_work() as uow:
        released = uow.ledger.keys("newsletter:", "failed")
        if not released:
            return []
        issues = {(p.period_start.date(), p.period_end.date()): p for p in uow.newsletter.sent()}
    audience = {r.person: r for r in readers(svc)}
    owed: list[tuple[Preview, Reader]] = []
    for key in sorted(released):
        _, start, end, person = key.split(":", 3)
        preview = issues.get((date.fromisoformat(start), date.fromisoformat(end)))
        if preview is not None and person in audience:  # else: still being sent, or the reader left since
            owed.append((preview, audience[person]))
    return owed


@task(name="send-released-copies", cache_policy=NO_CACHE)
def send_released_copies(now: datetime) -> int:
    """Send each released copy of an issue already sent (see :func:`released_copies`), once; how many went."""
    svc = current_services()
    owed = released_copies(svc)
    done, failed = each(range(len(owed)), lambda n: _send_copy(svc, owed[n][0], owed[n][1], now))
    sent = sum(1 for outcome in done.values() if outcome is Outcome.PERFORMED)
    log("released newsletter copies", owed=len(owed), sent=sent, failed=len(failed))
    return sent


@task(
    name="send-newsletter",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[10, 60, 300],
    retry_condition_fn=retry_if_transient,
)
def send_newsletter(preview: Preview, now: datetime) -> NewsletterReport:
    """Send the approved issue to each reader as they stand now (an unsubscribe up to this moment counts), in
    their language, with their own one-click unsubscribe link and headers; each copy once (ledger key
    ``newsletter:<start>:<end>:<person>``). Then the period is recorded as published."""
    svc = current_services()
    rules = svc.rules
    audience = readers(svc)
    rendered = render_preview(preview)
    stem = svc.settings.digests_dir() / f"digest-{preview.period_end - timedelta(days=1):%Y-%m-%d}"
    for language, page in rendered.items():
        write_private(stem.with_name(f"{stem.name}.{language}.html"), page.html.encode())

    def send_copy(number: int) -> Outcome:
        return _send_copy(svc, preview, audience[number], now)

    done, failed = each(range(len(audience)), send_copy)  # one copy's failure never stops the others
    outcomes: Counter[str] = Counter(outcome.value for outcome in done.values())
    if failed:  # the issue is not recorded as sent: the task's retry (or the next run) sends what is missing
        log("newsletter copies not sent yet", readers=len(audience), failed=len(failed), **outcomes)
        raise CopiesLeft(f"{len(failed)} of {len(audience)} newsletter copies not sent yet (first: {failed[0][1]})")
    first = preview.final_issue(rules.digest.language)
    with svc.store.unit_of_work() as uow:
        uow.newsletter.update(preview.model_copy(update={"status": "sent"}))
        uow.digests.record(
            preview.period_start, preview.period_end, first.language, first.model_dump(mode="json"), str(stem), now
        )
    counts = dict(sorted(Counter(r.language for r in audience).items()))
    log("newsletter sent", readers=len(audience), **outcomes)
    return NewsletterReport(
        readers=counts,
        sent=outcomes[Outcome.PERFORMED.value],
        already_sent=outcomes[Outcome.ALREADY_DONE.value] + outcomes[Outcome.FOUND_DONE.value],
        uncertain=outcomes[Outcome.UNCERTAIN.value],
    )


@task(name="skip-newsletter", cache_policy=NO_CACHE)
def skip_newsletter(preview: Preview, now: datetime) -> None:
    """An issue with nothing to say is not sent; its period is recorded so the next one starts after it."""
    svc = current_services()
    issue = preview.final_issue(svc.rules.digest.language)
    with svc.store.unit_of_work() as uow:
        uow.newsletter.update(preview.model_copy(update={"status": "skipped"}))
        uow.digests.record(
            preview.period_start,
            preview.period_end,
            issue.language,
            issue.model_dump(mode="json") | {"skipped": True},
            "",
            now,
        )
    log("newsletter skipped: nothing to say")


# --- the lead's and the readers' own actions (CLI, self-service page) ------------------------------------------


def approve_newsletter(svc: Services, quote_ids: list[str], now: datetime) -> Preview | None:
    """The lead approves the waiting preview, with the quotes chosen by id (only those shown in it)."""
    with svc.store.unit_of_work() as uow:
        waiting = uow.newsletter.waiting()
        if waiting is None:
            return None
        shown = {q.id for q in waiting.quotes}
        approved = waiting.model_copy(
            update={"approved_at": now, "approved_quotes": [q for q in quote_ids if q in shown]}
        )
        uow.newsletter.update(approved)
        return approved


def unsubscribe(svc: Services, token: str, now: datetime, source: str = "link") -> str:
    """Honour a signed unsubscribe link (from now on: the very next send leaves the person out)."""
    try:
        claims = verify_link(token, svc.settings.survey_token_secret.get_secret_value(), UNSUBSCRIBE, now)
    except LinkRefused as refused:
        return f"not unsubscribed: {refused.reason}"
    with svc.store.unit_of_work() as uow:
        new = uow.newsletter.unsubscribe(claims.subject, source, now)
    return "unsubscribed" if new else "already unsubscribed"

"""``make demo``: the whole program on the sample data, across five weeks of "as of" dates.

Runs on the embedded defaults (SQLite, files) unless MENTORFLOW_* settings say otherwise. Running it
again with the same folder sends nothing twice: every side effect is in the ledger.
"""

from __future__ import annotations

import csv
import io
import os
import random
import shutil
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import yaml

from config import SAMPLES_DIR
from config.settings import Settings
from connectors.local.files import private_dir, write_private
from domain.followup import survey_token
from domain.keys import SurveyKey, parse_key
from mentorflow.bootstrap import Services, build_services, use_services

if TYPE_CHECKING:
    from flows.intake import IntakeSummary

SAMPLES = SAMPLES_DIR
PAGE = SAMPLES / "mentors-page.md"
MATCHED = ("approved", "scheduled", "met", "completed")


def _seed(directory: Path) -> None:
    """Put the sample roster and form exports where the local connectors read them."""
    inbox = private_dir(directory / "inbox")
    for name in ("mentees-he.csv", "mentees-en.json"):
        if not (inbox / name).exists():
            write_private(inbox / name, (SAMPLES / name).read_bytes())
    if not (directory / "mentors.yaml").exists():
        _write_roster(directory / "mentors.yaml")
    private_dir(directory / "surveys")


def _write_roster(path: Path) -> None:
    """The sample roster plus the mentors page's booking-link rows, as the page has them (free text, no email)."""
    from connectors.local.intake import Answer
    from connectors.local.roster import page_rows
    from domain.intake import contact_kind

    mentors = yaml.safe_load((SAMPLES / "mentors.yaml").read_text(encoding="utf-8"))
    if isinstance(mentors, dict):
        mentors = mentors["mentors"]
    page = page_rows(PAGE.name, PAGE.read_text(encoding="utf-8"))

    def by_link(row: dict[str, Answer]) -> bool:
        try:
            return contact_kind(str(row.get("קישור ליצירת קשר", ""))) == "booking_link"
        except ValueError:
            return False

    rows = [*mentors, *(row for row in page if by_link(row))]
    path.write_text(yaml.safe_dump(rows, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _simulate_answers(services: Services, at: datetime) -> int:
    """Demo only: people answer most surveys that went out (seeded, so reruns write the same answers)."""
    folder = private_dir(services.settings.survey_inbox())
    path = folder / "demo-answers.csv"
    if path.exists():
        return 0
    secret = services.settings.survey_token_secret.get_secret_value()
    with services.store.unit_of_work() as uow:
        sent = {e.key: e.updated_at for e in uow.ledger.entries(SurveyKey.prefix("survey"))}
    valid_for = timedelta(days=services.rules.followup.link_valid_days)
    rows = []
    for key, sent_at in sorted(sent.items()):
        survey = parse_key(key)
        assert isinstance(survey, SurveyKey)
        rng = random.Random(key)
        if rng.random() < 0.2:
            continue  # some never answer: the reminder and the "no answer" flag show
        met = rng.random() > 0.05
        rows.append(
            {
                "token": survey_token(survey.match_id, survey.role, secret, sent_at + valid_for),
                "timestamp": (at + timedelta(hours=rng.randint(1, 30))).isoformat(),
                "satisfaction": rng.choice([2, 3, 4, 4, 5, 5, 5]) if met else 1,
                "met": "yes" if met else "no",
                "still_in_touch": "yes" if met and rng.random() > 0.2 else "no",
                "adopted_idea": "yes" if met and rng.random() > 0.1 else "no",
                "free_text": rng.choice(
                    [
                        "שיחה מצוינת, קיבלתי כיוון ברור",
                        "Great first talk, very practical advice",
                        "",
                        "Helpful, we set a second meeting",
                    ]
                ),
                "consent_quote": "yes" if rng.random() > 0.4 else "no",
            }
        )
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(rows[0]) if rows else ["token"])
    writer.writeheader()
    writer.writerows(rows)
    write_private(path, text.getvalue().encode("utf-8"))
    return len(rows)


def run_demo(directory: Path, start: str, fresh: bool = False) -> str:
    """Run every stage over the sample data and return the summary the newcomer sees."""
    if fresh and directory.exists():
        shutil.rmtree(directory)
    private_dir(directory)
    # Prefect keeps its own state next to the demo's, so nothing leaks into ~/.prefect.
    os.environ.setdefault("PREFECT_HOME", str((directory / ".prefect").resolve()))
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    _seed(directory)
    # The demo's state is always its own folder, never the program's real data folder or store.
    settings = Settings(data_dir=directory, database_url=None)
    services = build_services(settings)

    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS,
        temporary_settings,
    )

    from flows.digest import digest
    from flows.followup import followup
    from flows.intake import intake
    from flows.invite import invite
    from flows.match import match
    from flows.privacy import privacy
    from flows.report import report

    tz = ZoneInfo(settings.timezone)
    day0 = datetime.combine(datetime.fromisoformat(start).date(), time(9, 0), tzinfo=tz)
    with services.store.unit_of_work() as uow:
        before = uow.reporting.status_report().ledger_by_status.get("done", 0)
    with (
        use_services(services),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None, PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS: 4}),
    ):
        taken_in = intake(day0)
        match(day0, approval="auto")
        invite(day0)
        paused = _simulate_pause(services, day0 + timedelta(days=1))
        intake(day0 + timedelta(days=1))  # the pause counts at the next run, and is confirmed by email
        followup(day0 + timedelta(days=8))  # booking-link mentees who have not met yet get their one nudge
        followup(day0 + timedelta(days=12))  # surveys go out a few days after the first meetings
        _simulate_answers(services, day0 + timedelta(days=12))
        followup(day0 + timedelta(days=14))  # answers in, flags raised
        _simulate_opt_ins(services, day0)
        newsletter = [_newsletter_issue(services, digest, day0 + timedelta(days=14))]
        newsletter.append(_simulate_unsubscribe(services, day0 + timedelta(days=15)))
        followup(day0 + timedelta(days=17))  # one reminder to those who did not answer
        followup(day0 + timedelta(days=30))  # follow-up closes
        newsletter.append(_newsletter_issue(services, digest, day0 + timedelta(days=28)))
        report(day0 + timedelta(days=28))
        summary = summarize(services, taken_in, before, paused)
        erased = _simulate_erasure(services, privacy, day0 + timedelta(days=29))
    return (
        summary
        + "\n\nNewsletter:\n"
        + "\n".join(f"  {n}" for n in newsletter)
        + "\n\nErasure:\n"
        + "\n".join(f"  {n}" for n in erased)
    )


def _simulate_opt_ins(services: Services, now: datetime) -> None:
    """Demo only: some mentors ticked "send me the newsletter" in the roster (seeded, the same every run)."""
    with services.store.unit_of_work() as uow:
        mentors = uow.roster.mentors(active_only=True)
        chosen = [
            m.model_copy(update={"newsletter": True})
            for m in mentors
            if m.email is not None and random.Random(m.key).random() < 0.6
        ]
        uow.roster.sync(chosen, now)


def _newsletter_issue(services: Services, digest_flow: Any, at: datetime) -> str:
    """Demo only: the digest run shows the preview, the lead approves it, the next run sends it."""
    from tasks.newsletter import approve_newsletter

    first = digest_flow(at)
    if not first.awaiting_approval:
        return f"issue {first.period or 'of this period'}: {'skipped (nothing to say)' if first.skipped else 'done'}"
    approve_newsletter(services, [], at + timedelta(hours=1))
    sent = digest_flow(at + timedelta(hours=2))
    return (
        f"issue {first.period}: preview to the lead (see the 'digest-preview' artifact and the outbox), "
        f"approved, then sent to {sent.sent} opted-in readers"
    )


def _simulate_unsubscribe(services: Services, at: datetime) -> str:
    """Demo only: one reader clicks the unsubscribe link of the issue they got."""
    from domain.newsletter import unsubscribe_token
    from tasks.newsletter import readers, unsubscribe

    audience = readers(services)
    if not audience:
        return "nobody to unsubscribe"
    token = unsubscribe_token(
        audience[0],
        services.settings.survey_token_secret.get_secret_value(),
        at,
        services.rules.digest.unsubscribe_link_valid_days,
    )
    outcome = unsubscribe(services, token, at)
    return f"one reader clicked their unsubscribe link: {outcome}; the next issue leaves them out"


def _simulate_erasure(services: Services, privacy_flow: Any, at: datetime) -> list[str]:
    """Demo only: a matched mentee clicks "erase my data"; the next privacy run forgets them everywhere."""
    from domain.erasure import Person, erase_token, names_person
    from tasks.erasure import request_erasure

    with services.store.unit_of_work() as uow:
        matched = [r for r in uow.requests.all() if r.status.value in MATCHED]
        earlier = uow.erasure.forgotten_count()
    if earlier:
        return [f"{earlier} person forgotten by an earlier demo run (a rerun erases no one else)"]
    if not matched:
        return ["nobody to erase"]
    who = matched[0].application
    secret = services.settings.survey_token_secret.get_secret_value()
    token = erase_token(str(who.email), secret, at, services.rules.retention.erase_link_valid_days)
    asked = request_erasure(services, token, at)
    run = privacy_flow(at + timedelta(hours=1))
    person = Person(email=str(who.email), names=[who.name])
    data = services.settings.data_dir
    left = [
        p
        for p in data.rglob("*")
        if p.is_file()
        and ".prefect" not in p.parts
        and "mentorflow.db" not in p.name
        and names_person(p.read_bytes().decode("utf-8", errors="replace"), person)
    ]
    lines = [f"a matched mentee clicked their 'erase my data' link: {asked}"]
    for done in run.erasures.reports:
        lines.append(
            f"the privacy run forgot them: {done.ended_matches} match ended (meeting cancelled, mentor told), "
            f"{sum(done.store.values())} rows in {len(done.store)} tables, "
            f"{sum(done.files.values())} files or rows in the data folder, "
            f"{done.prefect_artifacts if done.prefect_artifacts is not None else 'no'} Prefect artifacts"
        )
    lines.append(
        f"files in the data folder that still name them: {len(left)}; only a keyed hash of the address is kept "
        "(`mentorflow forget EMAIL` does the same at once)"
    )
    return lines


EPOCH = datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC"))
FAR = datetime(2100, 1, 1, tzinfo=ZoneInfo("UTC"))


def _simulate_pause(services: Services, at: datetime) -> str:
    """Demo only: the first mentee still waiting answers the "pause until" link of their acknowledgment."""
    from domain.models import RequestStatus, Role
    from domain.selfservice import Action
    from tasks.compose import links_for

    with services.store.unit_of_work() as uow:
        waiting = uow.requests.all(RequestStatus.PENDING)
    if not waiting:
        return "nobody waiting to pause"
    secret = services.settings.survey_token_secret.get_secret_value()
    [link] = [
        x for x in links_for(Role.MENTEE, waiting[0], None, services.rules, secret, at) if x.action is Action.PAUSE
    ]
    token = link.url.split("token=")[1].split("&")[0]
    folder = private_dir(services.settings.self_service_inbox())
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["token", "action", "timestamp", "until"])
    writer.writeheader()
    until = (at + timedelta(days=21)).date().isoformat()
    writer.writerow({"token": token, "action": "mentee-pause", "timestamp": at.isoformat(), "until": until})
    write_private(folder / "answers.csv", out.getvalue().encode())
    return f"one waiting mentee paused matching until {until} through the link in their acknowledgment"


def summarize(services: Services, taken_in: IntakeSummary, done_before: int, paused: str = "") -> str:
    """What the newcomer reads at the end of ``make demo``."""
    settings = services.settings
    with services.store.unit_of_work() as uow:
        report = uow.reporting.status_report()
        done = uow.reporting.ledger_counts(
            ["event:", "invite:", "survey:", "reminder:", "ack:", "fixit:", "selfservice:"]
        )
        answers = uow.followup.survey_answers()
        by_link = {m.key for m in uow.roster.mentors() if m.scheduling == "booking_link"}
        matches = [m for m in uow.matches.made(EPOCH, FAR) if m.mentor_email in by_link]
        requests = uow.requests.many([m.request_id for m in matches])
        nudges = uow.reporting.ledger_counts(["nudge:"])["nudge:"]
    link_ids = {m.id for m in matches}
    link_met = sum(requests[m.request_id].status.value in ("met", "completed") for m in matches)
    said_met = sum(a.met for a in answers if a.match_id in link_ids and a.role.value == "mentee")
    new_effects = report.ledger_by_status.get("done", 0) - done_before
    lines = [
        "mentorflow demo: done.",
        f"  received         {taken_in.mentees.received} new mentee answers this run "
        f"({sum(report.requests_by_status.values())} requests in the store), {taken_in.roster.read} mentor records",
        f"  set aside        {len(report.set_aside)} (reasons below and in `mentorflow status`)",
        f"  matched          {sum(report.requests_by_status[s] for s in MATCHED)}",
        f"  waiting          {len(report.waiting)}",
        f"  invites written  {done['event:']} calendar events, {done['invite:']} invitation emails",
        f"  surveys sent     {done['survey:']} (+{done['reminder:']} reminders); {len(answers)} answers in",
        f"  booking links    {len(by_link)} mentors from the mentors page (no email, own booking link): "
        f"{len(matches)} mentees got the link in their match email (no calendar event), {nudges} nudged once, "
        f'{said_met} answered "we met", {link_met} now met',
        f"  told where they stand  {done['ack:']} acknowledgments, {done['fixit:']} notes on what to fix, "
        f"{done['selfservice:']} self-service confirmations" + (f" ({paused})" if paused else ""),
        f"  digests written  {report.digests}",
        f"  side effects this run: {new_effects} new (a second `make demo` repeats none of them; it only matches"
        " the mentees this run put back on the waitlist, and a third makes 0)",
        "",
        "Set aside:",
        *[f"  {s.source} {s.ref}: {'; '.join(s.reasons)}" for s in report.set_aside],
        "",
        "Outputs:",
        f"  invites (.ics)   {settings.invites_dir().resolve()}",
        f"  outbox (.eml)    {settings.outbox().resolve()}",
        f"  digests          {settings.digests_dir().resolve()}",
        f"  store            {settings.store_url()}",
    ]
    return "\n".join(lines)

"""The lead's command line: run stages, see status, approve matches, match spreadsheets, check a roster, run the demo.

Only ``run``, ``demo`` and ``setup-prefect`` import Prefect (inside the command); ``status``, ``approve``,
``end-match``, ``ledger`` and ``match`` never do, so they answer at once (tests/test_cli.py checks the modules).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mentorflow.roster_check import roster_app  # no Prefect import: stays fast
from mentorflow.standalone_match import match_command  # no Prefect import: stays fast

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
ledger_app = typer.Typer(no_args_is_help=True, help="Inspect and release side effects in the ledger.")
app.add_typer(ledger_app, name="ledger")
app.add_typer(roster_app, name="roster")
digest_app = typer.Typer(no_args_is_help=True, help="The newsletter: approve the issue waiting for you.")
app.add_typer(digest_app, name="digest")
flags_app = typer.Typer(no_args_is_help=True, help="The follow-up's flags for the lead.")
app.add_typer(flags_app, name="flags")


class Stage(StrEnum):
    intake = "intake"
    match = "match"
    invite = "invite"
    followup = "followup"
    digest = "digest"
    report = "report"
    privacy = "privacy"
    all = "all"


AsOf = Annotated[
    datetime | None,
    typer.Option("--as-of", help="act as of this date/time (program time zone), e.g. 2026-12-01 or 2026-12-01T09:00"),
]


@app.command()
def run(
    stage: Annotated[Stage, typer.Argument(help="which stage, or all of them in order")],
    as_of: AsOf = None,
    objective: Annotated[str | None, typer.Option(help="matching objective: fit, participation or stable")] = None,
    approval: Annotated[str | None, typer.Option(help="who approves matches: auto or lead")] = None,
) -> None:
    """Run one stage of the program (or the whole pipeline) now, as Prefect flow runs.

    The runs go to the configured Prefect server (PREFECT_API_URL) when it answers, else to a temporary one.
    """
    from mentorflow.orchestrator import PrefectServerUnreachable, choose_server

    try:
        typer.echo(choose_server())
    except PrefectServerUnreachable as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    from prefect import tags

    from flows import pipeline
    from mentorflow.prefect_setup import TAG

    with tags(TAG, stage.value):
        result = pipeline.run_stage(stage.value, as_of=as_of, objective=objective, approval=approval)
    typer.echo(result)


@app.command("setup-prefect")
def setup_prefect(
    approval_reminder_hours: Annotated[
        float | None,
        typer.Option(help="tell the lead when the approval form has waited this long (default: half the timeout)"),
    ] = None,
    prompt: Annotated[bool, typer.Option(help="ask for secrets missing from the environment (input hidden)")] = True,
    deploy: Annotated[bool, typer.Option(help="also run `prefect deploy --all` from this clone")] = True,
) -> None:
    """Prepare the configured Prefect server: work pool, deployments, secret blocks, the lead's email automations.

    Idempotent: a second run changes nothing. Secret values come from MENTORFLOW_* or are asked for; never printed.
    """
    from config.rules import load_rules
    from config.settings import Settings
    from mentorflow.orchestrator import PrefectServerUnreachable, choose_server
    from mentorflow.prefect_setup import WORKER_COMMAND, secret_values
    from mentorflow.prefect_setup import setup_prefect as run_setup

    try:
        where = choose_server()
    except PrefectServerUnreachable as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if "temporary" in where:
        typer.echo("Set PREFECT_API_URL to the server to prepare (a temporary server would forget it all).", err=True)
        raise typer.Exit(2)
    typer.echo(where)
    settings = Settings()

    def ask(name: str) -> str:
        return str(typer.prompt(f"{name} (empty to skip)", default="", hide_input=True, show_default=False))

    secrets = secret_values(settings, ask if prompt else None)
    report = run_setup(
        settings,
        load_rules(settings.rules_path),
        secrets=secrets,
        approval_reminder_hours=approval_reminder_hours,
        deploy=deploy,
    )
    typer.echo(str(report))
    typer.echo(f"Workers (two, from this clone; docs/production.md has their systemd unit): {WORKER_COMMAND}")


@app.command()
def status() -> None:
    """What stands where: requests by status, set-aside records, waitlist, flags, side effects."""
    from datetime import timedelta

    from domain.clock import resolve_now
    from domain.models import Role
    from mentorflow.bootstrap import build_services
    from mentorflow.views import render_self_service, render_status, render_where

    services = build_services()
    now = resolve_now(None, services.settings.timezone)
    with services.store.unit_of_work() as uow:
        report = uow.reporting.status_report()
        paused, mentors = uow.self_service.paused_requests(now), uow.self_service.pauses(Role.MENTOR, now)
        capacities, recent = uow.self_service.capacities(), uow.self_service.since(now - timedelta(days=7))
    typer.echo(render_where(services.settings))
    typer.echo(render_status(report))
    typer.echo(render_self_service(paused, len(mentors), len(capacities), recent, services.settings.timezone))


@app.command()
def approve(
    except_requests: Annotated[str, typer.Option("--except", help="comma-separated request ids not to approve")] = "",
    reject: Annotated[bool, typer.Option(help="turn the whole waiting batch down")] = False,
    note: Annotated[str, typer.Option(help="why (kept on turned-down requests)")] = "",
) -> None:
    """Answer the batch of proposed matches waiting for the lead (the same as the form in the Prefect UI)."""
    from domain.approval import LeadDecision
    from domain.clock import resolve_now
    from mentorflow.bootstrap import build_services
    from mentorflow.lead import decide_waiting

    ids = [int(x) for x in except_requests.split(",") if x.strip()]
    action = "reject_all" if reject else ("approve_except" if ids else "approve_all")
    decision = LeadDecision(action=action, except_requests=ids, note=note)
    services = build_services()
    typer.echo(decide_waiting(services.store, decision, resolve_now(None, services.settings.timezone)))


@app.command("end-match")
def end_match(
    match_id: Annotated[int, typer.Argument(help="the match id shown by `mentorflow status` or the run reports")],
    reason: Annotated[str, typer.Option(help="why (kept in the request's timeline)")] = "ended by the lead",
    by: Annotated[str, typer.Option(help="who ended it: lead, mentor or mentee")] = "lead",
    as_of: AsOf = None,
) -> None:
    """End a match (declined, cancelled): the mentor's place is freed and the mentee is matched again next run,
    never with the same mentor unless they ask to continue."""
    from domain.clock import resolve_now
    from mentorflow.bootstrap import build_services
    from tasks.lifecycle import end_relationship

    services = build_services()
    now = resolve_now(as_of, services.settings.timezone)
    ended = end_relationship(services, match_id, reason, by, now)
    if ended is None:
        typer.echo("no active match with that id")
    elif ended.failed:
        for key, why in ended.failed:
            typer.echo(f"not done yet: {key} ({why})")
        typer.echo("ended; run the same command again later to finish what failed")
        raise typer.Exit(1)
    else:
        typer.echo(
            "ended; the meeting is cancelled, both sides are told (unless paused or withdrawn), "
            "and the mentee waits for the next match run"
        )


@ledger_app.command("release")
def ledger_release(key: Annotated[str, typer.Argument(help="the ledger key shown by `mentorflow status`")]) -> None:
    """After checking that an uncertain side effect did NOT happen, allow one more attempt."""
    from domain.clock import resolve_now
    from mentorflow.bootstrap import build_services

    services = build_services()
    with services.store.unit_of_work() as uow:
        released = uow.ledger.release(key, resolve_now(None, services.settings.timezone))
    typer.echo("released" if released else "no uncertain entry with that key")


@digest_app.command("approve")
def digest_approve(
    quotes: Annotated[str, typer.Option(help="comma-separated ids of the quotes to include (from the preview)")] = "",
) -> None:
    """Approve the newsletter issue waiting for you; the next digest run sends it."""
    from mentorflow.bootstrap import build_services
    from tasks.common import resolve_now
    from tasks.newsletter import approve_newsletter

    services = build_services()
    ids = [q.strip() for q in quotes.split(",") if q.strip()]
    approved = approve_newsletter(services, ids, resolve_now(None, services.settings.timezone))
    if approved is None:
        typer.echo("no issue is waiting for approval")
    else:
        typer.echo(
            f"approved the issue of {approved.period_start:%Y-%m-%d}, with {len(approved.approved_quotes)} "
            "quote(s); the next digest run sends it"
        )


@app.command()
def unsubscribe(token: Annotated[str, typer.Argument(help="the token of a signed unsubscribe link")]) -> None:
    """Take someone off the newsletter by their signed link (what the self-service page does)."""
    from mentorflow.bootstrap import build_services
    from tasks.common import resolve_now
    from tasks.newsletter import unsubscribe as do_unsubscribe

    services = build_services()
    typer.echo(do_unsubscribe(services, token, resolve_now(None, services.settings.timezone), source="lead"))


@app.command()
def forget(
    email: Annotated[
        str, typer.Argument(help="the address of the person to erase (a mentor without one: their booking:… key)")
    ],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
    as_of: AsOf = None,
) -> None:
    """Erase a person everywhere: every table, the local files that name them, the Prefect artifacts that name
    them (with PREFECT_API_URL). Their active matches are ended first (the meeting is cancelled, both sides are
    told). Only a keyed hash of the address is kept, to recognise them if they apply again. Prints counts."""
    from domain.clock import resolve_now
    from mentorflow.bootstrap import build_services
    from tasks.erasure import forget_person

    if not yes:
        typer.confirm("Erase this person's data everywhere? This cannot be undone", abort=True)
    services = build_services()
    report = forget_person(services, email, resolve_now(as_of, services.settings.timezone))
    typer.echo(report.render())


@app.command()
def erase(token: Annotated[str, typer.Argument(help="the token of a signed 'erase my data' link")]) -> None:
    """Record a signed "erase my data" link (what the self-service page does); the next privacy run erases."""
    from mentorflow.bootstrap import build_services
    from tasks.common import resolve_now
    from tasks.erasure import request_erasure

    services = build_services()
    typer.echo(request_erasure(services, token, resolve_now(None, services.settings.timezone)))


@app.command()
def webhook(
    host: Annotated[str, typer.Option(help="address to listen on (put an HTTPS proxy in front)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8025,
) -> None:
    """Optional: receive SendGrid's signed Event Webhook at POST /sendgrid/events; unsubscribes, spam reports
    and bounces stop the newsletter for those addresses (needs MENTORFLOW_SENDGRID_WEBHOOK_PUBLIC_KEY)."""
    from mentorflow.bootstrap import build_services
    from mentorflow.webhook import PATH, make_server

    services = build_services()
    if not services.settings.sendgrid_webhook_public_key:
        typer.echo("Set MENTORFLOW_SENDGRID_WEBHOOK_PUBLIC_KEY (the webhook's verification key) first.", err=True)
        raise typer.Exit(2)
    server = make_server(services, host, port)
    typer.echo(f"listening on http://{host}:{port}{PATH}")
    server.serve_forever()


@app.command()
def reject(
    request_id: Annotated[int, typer.Argument(help="the request id shown by `mentorflow status`")],
    note: Annotated[str, typer.Option(help="why (kept in the request's timeline)")] = "rejected by the lead",
) -> None:
    """Turn a waiting request down for good (status rejected): it is never proposed again."""
    from domain.models import IllegalTransition, RequestStatus
    from mentorflow.bootstrap import build_services
    from tasks.common import resolve_now

    services = build_services()
    try:
        with services.store.unit_of_work() as uow:
            uow.requests.transition(
                request_id, RequestStatus.REJECTED, "lead", note, resolve_now(None, services.settings.timezone)
            )
    except (KeyError, IllegalTransition) as exc:
        raise typer.BadParameter(str(exc).strip("'")) from None
    typer.echo("rejected")


@app.command()
def show(request_id: Annotated[int, typer.Argument(help="the request id")]) -> None:
    """One request whole: its timeline (who and why), matches, meetings, emails sent and survey answers."""
    from mentorflow.bootstrap import build_services
    from mentorflow.views import render_request

    with build_services().store.unit_of_work() as uow:
        try:
            request = uow.requests.get(request_id)
        except KeyError:
            raise typer.BadParameter(f"no request {request_id}") from None
        matches = uow.matches.of_request(request_id)
        meetings = {m.id: uow.matches.meeting(m.id) for m in matches}
        sent = sorted(
            k
            for m in matches
            for kind in ("invite", "survey", "reminder", "end")
            for k in uow.ledger.keys(f"{kind}:{m.id}:")
        )
        ids = {m.id for m in matches}
        answers = [a for a in uow.followup.survey_answers() if a.match_id in ids]
    typer.echo(render_request(request, matches, meetings, sent, answers))


@flags_app.command("done")
def flags_done(flag_id: Annotated[int, typer.Argument(help="the flag id shown by `mentorflow status`")]) -> None:
    """Mark a flag dealt with: it leaves the status and the report and is not raised again."""
    from mentorflow.bootstrap import build_services
    from tasks.common import resolve_now

    services = build_services()
    with services.store.unit_of_work() as uow:
        done = uow.followup.mark_flag_done(flag_id, resolve_now(None, services.settings.timezone))
    typer.echo("done" if done else "no open flag with that id")


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="where the demo keeps its state and outputs")] = Path(
        "demo-output"
    ),
    start: Annotated[str, typer.Option(help="the demo's first day (YYYY-MM-DD)")] = "2026-11-22",
    fresh: Annotated[bool, typer.Option(help="wipe the demo folder first")] = False,
) -> None:
    """Run the whole program on the sample data, across five weeks of 'as of' dates, and summarise."""
    from mentorflow.demo import run_demo

    typer.echo(run_demo(directory, start, fresh))


@app.command()
def simulate(
    weeks: Annotated[int, typer.Option(min=1, max=104, help="simulated weeks")] = 12,
    mentees: Annotated[int, typer.Option(min=1, help="mentees who apply over the weeks")] = 100,
    mentors: Annotated[int, typer.Option(min=1, help="mentors in the roster (some join later)")] = 30,
    seed: Annotated[int, typer.Option(help="seed of the synthetic people, the lead and the faults")] = 7,
    faults: Annotated[float, typer.Option(min=0.0, max=0.9, help="share of connector calls that fail")] = 0.0,
    keep_going: Annotated[bool, typer.Option(help="collect every violation instead of stopping at the first")] = False,
    json_path: Annotated[Path | None, typer.Option("--json", help="write the figures and violations as JSON")] = None,
    chart: Annotated[Path | None, typer.Option(help="write the weekly chart as PNG")] = None,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="keep the simulation's data folder here (default: a temp folder)")
    ] = None,
) -> None:
    """Run the real flows over simulated weeks with synthetic people; check the program's invariants after
    every run; print the week-by-week figures and the lead's estimated minutes."""
    from mentorflow.simulate.report import print_result, write_chart, write_json
    from mentorflow.simulate.run import SimConfig, prefect_quiet
    from mentorflow.simulate.run import simulate as run_simulation

    config = SimConfig(weeks=weeks, mentees=mentees, mentors=mentors, seed=seed, faults=faults, keep_going=keep_going)
    with prefect_quiet():
        result = run_simulation(config, directory)
    print_result(result)
    if json_path:
        write_json(result, json_path)
    if chart:
        write_chart([result.weeks], chart, f"mentorflow simulate (seed {seed}, faults {faults:.0%})")
    raise typer.Exit(1 if result.violations else 0)


app.command("match")(match_command)

"""The lead's command line: run stages, see status, approve matches, match spreadsheets, run the demo.

Only ``run``, ``demo`` and ``setup-prefect`` import Prefect (inside the command); ``status``, ``approve``,
``end-match``, ``ledger`` and ``match`` never do, so they answer at once (tests/test_cli.py checks the modules).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mentorflow.standalone_match import match_command  # no Prefect import: stays fast

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
ledger_app = typer.Typer(no_args_is_help=True, help="Inspect and release side effects in the ledger.")
app.add_typer(ledger_app, name="ledger")


class Stage(StrEnum):
    intake = "intake"
    match = "match"
    invite = "invite"
    followup = "followup"
    digest = "digest"
    report = "report"
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
    from mentorflow.prefect_setup import secret_values
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
    report = run_setup(settings, load_rules(settings.rules_path), secrets=secrets,
                       approval_reminder_hours=approval_reminder_hours, deploy=deploy)
    typer.echo(str(report))


@app.command()
def status() -> None:
    """What stands where: requests by status, set-aside records, waitlist, flags, side effects."""
    from mentorflow.bootstrap import build_services
    from mentorflow.views import render_status, render_where

    services = build_services()
    with services.store.unit_of_work() as uow:
        report = uow.reporting.status_report()
    typer.echo(render_where(services.settings))
    typer.echo(render_status(report))


@app.command()
def approve(
    except_requests: Annotated[str, typer.Option("--except", help="comma-separated request ids not to approve")] = "",
    reject: Annotated[bool, typer.Option(help="turn the whole waiting batch down")] = False,
    note: Annotated[str, typer.Option(help="why (kept on turned-down requests)")] = "",
) -> None:
    """Answer the batch of proposed matches waiting for the lead (the same as the form in the Prefect UI)."""
    from domain.approval import LeadDecision
    from mentorflow.lead import decide_waiting

    ids = [int(x) for x in except_requests.split(",") if x.strip()]
    action = "reject_all" if reject else ("approve_except" if ids else "approve_all")
    decision = LeadDecision(action=action, except_requests=ids, note=note)
    typer.echo(decide_waiting(decision))


@app.command("end-match")
def end_match(
    match_id: Annotated[int, typer.Argument(help="the match id shown by `mentorflow status` or the run reports")],
    reason: Annotated[str, typer.Option(help="why (kept in the request's timeline)")] = "ended by the lead",
) -> None:
    """End a match (declined, cancelled): the mentor's place is freed and the mentee is matched again next run,
    never with the same mentor unless they ask to continue."""
    from domain.clock import resolve_now
    from mentorflow.bootstrap import build_services

    services = build_services()
    with services.store.unit_of_work() as uow:  # the match and its request's way back to the waitlist, together
        ended = uow.matches.end(match_id, reason, "lead", resolve_now(None, services.settings.timezone))
    typer.echo("ended; the mentee waits for the next match run" if ended else "no active match with that id")


@ledger_app.command("release")
def ledger_release(key: Annotated[str, typer.Argument(help="the ledger key shown by `mentorflow status`")]) -> None:
    """After checking that an uncertain side effect did NOT happen, allow one more attempt."""
    from domain.clock import resolve_now
    from mentorflow.bootstrap import build_services

    services = build_services()
    with services.store.unit_of_work() as uow:
        released = uow.ledger.release(key, resolve_now(None, services.settings.timezone))
    typer.echo("released" if released else "no uncertain entry with that key")


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


app.command("match")(match_command)

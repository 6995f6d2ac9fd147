"""The lead's command line: run stages, see status, approve matches, match spreadsheets, run the demo.

Prefect and the flows are imported inside the commands, so ``mentorflow match`` and ``--help`` stay fast.
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
flags_app = typer.Typer(no_args_is_help=True, help="The follow-up's flags for the lead.")
app.add_typer(flags_app, name="flags")


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
    """Run one stage of the program (or the whole pipeline) now, as Prefect flow runs."""
    from flows import pipeline

    result = pipeline.run_stage(stage.value, as_of=as_of, objective=objective, approval=approval)
    typer.echo(result)


@app.command()
def status() -> None:
    """What stands where: requests by status, set-aside records, waitlist, flags, side effects."""
    from mentorflow.bootstrap import build_services
    from mentorflow.views import render_status

    with build_services().store.unit_of_work() as uow:
        report = uow.reporting.status_report()
    typer.echo(render_status(report))


@app.command()
def approve(
    except_requests: Annotated[str, typer.Option("--except", help="comma-separated request ids not to approve")] = "",
    reject: Annotated[bool, typer.Option(help="turn the whole waiting batch down")] = False,
    note: Annotated[str, typer.Option(help="why (kept on turned-down requests)")] = "",
) -> None:
    """Answer the batch of proposed matches waiting for the lead (the same as the form in the Prefect UI)."""
    from domain.approval import LeadDecision
    from flows.match import decide_waiting

    ids = [int(x) for x in except_requests.split(",") if x.strip()]
    action = "reject_all" if reject else ("approve_except" if ids else "approve_all")
    decision = LeadDecision(action=action, except_requests=ids, note=note)
    typer.echo(decide_waiting(decision))


@app.command("end-match")
def end_match(
    match_id: Annotated[int, typer.Argument(help="the match id shown by `mentorflow status` or the run reports")],
    reason: Annotated[str, typer.Option(help="why (kept in the request's timeline)")] = "ended by the lead",
    by: Annotated[str, typer.Option(help="who ended it: lead, mentor or mentee")] = "lead",
    as_of: AsOf = None,
) -> None:
    """End a match (declined, cancelled): the mentor's place is freed and the mentee is matched again next run,
    never with the same mentor unless they ask to continue."""
    from mentorflow.bootstrap import build_services
    from tasks.common import resolve_now
    from tasks.lifecycle import end_relationship

    services = build_services()
    now = resolve_now(as_of, services.settings.timezone)
    ended = end_relationship(services, match_id, reason, by, now)
    typer.echo("ended; the meeting is cancelled, both sides are told, and the mentee waits for the next match run"
               if ended is not None else "no active match with that id")


@ledger_app.command("release")
def ledger_release(key: Annotated[str, typer.Argument(help="the ledger key shown by `mentorflow status`")]) -> None:
    """After checking that an uncertain side effect did NOT happen, allow one more attempt."""
    from mentorflow.bootstrap import build_services
    from tasks.common import resolve_now

    services = build_services()
    with services.store.unit_of_work() as uow:
        released = uow.ledger.release(key, resolve_now(None, services.settings.timezone))
    typer.echo("released" if released else "no uncertain entry with that key")


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
            uow.requests.transition(request_id, RequestStatus.REJECTED, "lead", note,
                                    resolve_now(None, services.settings.timezone))
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
        sent = sorted(k for m in matches for kind in ("invite", "survey", "reminder", "end")
                      for k in uow.ledger.keys(f"{kind}:{m.id}:"))
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


app.command("match")(match_command)

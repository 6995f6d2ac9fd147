"""The whole program in order, and the entry the CLI uses to run any one stage."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from prefect import flow
from pydantic import BaseModel

from domain.pipeline import invite_due, stages_due
from flows.digest import digest
from flows.followup import followup
from flows.intake import intake
from flows.invite import invite
from flows.match import match
from flows.naming import run_name
from flows.privacy import privacy
from flows.report import report
from mentorflow.bootstrap import current_services
from tasks.common import resolve_now
from tasks.stages import read_stage_facts


class Skipped(BaseModel):
    """A stage the pipeline did not run: nothing was due (no run of its own)."""

    skipped: bool = True


@flow(name="pipeline", flow_run_name=run_name("pipeline"))
def pipeline(
    as_of: datetime | None = None, objective: str | None = None, approval: str | None = None
) -> dict[str, Any]:
    """Intake → match → invite → follow-up → digest → lead report, each a subflow run. After intake, one read
    of what is due: a stage with nothing to do is not run (a subflow run is Prefect bookkeeping worth 0.2–2 s
    even when it finds nothing: issue #12). The stand-alone deployments always run their flow."""
    out: dict[str, Any] = {"intake": intake(as_of)}
    svc = current_services()
    now = resolve_now(as_of, svc.settings.timezone)
    # after intake (what it stored counts); matching's plan is made there, as the match run would make it
    facts = read_stage_facts(now, objective, approval)  # type: ignore[arg-type]
    due = stages_due(facts, now, svc.rules.digest.period_days, svc.settings.timezone)
    summary = match(as_of, objective, approval) if due.match else Skipped()  # type: ignore[arg-type]
    out["match"] = summary
    approved = getattr(summary, "approved", 0) + getattr(summary, "approved_on_timeout", 0)
    out["invite"] = invite(as_of) if invite_due(facts, approved) else Skipped()
    out["followup"] = followup(as_of) if due.followup else Skipped()
    out["digest"] = digest(as_of) if due.digest else Skipped()
    out["report"] = report(as_of) if due.report else Skipped()
    return out


STAGES: dict[str, Callable[..., BaseModel | dict[str, Any]]] = {
    "intake": intake,
    "invite": invite,
    "followup": followup,
    "digest": digest,
    "report": report,
    "privacy": privacy,  # not part of ``all``: its own daily deployment
}


def run_stage(
    stage: str, as_of: datetime | None = None, objective: str | None = None, approval: str | None = None
) -> str:
    """Run a stage (or ``all``) now and return its summary as text."""
    if stage == "all":
        result: BaseModel | dict[str, Any] = pipeline(as_of, objective, approval)
    elif stage == "match":
        result = match(as_of, objective, approval)  # type: ignore[arg-type]
    else:
        result = STAGES[stage](as_of)
    if isinstance(result, dict):
        return "\n".join(f"{name}: {value.model_dump_json()}" for name, value in result.items())
    return result.model_dump_json(indent=2)

"""The whole program in order, and the entry the CLI uses to run any one stage."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from prefect import flow
from pydantic import BaseModel

from flows.digest import digest
from flows.followup import followup
from flows.intake import intake
from flows.invite import invite
from flows.match import match
from flows.naming import run_name
from flows.privacy import privacy
from flows.report import report


@flow(name="pipeline", flow_run_name=run_name("pipeline"))
def pipeline(
    as_of: datetime | None = None, objective: str | None = None, approval: str | None = None
) -> dict[str, Any]:
    """Intake → match → invite → follow-up → digest → lead report, each a subflow run."""
    return {
        "intake": intake(as_of),
        "match": match(as_of, objective, approval),  # type: ignore[arg-type]
        "invite": invite(as_of),
        "followup": followup(as_of),
        "digest": digest(as_of),
        "report": report(as_of),
    }


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

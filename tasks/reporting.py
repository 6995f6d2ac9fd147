"""Run reports: a markdown artifact per run in the lead's Prefect UI (it may name people; logs never do)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from domain.markdown import md_code_block, md_escape, md_table
from domain.models import SetAside
from domain.report import RunProblem
from domain.topics import MappingReport

__all__ = ["mapping_section", "md_code_block", "md_escape", "md_table", "publish_report", "set_aside_section"]


def set_aside_section(items: Sequence[SetAside], title: str = "Set aside (needs the lead)") -> str:
    if not items:
        return f"### {title}\nNone."
    return f"### {title}\n" + md_table(
        ["source", "record", "reasons"], [(i.source, i.ref, "; ".join(i.reasons)) for i in items]
    )


def mapping_section(report: MappingReport, title: str = "Mentors' free text → topics") -> str:
    """The roster import's mapping report: phrases mapped to no topic (most used first), then phrase → topic,
    compact (one row per topic set). Adding an alias in ``config/program.yaml`` maps a whole class of lines."""
    if not report.unmapped and not report.mapped:
        return f"### {title}\nNo free-text expertise."
    parts = [f"### {title}"]
    if report.unmapped:
        parts.append(
            f"{len(report.unmapped)} phrases mapped to no topic (kept as free text; "
            "an alias in config/program.yaml maps every line that uses one):"
        )
        parts.append(md_table(["phrase", "mentors"], [(p.phrase, p.mentors) for p in report.unmapped]))
    else:
        parts.append("Every phrase mapped to a topic.")
    groups: dict[tuple[str, ...], list[str]] = {}
    for p in report.mapped:
        groups.setdefault(tuple(p.topics), []).append(f"{p.phrase} ×{p.mentors}" if p.mentors > 1 else p.phrase)
    if groups:
        parts.append(md_table(["topics", "phrases"], [(", ".join(k), " · ".join(v)) for k, v in groups.items()]))
    return "\n\n".join(parts)


def publish_report(key: str, title: str, sections: list[str], rtl: bool = False) -> str:
    """Attach the run's report to the flow run (and to ``key``, so the UI shows its history). No task of its
    own: it touches nothing but the artifact, and a task run would cost every stage of every run a round trip.

    ``rtl``: the whole report in ``<div dir="rtl">`` (Hebrew), which the Prefect UI lays out right to left.
    """
    markdown = f"## {md_escape(title)}\n\n" + "\n\n".join(sections)
    if rtl:
        markdown = f'<div dir="rtl">\n\n{markdown}\n\n</div>'
    create_markdown_artifact(key=key, markdown=markdown, description=title)
    return markdown


@task(name="read-failed-runs", cache_policy=NO_CACHE)
def read_failed_runs(since: datetime, until: datetime, tz: str) -> list[RunProblem] | None:
    """The mentorflow flow runs due in [since, until) that ended Failed or Crashed, read from the Prefect API.

    None when the API cannot be read: the report then says so instead of "nothing failed".
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterExpectedStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.utilities.urls import url_for

    wanted = FlowRunFilter(
        tags=FlowRunFilterTags(all_=["mentorflow"]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.FAILED, StateType.CRASHED])),
        expected_start_time=FlowRunFilterExpectedStartTime(after_=since, before_=until),
    )
    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(flow_run_filter=wanted, limit=200)
    except Exception:  # an unreadable API must not silence the report; it is named in it instead
        return None
    zone = ZoneInfo(tz)
    problems = []
    for run in runs:
        stages = sorted(set(run.tags) - {"mentorflow"})
        at = run.expected_start_time or run.start_time or until
        crashed = run.state is not None and run.state.type == StateType.CRASHED
        problems.append(
            RunProblem(
                stage=stages[0] if stages else run.name.split()[0],
                run_name=run.name,
                state="Crashed" if crashed else "Failed",
                at=at.astimezone(zone),
                link=url_for("flow-run", obj_id=run.id),
            )
        )
    return sorted(problems, key=lambda p: p.at)

"""Run reports: a markdown artifact per run in the lead's Prefect UI (it may name people; logs never do)."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from domain.markdown import md_code_block, md_escape, md_table
from domain.models import SetAside

__all__ = ["md_code_block", "md_escape", "md_table", "publish_report", "set_aside_section"]


def set_aside_section(items: Sequence[SetAside], title: str = "Set aside (needs the lead)") -> str:
    if not items:
        return f"### {title}\nNone."
    return f"### {title}\n" + md_table(
        ["source", "record", "reasons"], [(i.source, i.ref, "; ".join(i.reasons)) for i in items]
    )


@task(name="publish-report", cache_policy=NO_CACHE)
def publish_report(key: str, title: str, sections: list[str]) -> str:
    """Attach the run's report to the flow run (and to ``key``, so the UI shows its history)."""
    markdown = f"## {md_escape(title)}\n\n" + "\n\n".join(sections)
    create_markdown_artifact(key=key, markdown=markdown, description=title)
    return markdown

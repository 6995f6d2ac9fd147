"""Run reports: a markdown artifact per run in the lead's Prefect UI (it may name people; logs never do)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from domain.models import SetAside


def md_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A markdown table; cell text is kept on one line and pipes escaped."""

    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def set_aside_section(items: Sequence[SetAside], title: str = "Set aside (needs the lead)") -> str:
    if not items:
        return f"### {title}\nNone."
    return f"### {title}\n" + md_table(
        ["source", "record", "reasons"], [(i.source, i.ref, "; ".join(i.reasons)) for i in items]
    )


@task(name="publish-report", cache_policy=NO_CACHE)
def publish_report(key: str, title: str, sections: list[str]) -> str:
    """Attach the run's report to the flow run (and to ``key``, so the UI shows its history)."""
    markdown = f"## {title}\n\n" + "\n\n".join(sections)
    create_markdown_artifact(key=key, markdown=markdown, description=title)
    return markdown

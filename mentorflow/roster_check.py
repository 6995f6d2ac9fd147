"""``mentorflow roster check PATH``: what importing a roster file would do, without the store or Prefect."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from config.rules import RulesError, load_rules
from connectors.base import IntakeError
from connectors.local.roster import FileRoster
from domain.intake import MentorCheck, check_mentor
from domain.topics import mapping_report

DEFAULT_RULES = Path(__file__).resolve().parent.parent / "config" / "program.yaml"

roster_app = typer.Typer(no_args_is_help=True, help="Check a mentor roster before importing it.")


def check_roster(path: Path, rules_path: Path | None = None) -> list[MentorCheck]:
    """One check per mentor row of the file (mentors page .md, YAML, JSON or CSV), in file order."""
    rules = load_rules(rules_path or DEFAULT_RULES)
    return [check_mentor(raw, rules) for raw in FileRoster(path).fetch()]


def render_checks(checks: list[MentorCheck]) -> str:
    """The lead's text report: per row, phrase → topics, unmapped phrases, contact, and any reason to set aside."""
    lines: list[str] = []
    for c in checks:
        status = "set aside" if c.set_aside else f"importable ({c.scheduling})"
        lines.append(f"{c.ref}: {c.name or '(no name)'} — contact: {c.contact_kind}; {status}")
        lines += [f"    {m.phrase} → {', '.join(m.topics)}" for m in c.mapped]
        lines += [f"    {p} → (no topic: kept as free text)" for p in c.unmapped]
        lines += [f"    ! {r}" for r in c.set_aside]
    unmapped = mapping_report(checks).unmapped  # the same report every import shows
    if unmapped:
        lines.append("Phrases mapped to no topic, most used first:")
        lines += [f"    {p.phrase} ({p.mentors})" for p in unmapped]
    ready = sum(1 for c in checks if not c.set_aside)
    lines.append(
        f"{len(checks)} mentor rows: {ready} importable, {len(checks) - ready} set aside; "
        f"{len(unmapped)} distinct phrases mapped to no topic (add aliases in config/program.yaml)."
    )
    return "\n".join(lines)


@roster_app.command("check")
def roster_check_command(
    path: Annotated[
        Path, typer.Argument(help="the roster: mentors page (.md), YAML, JSON or CSV", exists=True, dir_okay=False)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per mentor row, in table order")] = False,
    rules: Annotated[Path | None, typer.Option(help="program rules YAML (default: config/program.yaml)")] = None,
) -> None:
    """Report each mentor row: topics mapped (phrase → topic), phrases left unmapped, contact, and why a row
    would be set aside. Reads the file only: no store, no Prefect."""
    try:
        checks = check_roster(path, rules)
    except (IntakeError, RulesError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps([c.model_dump(mode="json") for c in checks], ensure_ascii=False, indent=2))
    else:
        typer.echo(render_checks(checks))

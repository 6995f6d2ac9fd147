"""``mentorflow match``: match two spreadsheets (CSV) without the store or Prefect.

Columns are documented in docs/matching.md. Bad rows are reported with their row number and skipped.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from config.rules import load_rules
from domain.fields import parse_timestamp, split_items, spreadsheet_cell
from domain.intake import parse_mentee, parse_mentor
from domain.matching import OBJECTIVES, propose_matches
from domain.models import MenteeApplication, Mentor, MentoringRequest, RawResponse, RequestStatus, SetAside
from domain.rules import ProgramRules

DEFAULT_RULES = Path(__file__).resolve().parent.parent / "config" / "program.yaml"
TZ = "Asia/Jerusalem"
MENTEE_COLUMNS = (
    "id",
    "name",
    "email",
    "languages",
    "topics",
    "career_stage",
    "availability",
    "previous_mentors",
    "continue_with",
    "waiting_since",
)
MENTOR_COLUMNS = (
    "name",
    "email",
    "languages",
    "expertise",
    "career_stage",
    "years",
    "capacity",
    "availability",
    "active",
)
# The mentee CSV's columns are field names; the form's consent is implied by the lead having the sheet.
MENTEE_FIELDS = {
    c: c
    for c in (
        "name",
        "email",
        "languages",
        "topics",
        "career_stage",
        "availability",
        "continue_with",
        "consent_contact",
    )
}
OUT_COLUMNS = ("mentee_id", "mentor_email", "score", "reasons", "unmatched_reason")
T = TypeVar("T")


class RowError(ValueError):
    """One or more specific problems with one row (field and problem, never the value)."""


def _rows(path: Path, columns: tuple[str, ...], problems: list[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows as dicts keyed by lower-cased column names; missing required columns are reported once."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [(h or "").strip().casefold() for h in reader.fieldnames or []]
        missing = [c for c in columns if c not in header]
        if missing:
            problems.append(f"{path.name}: missing column(s) {', '.join(missing)}; no row read")
            return
        for number, raw in enumerate(reader, start=2):
            yield number, {(k or "").strip().casefold(): (v or "") for k, v in raw.items() if k is not None}


def _collect(
    path: Path, columns: tuple[str, ...], problems: list[str], build: Callable[[int, dict[str, str]], T]
) -> list[T]:
    out = []
    for number, row in _rows(path, columns, problems):
        if not any(v.strip() for v in row.values()):
            continue
        try:
            out.append(build(number, row))
        except RowError as exc:
            problems.append(f"{path.name} row {number}: {exc}")
    return out


def _accepted(result: T | SetAside) -> T:
    if isinstance(result, SetAside):
        raise RowError("; ".join(result.reasons))
    return result


def read_mentors(path: Path, rules: ProgramRules, problems: list[str]) -> list[Mentor]:
    """Valid mentors of the CSV, read as roster records; every bad row adds a line to ``problems``."""

    def build(number: int, row: dict[str, str]) -> Mentor:
        raw = RawResponse(source=path.name, ref=f"row {number}", answers=row)
        return _accepted(parse_mentor(raw, rules))

    return _collect(path, MENTOR_COLUMNS, problems, build)


def read_mentees(
    path: Path, rules: ProgramRules, problems: list[str], now: datetime
) -> list[tuple[str, MentoringRequest]]:
    """(the CSV's id, request) for every valid mentee row, each read as an intake answer."""
    ids: set[str] = set()

    def build(number: int, row: dict[str, str]) -> tuple[str, MentoringRequest]:
        key = row["id"].strip() or str(number)
        if key in ids:
            raise RowError("id: repeats an earlier row's id")
        try:
            since = parse_timestamp(row["waiting_since"], TZ, now=now) if row["waiting_since"].strip() else now
        except ValueError as exc:
            raise RowError(f"waiting_since: {exc}") from None
        answers = {**row, "consent_contact": "yes"}
        raw = RawResponse(source=path.name, ref=f"row {number}", submitted_at=since, answers=answers)
        app: MenteeApplication = _accepted(parse_mentee(raw, rules, TZ, now, columns=MENTEE_FIELDS))
        request = MentoringRequest(
            id=number,
            application=app.model_copy(update={"response_id": key}),
            status=RequestStatus.PENDING,
            created_at=since,
            updated_at=since,
            waiting_since=since,
            previous_mentors=split_items(row["previous_mentors"]),
        )
        ids.add(key)
        return key, request

    return _collect(path, MENTEE_COLUMNS, problems, build)


def run_standalone_match(
    mentees_csv: Path,
    mentors_csv: Path,
    objective: str,
    out: Path,
    rules_path: Path | None = None,
    now: datetime | None = None,
) -> str:
    """Match the two CSVs, write ``out`` and return the summary to print."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    rules = load_rules(rules_path or DEFAULT_RULES)
    now = now or datetime.now(UTC)
    problems: list[str] = []
    mentors = read_mentors(mentors_csv, rules, problems)
    mentees = read_mentees(mentees_csv, rules, problems, now)
    key_of = {req.id: key for key, req in mentees}
    result = propose_matches([r for _, r in mentees], mentors, {}, rules, now, objective)  # type: ignore[arg-type]

    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(OUT_COLUMNS)
        rows = [
            [key_of[m.request_id], str(m.mentor_email), f"{m.score:.2f}", "; ".join(m.reasons), ""]
            for m in sorted(result.matches, key=lambda m: m.request_id)
        ]
        rows += [
            [key_of[w.request_id], "", "", "", w.reason] for w in sorted(result.waitlist, key=lambda w: w.request_id)
        ]
        # Ids and reasons come from the people's sheets: a spreadsheet must show them as text, never run them.
        writer.writerows([spreadsheet_cell(cell) for cell in row] for row in rows)
    return _summary(result.matches, result.waitlist, key_of, mentors, problems, objective, out)


def _summary(
    matches: list[Any],
    waitlist: list[Any],
    key_of: dict[int, str],
    mentors: list[Mentor],
    problems: list[str],
    objective: str,
    out: Path,
) -> str:
    total = len(matches) + len(waitlist)
    mean = sum(m.score for m in matches) / len(matches) if matches else 0.0
    lines = [f"Matched {len(matches)} of {total} mentees (objective: {objective}); mean score {mean:.2f}."]
    if waitlist:
        lines.append(f"Waiting ({len(waitlist)}):")
        lines += [f"  {key_of[w.request_id]}: {w.reason}" for w in sorted(waitlist, key=lambda w: w.request_id)]
    got = Counter(str(m.mentor_email).casefold() for m in matches)
    active = [x for x in mentors if x.active]
    spread = Counter(got.get(x.key, 0) for x in active)
    full = sum(1 for x in active if got.get(x.key, 0) >= x.capacity)
    lines.append(
        "Mentor load: "
        + ", ".join(f"{spread[k]} with {k} new" for k in sorted(spread))
        + f"; {full} of {len(active)} active mentors now full."
    )
    if problems:
        lines.append(f"Skipped ({len(problems)}):")
        lines += [f"  {p}" for p in problems]
    lines.append(f"Written to {out}.")
    return "\n".join(lines)


def match_command(
    mentees: Annotated[
        Path, typer.Argument(help="mentees CSV (columns in docs/matching.md)", exists=True, dir_okay=False)
    ],
    mentors: Annotated[
        Path, typer.Argument(help="mentors CSV (columns in docs/matching.md)", exists=True, dir_okay=False)
    ],
    objective: Annotated[str, typer.Option(help="fit, participation or stable")] = "fit",
    out: Annotated[Path, typer.Option("--out", help="where to write the matches CSV")] = Path("matches.csv"),
    rules: Annotated[Path | None, typer.Option(help="program rules YAML (default: config/program.yaml)")] = None,
) -> None:
    """Match a mentees spreadsheet with a mentors spreadsheet (CSV in, CSV out); no server needed."""
    if objective not in OBJECTIVES:
        raise typer.BadParameter(f"use one of: {', '.join(OBJECTIVES)}", param_hint="--objective")
    typer.echo(run_standalone_match(mentees, mentors, objective, out, rules))

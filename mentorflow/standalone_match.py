"""``mentorflow match``: match two spreadsheets (CSV) without the store or Prefect.

Columns are documented in docs/matching.md. Bad rows are reported with their row number and skipped.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from config.rules import load_rules
from domain.matching import OBJECTIVES, propose_matches
from domain.matching.explain import LANGUAGE_NAMES
from domain.models import (
    MenteeApplication,
    Mentor,
    MentoringRequest,
    RequestStatus,
    Weekday,
    WeeklyWindow,
)
from domain.rules import ProgramRules

DEFAULT_RULES = Path(__file__).resolve().parent.parent / "config" / "program.yaml"
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
OUT_COLUMNS = ("mentee_id", "mentor_email", "score", "reasons", "unmatched_reason")
DAYS = {d.name.casefold(): d for d in Weekday} | {
    "monday": Weekday.MON,
    "tuesday": Weekday.TUE,
    "wednesday": Weekday.WED,
    "thursday": Weekday.THU,
    "friday": Weekday.FRI,
    "saturday": Weekday.SAT,
    "sunday": Weekday.SUN,
}
WINDOW = re.compile(r"^\s*([A-Za-z]+)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
T = TypeVar("T")


class RowError(ValueError):
    """One specific problem with one field of a row."""


def split_list(text: str) -> list[str]:
    """``a; b;c`` → ``[a, b, c]`` (empty parts dropped)."""
    return [p.strip() for p in text.split(";") if p.strip()]


def parse_window(text: str) -> WeeklyWindow:
    """``Tue 18:00-20:00`` → a WeeklyWindow."""
    found = WINDOW.match(text)
    if not found:
        raise RowError(f"availability '{text}' is not like 'Tue 18:00-20:00'")
    day = DAYS.get(found[1].casefold())
    if day is None:
        raise RowError(f"availability '{text}': unknown day '{found[1]}'")
    try:
        start, end = time(int(found[2]), int(found[3])), time(int(found[4]), int(found[5]))
    except ValueError as exc:
        raise RowError(f"availability '{text}': {exc}") from None
    if end <= start:
        raise RowError(f"availability '{text}' ends before it starts")
    return WeeklyWindow(day=day, start=start, end=end)


class Reader:
    """Field parsers that know the program's topics, languages and career stages."""

    def __init__(self, rules: ProgramRules) -> None:
        self.rules = rules
        self.topics = rules.topic_index()
        self.languages = {code.casefold(): code for code in rules.languages}
        for code, label in rules.languages.items():
            self.languages[label.casefold()] = code
        for code, name in LANGUAGE_NAMES.items():
            self.languages.setdefault(name.casefold(), code)
        self.stages = {label.casefold(): k for k, label in enumerate(rules.career_stages)}

    def topic_list(self, text: str, field: str) -> list[str]:
        items = split_list(text)
        if not items:
            raise RowError(f"{field} is empty")
        unknown = [t for t in items if t.casefold() not in self.topics]
        if unknown:
            raise RowError(f"{field}: unknown topic(s) {', '.join(repr(t) for t in unknown)}")
        return list(dict.fromkeys(self.topics[t.casefold()] for t in items))

    def language_list(self, text: str) -> list[str]:
        items = split_list(text)
        if not items:
            raise RowError("languages is empty")
        return list(dict.fromkeys(self.languages.get(x.casefold(), x.casefold()) for x in items))

    def stage(self, text: str) -> int:
        value = text.strip()
        if value.isdigit():
            return int(value)
        if value.casefold() in self.stages:
            return self.stages[value.casefold()]
        raise RowError(f"career_stage '{value}' is neither a number nor a stage label")

    @staticmethod
    def windows(text: str) -> list[WeeklyWindow]:
        items = split_list(text)
        if not items:
            raise RowError("availability is empty")
        return [parse_window(x) for x in items]


def _integer(text: str, field: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise RowError(f"{field} '{text.strip()}' is not a whole number") from None


def _flag(text: str) -> bool:
    value = text.strip().casefold()
    if value in ("", "yes", "y", "true", "1", "active", "כן"):
        return True
    if value in ("no", "n", "false", "0", "inactive", "לא"):
        return False
    raise RowError(f"active '{text.strip()}' is not yes/no")


def _instant(text: str, now: datetime) -> datetime:
    value = text.strip()
    if not value:
        return now
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RowError(f"waiting_since '{value}' is not a date like 2026-01-31") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=now.tzinfo or UTC)


def _pydantic_problems(exc: ValidationError) -> str:
    # Messages only, never the offending input (it may be personal data).
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in exc.errors())


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
        except ValidationError as exc:
            problems.append(f"{path.name} row {number}: {_pydantic_problems(exc)}")
    return out


def read_mentors(path: Path, reader: Reader, problems: list[str]) -> list[Mentor]:
    """Valid mentors of the CSV; every bad row adds a line to ``problems``."""

    def build(_: int, row: dict[str, str]) -> Mentor:
        return Mentor(
            name=row["name"].strip(),
            email=row["email"].strip(),
            languages=reader.language_list(row["languages"]),
            expertise=reader.topic_list(row["expertise"], "expertise"),
            career_stage=reader.stage(row["career_stage"]),
            years=_integer(row["years"] or "0", "years"),
            capacity=_integer(row["capacity"], "capacity"),
            availability=reader.windows(row["availability"]),
            active=_flag(row["active"]),
        )

    return _collect(path, MENTOR_COLUMNS, problems, build)


def read_mentees(path: Path, reader: Reader, problems: list[str], now: datetime) -> list[tuple[str, MentoringRequest]]:
    """(the CSV's id, request) for every valid mentee row."""
    ids: set[str] = set()

    def build(number: int, row: dict[str, str]) -> tuple[str, MentoringRequest]:
        key = row["id"].strip() or str(number)
        if key in ids:
            raise RowError(f"id '{key}' repeats an earlier row")
        since = _instant(row["waiting_since"], now)
        app = MenteeApplication(
            response_id=key,
            submitted_at=since,
            name=row["name"].strip(),
            email=row["email"].strip(),
            languages=reader.language_list(row["languages"]),
            topics=reader.topic_list(row["topics"], "topics"),
            career_stage=reader.stage(row["career_stage"]),
            availability=reader.windows(row["availability"]),
            consent_contact=True,
            continue_with=row["continue_with"].strip() or None,
        )
        request = MentoringRequest(
            id=number,
            application=app,
            status=RequestStatus.PENDING,
            created_at=since,
            updated_at=since,
            waiting_since=since,
            previous_mentors=split_list(row["previous_mentors"]),
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
    reader = Reader(rules)
    problems: list[str] = []
    mentors = read_mentors(mentors_csv, reader, problems)
    mentees = read_mentees(mentees_csv, reader, problems, now)
    key_of = {req.id: key for key, req in mentees}
    result = propose_matches([r for _, r in mentees], mentors, {}, rules, now, objective)  # type: ignore[arg-type]

    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(OUT_COLUMNS)
        for m in sorted(result.matches, key=lambda m: m.request_id):
            writer.writerow([key_of[m.request_id], m.mentor_email, f"{m.score:.2f}", "; ".join(m.reasons), ""])
        for w in sorted(result.waitlist, key=lambda w: w.request_id):
            writer.writerow([key_of[w.request_id], "", "", "", w.reason])
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
    spread = Counter(got.get(str(x.email).casefold(), 0) for x in active)
    full = sum(1 for x in active if got.get(str(x.email).casefold(), 0) >= x.capacity)
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

"""The mentor roster from one file (the embedded default roster source): YAML, CSV, JSON, or the community's
mentors page (markdown with an HTML table).

YAML (``.yaml``/``.yml``) or JSON: a list of mappings, one per mentor (a top-level ``mentors:`` key holding the
list is accepted too). CSV: a header row with the same field names, one mentor per row, lists as "a, b" text.

Fields (the domain validates them; unknown fields are passed on and ignored there):

``name``, ``email``, ``role`` (current job title), ``company``, ``expertise`` (topic keys or labels: a list, or
"a, b" text), ``years`` (of experience), ``career_stage`` (0 student … 4 principal/leader), ``languages`` (codes,
e.g. ``[he, en]``), ``capacity`` (mentees at once), ``availability`` (weekly windows: ``"Tue 18:00-20:00"``
strings, or mappings ``{day: Tue, start: "18:00", end: "20:00"}``), ``active`` (true/false), ``linkedin``,
``booking_url``.

The mentors page (``.md``, ``.markdown`` or ``.html``, e.g. Hugo's ``content/he/guides/mentors/_index.md``) is
read as it is: front matter and prose are skipped, and the one HTML table whose header has a column "שם מלא"
(else the first table) gives one record per row, keyed by the header's column titles (שם מלא, במה אני יכול
לעזור, קישור ליצירת קשר, לינקדאין). A cell with a link gives the link's address, otherwise its text. Rows
with nothing in them are skipped. The HTML is parsed with BeautifulSoup.

Each mentor becomes ``RawResponse(source="roster:<file name>", ref="mentor <n>", answers=...)``; values are
passed on as text (numbers and true/false as their text, lists as lists of text). An entry that is not a
mapping, or a value that cannot be text, comes back with empty answers and its ref says why
("mentor 3 (unreadable: ...)"), so the domain sets it aside by name while the others go on. A file that
cannot be read at all raises ``IntakeError`` naming the file, never its content.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from bs4 import BeautifulSoup, Tag

from connectors.base import IntakeError
from connectors.local.intake import Answer, UnreadableFile, answer_text, decode_text, read_bytes, read_table
from domain.models import RawResponse

YAML_SUFFIXES = (".yaml", ".yml")
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
PAGE_SUFFIXES = (".md", ".markdown", ".html", ".htm")
NAME_COLUMN = "שם מלא"


def _clock(value: Any) -> str:
    # YAML 1.1 reads an unquoted 18:00 as the base-60 number 1080; turn it back into the time it meant.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return f"{value // 60:02d}:{value % 60:02d}"
    return str(value)


def _window(item: Any) -> Any:
    """A ``{day, start, end}`` mapping as the "Tue 18:00-20:00" text the domain parses; anything else unchanged."""
    if isinstance(item, dict) and {"day", "start", "end"} <= set(item):
        return f"{item['day']} {_clock(item['start'])}-{_clock(item['end'])}"
    return item


def _answers(entry: dict[Any, Any]) -> dict[str, Answer]:
    answers: dict[str, Answer] = {}
    for key, value in entry.items():
        field = str(key).strip()
        if field == "availability":
            value = [_window(v) for v in value] if isinstance(value, list) else _window(value)
        try:
            answers[field] = answer_text(value)
        except ValueError as exc:
            raise ValueError(f"the field '{field}' {exc}") from None
    return answers


class FileRoster:
    """RosterSource over one YAML, JSON or CSV file, read whole each time."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = "local"

    def fetch(self) -> list[RawResponse]:
        """Every mentor record, unvalidated, in file order."""
        try:
            if not self.path.is_file():
                raise IntakeError(f"the roster file {self.path} does not exist")
            data = read_bytes(self.path)
            if self.path.suffix.lower() == ".csv":
                records = [
                    (row.answers, row.problem and f"the row {row.problem}") for row in read_table(self.path.name, data)
                ]
            elif self.path.suffix.lower() in PAGE_SUFFIXES:
                records = [(answers, None) for answers in page_rows(self.path.name, decode_text(self.path.name, data))]
            else:
                records = [_record(entry) for entry in self._entries(data)]
        except UnreadableFile as exc:
            raise IntakeError(f"the roster file {exc}") from None
        source = f"roster:{self.path.name}"
        return [
            RawResponse(
                source=source, ref=f"mentor {n}" + (f" (unreadable: {problem})" if problem else ""), answers=answers
            )
            for n, (answers, problem) in enumerate(records, start=1)
        ]

    def _entries(self, data: bytes) -> list[Any]:
        name = self.path.name
        if self.path.suffix.lower() not in (*YAML_SUFFIXES, ".json"):
            raise UnreadableFile(name, "has an unsupported type: use .yaml, .csv, .json or the mentors page (.md)")
        try:
            # JSON is read as the YAML it also is; libyaml's parser when installed (5-10x faster: a 400-mentor
            # roster is read on every intake run)
            loaded = yaml.load(decode_text(name, data), Loader=SAFE_LOADER)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise UnreadableFile(name, f"is not valid YAML or JSON{where}") from None
        if loaded is None:
            return []
        if isinstance(loaded, dict) and isinstance(loaded.get("mentors"), list):
            loaded = loaded["mentors"]
        if not isinstance(loaded, list):
            raise UnreadableFile(name, "must hold a list of mentors (one mapping per mentor)")
        return loaded


def _record(entry: Any) -> tuple[dict[str, Answer], str | None]:
    """One roster entry's answers, or empty answers and why they could not be taken."""
    if not isinstance(entry, dict):
        return {}, "not a mapping of field → value"
    try:
        return _answers(entry), None
    except ValueError as exc:
        return {}, str(exc)


def _cell(cell: Tag) -> str:
    """A cell's link address when it has a link (an empty href gives ''), else its text."""
    link = cell.find("a")
    if isinstance(link, Tag):
        href = link.get("href")
        return str(href).strip() if isinstance(href, str) else ""
    return " ".join(cell.get_text(" ").split())


def page_rows(name: str, text: str) -> list[dict[str, Answer]]:
    """The mentors table of a page (markdown or HTML): one {column title: cell} per row with anything in it."""
    soup = BeautifulSoup(text, "html.parser")
    tables = [t for t in soup.find_all("table") if isinstance(t, Tag)]
    if not tables:
        raise UnreadableFile(name, "has no HTML table of mentors")
    table = next((t for t in tables if NAME_COLUMN in t.get_text()), tables[0])
    rows = [r for r in table.find_all("tr") if isinstance(r, Tag)]
    if not rows:
        return []
    header = [" ".join(c.get_text(" ").split()) for c in rows[0].find_all(["th", "td"]) if isinstance(c, Tag)]
    out: list[dict[str, Answer]] = []
    for row in rows[1:]:
        cells = [c for c in row.find_all(["td", "th"]) if isinstance(c, Tag)]
        values = [_cell(c) for c in cells]
        if not any(values):
            continue
        out.append({title: value for title, value in zip(header, values, strict=False) if title})
    return out

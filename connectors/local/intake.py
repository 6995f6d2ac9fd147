"""Mentee answers from a folder of form exports (the embedded default intake source).

Every ``*.csv`` and ``*.json`` file in the folder is read:

- CSV as Google Forms exports it (File → Download → .csv): the header row holds the question titles (Hebrew or
  English), UTF-8 with or without a byte-order mark (UTF-16 with a BOM is accepted too). Checkbox answers stay
  the raw text ("Python, Backend"); the domain splits them. Rows are numbered as a spreadsheet shows them: the
  header is row 1, the first answer row 2. A repeated title gets " (2)" appended; untitled columns are ignored.
- JSON: a list of objects, question title → answer (text, number, true/false or a list of those).

Each answer becomes ``RawResponse(source="file:<name>", ref="row <n>" or the "Response ID" column,
submitted_at=None, answers=...)``; the domain parses the Timestamp column.

Watermark: a hash of the folder's files (names and bytes). When anything changed, every row of every file is
returned again (the store upserts idempotently); when nothing changed, the batch is empty.

Bad input never hides good input: a file that cannot be read (not UTF-8, broken JSON, not a list, too large,
too many columns, an unsupported type such as .xlsx) or a row that cannot be represented is reported in
``IntakeBatch.problems`` as a ``SetAside`` naming the file and row, and the other files' rows are returned.
Only a missing or unreadable folder raises ``IntakeError``. Messages never quote the files' content.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from connectors.base import IntakeBatch, IntakeError
from domain.models import RawResponse, SetAside

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_COLUMNS = 200
TABLE_SUFFIXES = (".csv", ".json")
RESPONSE_ID_COLUMNS = ("Response ID",)

Answer = str | list[str]


class UnreadableFile(IntakeError):
    """One input file cannot be read; ``reason`` says why without quoting its content."""

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason


@dataclass(frozen=True)
class Row:
    """One record of a table file: its answers, or why it could not be taken."""

    ref: str
    answers: dict[str, Answer]
    problem: str | None = None


def answer_text(value: Any) -> Answer:
    """One answer as the intake model holds it: text, or a list of texts. Raises ValueError for nested data."""
    if isinstance(value, list | tuple):
        return [_scalar(v) for v in value]
    return _scalar(value)


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise ValueError(f"holds a {type(value).__name__} where text or a list of texts was expected")


def read_bytes(path: Path) -> bytes:
    """The file's bytes, refusing absurd sizes before reading them."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            mb = 1024 * 1024
            raise UnreadableFile(path.name, f"is {size / mb:.1f} MB, over the {MAX_FILE_BYTES / mb:g} MB limit")
        return path.read_bytes()
    except OSError as exc:
        raise UnreadableFile(path.name, f"cannot be read ({exc.strerror or type(exc).__name__})") from None


def decode_text(name: str, data: bytes) -> str:
    """UTF-8 (with or without BOM) or BOM-marked UTF-16 text; anything else is refused with a fix to try."""
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFile(
            name, "is not UTF-8 text: download it again from Google Forms as .csv, or save it as 'CSV UTF-8'"
        ) from None


def read_table(name: str, data: bytes) -> list[Row]:
    """The records of one CSV or JSON file (by the name's suffix). Raises UnreadableFile for the whole file."""
    suffix = Path(name).suffix.lower()
    if suffix == ".csv":
        return _read_csv(name, decode_text(name, data))
    if suffix == ".json":
        return _read_json(name, decode_text(name, data))
    raise UnreadableFile(name, f"has an unsupported type '{suffix or 'none'}': export the form as .csv or .json")


def _titles(name: str, header: list[str]) -> list[str]:
    if len(header) > MAX_COLUMNS:
        raise UnreadableFile(name, f"has {len(header)} columns, more than the {MAX_COLUMNS} limit")
    seen: dict[str, int] = {}
    titles = []
    for raw in header:
        title = raw.strip()
        if title:
            seen[title] = seen.get(title, 0) + 1
            if seen[title] > 1:
                title = f"{title} ({seen[title]})"
        titles.append(title)
    return titles


def _ref(answers: dict[str, Answer], fallback: str) -> str:
    for column in RESPONSE_ID_COLUMNS:
        value = answers.get(column)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return fallback


def _read_csv(name: str, text: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            return []
        titles = _titles(name, header)
        rows = []
        for number, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            fallback = f"row {number}"
            if len(cells) > len(titles):
                rows.append(Row(fallback, {}, f"has {len(cells)} cells but the header has {len(titles)} titles"))
                continue
            answers: dict[str, Answer] = {t: c for t, c in zip(titles, cells, strict=False) if t}
            rows.append(Row(_ref(answers, fallback), answers))
        return rows
    except csv.Error as exc:
        raise UnreadableFile(name, f"is not valid CSV near line {reader.line_num} ({exc})") from None


def _read_json(name: str, text: str) -> list[Row]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableFile(name, f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(data, list):
        raise UnreadableFile(name, "must hold a list of answers (one object per response)")
    return list(_json_rows(name, data))


def _json_rows(name: str, items: list[Any]) -> Iterable[Row]:
    for number, item in enumerate(items, start=1):
        fallback = f"row {number}"
        if not isinstance(item, dict):
            yield Row(fallback, {}, "is not an object of question → answer")
            continue
        if not item:
            continue  # a blanked answer (erased or past retention), like an empty CSV row
        if len(item) > MAX_COLUMNS:
            raise UnreadableFile(name, f"{fallback} has {len(item)} answers, more than the {MAX_COLUMNS} limit")
        answers: dict[str, Answer] = {}
        problem = None
        for key, value in item.items():
            try:
                # most answers are text already: kept as they are, without the checks of answer_text
                answers[str(key).strip()] = value if type(value) is str else answer_text(value)
            except ValueError as exc:
                problem = f"the answer to '{str(key).strip()}' {exc}"
                break
        yield Row(fallback, {}, problem) if problem else Row(_ref(answers, fallback), answers)


def list_files(folder: Path, what: str) -> list[Path]:
    """The visible regular files of ``folder`` by name (hidden, editor-lock and our temp files skipped)."""
    try:
        if not folder.is_dir():
            raise IntakeError(f"the {what} folder {folder} does not exist or is not a folder")
        return sorted(
            p
            for p in folder.iterdir()
            if p.is_file() and not p.name.startswith((".", "~$")) and not p.name.endswith((".tmp", ".part"))
        )
    except OSError as exc:
        raise IntakeError(f"the {what} folder {folder} cannot be read ({exc.strerror or type(exc).__name__})") from None


class FileIntake:
    """IntakeSource over a folder of Google Forms exports (CSV or JSON)."""

    def __init__(self, folder: Path, name: str = "local") -> None:
        self.folder = Path(folder)
        self.name = name

    def fetch(self, since: str | None) -> IntakeBatch:
        """Every row of every file when anything changed since ``since``; an empty batch otherwise."""
        contents: list[tuple[str, bytes | UnreadableFile]] = []
        digest = hashlib.sha256()
        for path in list_files(self.folder, "intake"):
            try:
                data: bytes | UnreadableFile = read_bytes(path)
            except UnreadableFile as exc:
                data = exc
            contents.append((path.name, data))
            # Names and bytes; a file too large to read counts by its size and time instead.
            body = data if isinstance(data, bytes) else _stat_key(path)
            digest.update(f"{len(path.name.encode())}:{path.name}:{len(body)}:".encode())
            digest.update(body)
        watermark = digest.hexdigest()
        if since == watermark:
            return IntakeBatch(responses=[], watermark=watermark)

        responses: list[RawResponse] = []
        problems: list[SetAside] = []
        for file, data in contents:
            source = f"file:{file}"
            try:
                if isinstance(data, UnreadableFile):
                    raise data
                rows = read_table(file, data)
            except UnreadableFile as exc:
                problems.append(SetAside(source=source, ref="whole file", reasons=[f"the file {exc.reason}"]))
                continue
            for row in rows:
                if row.problem:
                    problems.append(SetAside(source=source, ref=row.ref, reasons=[f"the row {row.problem}"]))
                else:
                    responses.append(RawResponse(source=source, ref=row.ref, answers=row.answers))
        return IntakeBatch(responses=responses, watermark=watermark, problems=problems)


def _stat_key(path: Path) -> bytes:
    try:
        st = path.stat()
        return f"{st.st_size}:{st.st_mtime_ns}".encode()
    except OSError:
        return b"unreadable"

"""Erasure in the local files: form-export and survey rows blanked, outbox and invitation files deleted, digests
scrubbed, roster entries removed. Rows are blanked, never removed, so the other rows keep their numbers (a row's
number is its reference: a renumbered row would be read as a new answer); blank rows are skipped when read.

Each function returns how many rows or files it changed; none of them logs or returns a person's data.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import yaml

from connectors.local.files import write_private
from connectors.local.intake import decode_text
from domain.erasure import Person, names_person, scrub_text

RowTest = Callable[[list[str]], bool]


def _visible_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")
    )


def blank_rows(folder: Path, drop: RowTest) -> int:
    """Blank every CSV row and JSON object in ``folder`` for which ``drop(cells)`` holds; rows blanked."""
    total = 0
    for path in _visible_files(folder, (".csv", ".json")):
        try:
            text = decode_text(path.name, path.read_bytes())
        except Exception:  # an unreadable export is left alone (the intake reports it)
            continue
        new, n = (_blank_csv if path.suffix.lower() == ".csv" else _blank_json)(text, drop)
        if n:
            write_private(path, new.encode("utf-8"))
            total += n
    return total


def _blank_csv(text: str, drop: RowTest) -> tuple[str, int]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    n = 0
    for i, cells in enumerate(rows[1:], start=1):
        if any(c.strip() for c in cells) and drop(cells):
            rows[i] = [""] * len(cells)
            n += 1
    if not n:
        return text, 0
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    return out.getvalue(), n


def _cells(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [c for v in value.values() for c in _cells(v)]
    if isinstance(value, list):
        return [c for v in value for c in _cells(v)]
    return [str(value)]


def _blank_json(text: str, drop: RowTest) -> tuple[str, int]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError:
        return text, 0
    if not isinstance(items, list):
        return text, 0
    n = 0
    for i, item in enumerate(items):
        if isinstance(item, dict) and item and drop(_cells(item)):
            items[i] = {}
            n += 1
    return (json.dumps(items, ensure_ascii=False, indent=1), n) if n else (text, 0)


def naming(person: Person) -> RowTest:
    """A row test: the row carries the person's address or one of their full names."""
    return lambda cells: names_person(" ".join(cells), person)


def _email_text(data: bytes) -> str:
    """Every header and text part of a stored email, decoded (names in RFC 2047, bodies in base64/QP)."""
    msg = message_from_bytes(data, policy=default_policy)
    texts = [f"{k}: {v}" for k, v in msg.items()]
    for part in msg.walk() if isinstance(msg, EmailMessage) else []:
        if part.get_content_maintype() == "text":
            try:
                texts.append(str(part.get_content()))
            except (LookupError, ValueError):
                continue
    return "\n".join(texts)


def _ics_text(data: bytes) -> str:
    """An ``.ics`` unfolded (RFC 5545 folds lines at 75 octets) and unescaped."""
    text = data.decode("utf-8", errors="replace")
    text = re.sub(r"\r?\n[ \t]", "", text)
    return text.replace("\\,", ",").replace("\\;", ";").replace("\\n", " ").replace("\\N", " ")


def delete_emails(folder: Path, person: Person) -> int:
    """Delete every ``.eml`` in the outbox that names the person (to them, or about them); files deleted."""
    n = 0
    for path in _visible_files(folder, (".eml",)):
        if names_person(_email_text(path.read_bytes()), person):
            path.unlink()
            n += 1
    return n


def delete_invites(folder: Path, person: Person, event_ids: set[str]) -> int:
    """Delete the person's meetings' ``.ics`` files and any other that names them; files deleted."""
    n = 0
    for path in _visible_files(folder, (".ics",)):
        if path.stem in event_ids or names_person(_ics_text(path.read_bytes()), person):
            path.unlink()
            n += 1
    return n


def scrub_files(folder: Path, person: Person) -> int:
    """Replace the person's address and full names in the digests written to disk; files changed."""
    n = 0
    for path in _visible_files(folder, (".html", ".txt", ".md")):
        text = path.read_text(encoding="utf-8", errors="replace")
        new, count = scrub_text(text, person)
        if count:
            write_private(path, new.encode("utf-8"))
            n += 1
    return n


def remove_from_roster(path: Path, person: Person) -> tuple[int, bool]:
    """Remove the person's entries from a YAML, JSON or CSV roster file; (entries removed, whether the file
    still names them: a mentors page is the lead's to edit)."""
    if not path.is_file():
        return 0, False
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8-sig")
    if suffix in (".yaml", ".yml", ".json"):
        data = yaml.safe_load(text) if suffix != ".json" else json.loads(text)
        wrapped = isinstance(data, dict) and isinstance(data.get("mentors"), list)
        items = data["mentors"] if wrapped else data
        if isinstance(items, list):
            kept = [m for m in items if not (isinstance(m, dict) and names_person(" ".join(_cells(m)), person))]
            removed = len(items) - len(kept)
            if removed:
                body = {**data, "mentors": kept} if wrapped else kept
                out = (
                    json.dumps(body, ensure_ascii=False, indent=1)
                    if suffix == ".json"
                    else yaml.safe_dump(body, allow_unicode=True, sort_keys=False)
                )
                write_private(path, out.encode("utf-8"))
            return removed, False
    if suffix == ".csv":
        return blank_rows_file(path, naming(person)), False
    return 0, names_person(text, person)


def blank_rows_file(path: Path, drop: RowTest) -> int:
    """:func:`blank_rows` for one CSV file."""
    new, n = _blank_csv(decode_text(path.name, path.read_bytes()), drop)
    if n:
        write_private(path, new.encode("utf-8"))
    return n

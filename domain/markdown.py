"""Markdown for the lead's Prefect UI from people's text: nothing they typed becomes a link, an image or HTML.

A name like ``[Dana](https://evil.example)`` or ``![x](https://tracker.example/p.gif)`` must render as those
characters, not as a live link or a tracking image; a bare ``https://…`` or ``www.…`` must not be auto-linked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# Every ASCII punctuation character may be backslash-escaped in CommonMark; these are the ones that can start
# or shape markup (emphasis, links, images, HTML, entities, headings, lists, tables, code, autolinks).
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&:@=\"'$%^])")
# GFM's extended autolinks fire on the text after escapes are resolved; a zero-width space breaks the trigger.
_AUTOLINK = re.compile(r"(?i)(://|www\.)")
_ZWSP = "\u200b"


def md_escape(text: object) -> str:
    """``text`` as inert markdown on one line: markup characters escaped, autolink triggers broken."""
    flat = " ".join(str(text).split())
    flat = _AUTOLINK.sub(lambda m: m.group(1)[:-1] + _ZWSP + m.group(1)[-1], flat)
    return _SPECIAL.sub(r"\\\1", flat)


def md_table(headers: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    """A markdown table whose every cell (and header) is escaped with :func:`md_escape`."""
    lines = ["| " + " | ".join(md_escape(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(md_escape(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def md_code_block(text: str) -> str:
    """``text`` verbatim in a fenced block whose fence is longer than any backtick run inside (no breaking out)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"

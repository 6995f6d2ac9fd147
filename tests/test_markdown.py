"""Artifacts: people's text is inert markdown (no live links, tracking images, HTML or broken-out tables)."""

from __future__ import annotations

import markdown_it
import pytest

from domain.markdown import md_code_block, md_escape, md_table

HOSTILE = [
    "[Dana](https://evil.example/phish)",
    "![x](https://tracker.example/p.gif?u=lead)",
    "<img src=https://tracker.example/p.gif>",
    "Dana https://evil.example/a www.evil.example",
    "Dana <https://evil.example>",
    "**Dana** _Levi_ `code` # heading | cell",
    "[Dana][1]\n\n[1]: https://evil.example",
    "&lt;script&gt; &#x5b;x&#x5d;(https://evil.example)",
]


def render(markdown: str) -> str:
    return markdown_it.MarkdownIt("commonmark").enable("table").render(markdown)


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_name_renders_as_text(name: str) -> None:
    html = render(md_table(["mentee", "score"], [(name, "0.91")]))
    assert "<a " not in html and "<img" not in html and "<strong>" not in html and "<em>" not in html
    assert "<code>" not in html and "<script" not in html
    assert html.count("<td>") == 2, "the name stays in its own cell"
    # GFM's bare-URL autolinks (the Prefect UI's renderer) need "://" or "www." in the text: none is left.
    escaped = md_escape(name).replace("\\", "")
    assert "://" not in escaped and "www." not in escaped.casefold()


def test_the_text_still_reads_the_same() -> None:
    html = render(md_escape("Dana (she/her) - dana@example.org #1!"))
    assert "Dana (she/her) - dana@example.org #1!" in html


def test_a_code_block_cannot_be_broken_out_of() -> None:
    text = "report\n```\n[x](https://evil.example)\n````"
    html = render(md_code_block(text))
    assert "<a " not in html and html.count("<pre>") == 1

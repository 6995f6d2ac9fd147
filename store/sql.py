"""Small SQL helpers the repositories share: dialect-aware ``INSERT … ON CONFLICT`` and chunked ``IN`` lists."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

T = TypeVar("T")

# Well under SQLite's and PostgreSQL's bound-parameter limits, so one IN list is one statement for
# any batch a run sees in practice (a 50,000-answer export is five).
IN_CHUNK = 10_000


def insert(session: Session, table: Any) -> Any:
    """``INSERT`` of the session's dialect, with ``on_conflict_do_nothing/_update`` (SQLite and PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size`` (for ``IN`` lists and multi-row inserts)."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def among(session: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values``. On PostgreSQL one array parameter (``= ANY(…)``): psycopg scans a statement's text
    for its placeholders in Python, and an ``IN`` list of 10,000 is 10,000 of them (most of a large intake's
    extra time on PostgreSQL; issue #12)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))  # type: ignore[no-any-return]
    return column.in_(values)  # type: ignore[no-any-return]

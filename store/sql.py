"""Small SQL helpers the repositories share: dialect-aware ``INSERT … ON CONFLICT``, set-based inserts and updates,
and chunked ``IN`` lists."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic_core import to_json
from sqlalchemy import JSON, ColumnElement, Row, String, any_, bindparam, cast, func, select, text, update
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
    """``column IN values``, with the values as one parameter: SQLAlchemy expands an ``IN`` list into one bound
    value per item, each processed and rendered in Python, and psycopg then scans the statement's text for its
    placeholders in Python too (most of a large intake's extra time; issue #12). Strings go as one JSON array
    (``json_each`` on SQLite, ``json_array_elements_text`` on PostgreSQL: dumping a PostgreSQL array of 10,000
    strings escapes each in Python); other values as a PostgreSQL array, or a plain ``IN`` list on SQLite."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if all(type(v) is str for v in values):
        array = bindparam(None, json.dumps(list(values)), type_=String())
        items = (func.json_array_elements_text(cast(array, JSON)) if postgres else func.json_each(array)).table_valued(
            "value"
        )
        return column.in_(select(items.c.value))  # type: ignore[no-any-return]
    if postgres:
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))  # type: ignore[no-any-return]
    return column.in_(values)  # type: ignore[no-any-return]


def insert_rows(
    session: Session,
    table: Any,
    rows: Sequence[Mapping[str, Any]],
    *,
    returning: Sequence[str] = (),
    conflict: Sequence[str] | None = None,
) -> list[Row[Any]]:
    """Insert ``rows`` (dicts with the same keys) in one statement per :data:`IN_CHUNK`; with ``returning``
    (column names), the returned rows; ``conflict``: the unique columns on which a row already there is skipped.

    On PostgreSQL one ``INSERT … SELECT … FROM json_to_recordset(<the rows as one JSON parameter>)``: a multi-row
    ``VALUES`` of thousands of placeholders is re-scanned by psycopg in Python for every statement (too long for
    its cache), ``executemany`` dumps each row apart, and arrays of text are escaped item by item; each was most
    of a large intake's extra time there (issue #12). Elsewhere (SQLite) the dialect's own ``executemany``."""
    out: list[Row[Any]] = []
    dialect = session.get_bind().dialect
    for part in chunks(rows):
        if not part:
            continue
        if dialect.name != "postgresql":
            stmt = insert(session, table)
            if conflict is not None:
                stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
            if returning:
                out += session.execute(stmt.returning(*(table.c[c] for c in returning)), list(part)).all()
            else:
                session.execute(stmt, list(part))
            continue
        quote = dialect.identifier_preparer.quote
        names = list(part[0])
        cols = ", ".join(quote(n) for n in names)
        source = _recordset(session, table, names)
        sql = f"INSERT INTO {quote(table.name)} ({cols}) SELECT {cols} FROM {source}"
        if conflict is not None:
            sql += f" ON CONFLICT ({', '.join(quote(c) for c in conflict)}) DO NOTHING"
        if returning:
            sql += f" RETURNING {', '.join(quote(c) for c in returning)}"
        result = session.execute(text(sql), {"rows": _json_rows(part)})
        if returning:
            out += result.all()
    return out


def update_rows(session: Session, table: Any, rows: Sequence[Mapping[str, Any]], *, key: Sequence[str]) -> None:
    """Update one row per item of ``rows`` (dicts with the same keys): the row whose ``key`` columns have the
    item's values gets the item's other values; one statement per :data:`IN_CHUNK`.

    On PostgreSQL one ``UPDATE … FROM json_to_recordset(…)`` (as :func:`insert_rows`, for the same reasons);
    elsewhere (SQLite) a Core ``executemany``: compiled once, not per row or per bound value."""
    dialect = session.get_bind().dialect
    for part in chunks(rows):
        if not part:
            continue
        names = list(part[0])
        values = [n for n in names if n not in key]
        if dialect.name != "postgresql":
            stmt = update(table).where(*(table.c[k] == bindparam(f"_key_{k}") for k in key))
            stmt = stmt.values({n: bindparam(n) for n in values})
            params = [{**{n: r[n] for n in values}, **{f"_key_{k}": r[k] for k in key}} for r in part]
            session.execute(stmt, params)
            continue
        quote = dialect.identifier_preparer.quote
        sets = ", ".join(f"{quote(n)} = v.{quote(n)}" for n in values)
        match = " AND ".join(f"t.{quote(k)} = v.{quote(k)}" for k in key)
        sql = f"UPDATE {quote(table.name)} AS t SET {sets} FROM {_recordset(session, table, names)} WHERE {match}"
        session.execute(text(sql), {"rows": _json_rows(part)})


def _recordset(session: Session, table: Any, names: Sequence[str]) -> str:
    """``json_to_recordset`` of the ``:rows`` parameter as ``v``, with ``names`` typed as ``table``'s columns."""
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    types = ", ".join(f"{quote(n)} {table.c[n].type.compile(dialect=dialect)}" for n in names)
    return f"json_to_recordset(CAST(:rows AS json)) AS v({types})"


def _json_rows(rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as one JSON array, datetimes as the store keeps them: aware only (ISO with its offset, which
    PostgreSQL reads as the same instant). Serialized by pydantic-core (json.dumps, with a Python call per datetime,
    was a second of a 50,000-answer intake)."""
    if any(isinstance(v, datetime) and v.tzinfo is None for r in rows for v in r.values()):
        raise ValueError("the store only keeps timezone-aware datetimes")
    return to_json(list(rows)).decode()

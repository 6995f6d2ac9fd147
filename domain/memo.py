"""A cache of what is derived from one immutable object (a program's rules, a column mapping), by its identity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class PerObject(Generic[K, V]):
    """``build(obj)`` computed once per object, kept while the object lives in the cache.

    Keyed by identity, not by value: the objects (pydantic models, mappings) are immutable in use but not
    hashable. The object is kept with its value, so an id reused by another object is never a false hit. A
    process holds one set of rules; tests load many, so the cache is emptied when it reaches ``limit``.
    """

    def __init__(self, build: Callable[[K], V], limit: int = 8) -> None:
        self.build, self.limit = build, limit
        self._hits: dict[int, tuple[K, V]] = {}

    def __call__(self, obj: K) -> V:
        hit = self._hits.get(id(obj))
        if hit is None or hit[0] is not obj:
            if len(self._hits) >= self.limit:
                self._hits.clear()
            hit = self._hits[id(obj)] = (obj, self.build(obj))
        return hit[1]

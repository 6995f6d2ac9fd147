"""domain.memo: what is derived from an immutable object, computed once per object."""

from __future__ import annotations

from domain.memo import PerObject


def test_built_once_per_object_and_never_shared_between_equal_objects() -> None:
    built: list[int] = []

    def build(xs: list[int]) -> int:
        built.append(len(xs))
        return sum(xs)

    cached = PerObject(build, limit=2)
    a, b = [1, 2], [1, 2]
    assert (cached(a), cached(a), cached(b)) == (3, 3, 3)
    assert built == [2, 2], "one build for a, one for b (equal, but another object)"
    a.append(3)  # not expected in use (the objects are immutable): shows the key is the object, not its value
    assert cached(a) == 3


def test_the_cache_is_emptied_at_its_limit() -> None:
    built: list[str] = []
    cached = PerObject(lambda s: built.append(s) or s.upper(), limit=2)
    keep = [f"x{i}" for i in range(3)]
    for s in keep:
        cached(s)
    cached(keep[0])
    assert built == ["x0", "x1", "x2", "x0"]

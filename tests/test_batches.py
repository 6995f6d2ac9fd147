"""Side effects inside one batch task: a few at a time, each item's failure its own, transient ones retried."""

from __future__ import annotations

import threading
import time

import pytest

import tasks.common
from connectors.base import MailUnavailable
from tasks.common import SIDE_EFFECT_WORKERS, each


def test_one_failure_never_stops_the_others_and_is_reported() -> None:
    def work(n: int) -> int:
        if n == 3:
            raise ValueError("bad item")
        return n * 10

    done, failed = each(list(range(6)), work)
    assert done == {0: 0, 1: 10, 2: 20, 4: 40, 5: 50}
    assert failed == [(3, "ValueError: bad item")]


def test_transient_failures_are_retried_per_item(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks.common, "TRANSIENT_RETRY_DELAYS", (0, 0))
    tries: dict[int, int] = {}
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            tries[n] = tries.get(n, 0) + 1
        if n == 1 and tries[n] < 3:
            raise MailUnavailable("503")
        if n == 2:
            raise MailUnavailable("503 for good")
        return n

    done, failed = each([0, 1, 2], work)
    assert done == {0: 0, 1: 1} and tries[1] == 3
    assert [item for item, _ in failed] == [2] and tries[2] == 3, "two retries, then it fails for good"


def test_concurrency_is_bounded() -> None:
    running, peak = 0, 0
    lock = threading.Lock()
    gate = threading.Event()

    def work(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            if running == SIDE_EFFECT_WORKERS:
                gate.set()
        gate.wait(timeout=5)
        with lock:
            running -= 1
        return n

    done, _ = each(list(range(20)), work)
    assert len(done) == 20 and peak == SIDE_EFFECT_WORKERS


def test_a_crash_ends_the_batch() -> None:
    def work(n: int) -> int:
        if n == 2:
            raise SystemExit("the process is going down")
        return n

    with pytest.raises(SystemExit):
        each([0, 1, 2, 3], work)


def test_a_crash_starts_no_more_items() -> None:
    """The process is going down: the items running finish, none that had not started starts (each would delay
    the next process, which has a few minutes to settle what the dying item left half done)."""
    started: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            started.append(n)
        if n == 0:
            raise SystemExit("the process is going down")
        time.sleep(0.05)
        return n

    with pytest.raises(SystemExit):
        each(list(range(40)), work)
    assert len(started) <= SIDE_EFFECT_WORKERS, "only the items already running when it crashed"

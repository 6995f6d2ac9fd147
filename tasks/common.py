"""What every task shares: the run's clock, retry rules and a safe logger."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

from prefect import Task
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from prefect.utilities.annotations import quote

from connectors.base import TransientError
from domain.clock import resolve_now as resolve_now  # re-exported: flows take the clock from here
from tasks.logs import log as log  # re-exported: tasks import it from here

# Side effects run a few at a time: enough to overlap HTTP latency on 2 cores, few enough to stay
# under the providers' rate limits (Prefect's own default pool is unbounded).
SIDE_EFFECT_WORKERS = 4

# Inside a batch task, an item whose side effect failed transiently (timeout, 429, 5xx) is tried again after
# these pauses; the ledger makes the retry safe. Anything else fails that item only.
TRANSIENT_RETRY_DELAYS: tuple[float, ...] = (5, 30, 120)

H = TypeVar("H", bound=Hashable)


class _NotStarted(Exception):
    """An item left alone because the process is going down (never reported: the process-ending error is)."""


R = TypeVar("R")


T = TypeVar("T")


def as_is(value: T) -> T:
    """``value`` handed to a task as it is (Prefect's ``quote``): not walked for futures and states first. A
    flow passes its batches (an export's answers, a proposal's matches) this way: walking a 10,000-answer batch
    took Prefect seconds per task call (issue #12). Only for values that hold no future or state."""
    return cast(T, quote(value))


def retry_if_transient(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry only what may succeed next time (timeouts, 429, 5xx) and the connector did not retry itself
    (one retry layer per connector); the ledger makes a retry safe."""
    try:
        state.result()
    except TransientError as exc:
        return exc.task_may_retry
    except Exception:
        return False
    return False


def workers_for(*connectors: object) -> int:
    """How many of a batch's items go at a time through these connectors: one when none of them waits on a
    network (local files, whose writes are short: in threads they only wait for each other and for the
    interpreter's lock, measured ~15 % slower for 5,000 acknowledgments; issue #12), else
    ``SIDE_EFFECT_WORKERS``."""
    waits = any(getattr(c, "waits_on_network", True) for c in connectors)
    return SIDE_EFFECT_WORKERS if waits else 1


def each(
    items: Sequence[H], work: Callable[[H], R], workers: int = SIDE_EFFECT_WORKERS
) -> tuple[dict[H, R], list[tuple[H, str]]]:
    """Run ``work`` on every item, ``workers`` at a time, inside one task run.

    Returns the results by item and (item, short reason) for each that failed for good: one item's failure
    never stops the others. A :class:`TransientError` is retried after :data:`TRANSIENT_RETRY_DELAYS`, unless the
    connector already spent its own retries on it (``task_may_retry``: one retry layer per connector). A
    process-ending exception (SystemExit, KeyboardInterrupt) stops the items not started yet and is re-raised once
    the running items are done.
    """

    going_down = threading.Event()

    def attempt(item: H) -> R:
        if going_down.is_set():
            raise _NotStarted
        try:
            for pause in TRANSIENT_RETRY_DELAYS:
                try:
                    return work(item)
                except TransientError as exc:
                    if not exc.task_may_retry:
                        raise
                    time.sleep(pause)
            return work(item)
        except Exception:
            raise
        except BaseException:
            # The process is going down: no item that has not started yet starts now. (Queued items would
            # otherwise run on, for as long as they take, while what the dying item left half done — an email
            # accepted but not recorded — waits for the next process, whose time to settle it is short.)
            going_down.set()
            raise

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="side-effect") as pool:
        # each item runs in a copy of this task's context, so logging and the run context work in the threads
        futures = [(item, pool.submit(contextvars.copy_context().run, attempt, item)) for item in items]
    for _, future in futures:
        exc = future.exception()
        if exc is not None and not isinstance(exc, Exception):
            raise exc
    done: dict[H, R] = {}
    failed: list[tuple[H, str]] = []
    for item, future in futures:
        exc = future.exception()
        if exc is None:
            done[item] = future.result()
        else:  # crossed a connector boundary: no personal data in it
            failed.append((item, f"{type(exc).__name__}: {exc}"[:300]))
    return done, failed

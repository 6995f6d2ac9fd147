"""What every task shares: the run's clock, retry rules and a safe logger."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from prefect import Task
from prefect.client.schemas.objects import TaskRun
from prefect.futures import PrefectFuture
from prefect.logging import get_run_logger
from prefect.states import State

from connectors.base import TransientError
from domain.clock import resolve_now as resolve_now  # re-exported: flows take the clock from here

# Side effects run a few at a time: enough to overlap HTTP latency on 2 cores, few enough to stay
# under the providers' rate limits (Prefect's own default pool is unbounded).
SIDE_EFFECT_WORKERS = 4

K = TypeVar("K")
R = TypeVar("R")


def retry_if_transient(task: Task[Any, Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry only what may succeed next time (timeouts, 429, 5xx); the ledger makes a retry safe."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:
        return False
    return False


def log(message: str, **counts: object) -> None:
    """Log counts and ids only: never names, emails or answers."""
    details = ", ".join(f"{k}={v}" for k, v in counts.items())
    get_run_logger().info(f"{message}{': ' if details else ''}{details}")


def collect(keys: Sequence[K], futures: Iterable[PrefectFuture[R]]) -> tuple[dict[K, R], list[tuple[K, str]]]:
    """Wait for mapped task runs; results by key, and (key, short reason) for each that failed for good."""
    done: dict[K, R] = {}
    failed: list[tuple[K, str]] = []
    for key, future in zip(keys, futures, strict=True):
        future.wait()
        state = future.state
        if state.is_completed():
            done[key] = future.result()
        else:
            failed.append((key, _reason(state)))
    return done, failed


def _reason(state: State[Any]) -> str:
    try:
        state.result()
    except Exception as exc:  # the exception crossed a connector boundary: no personal data in it
        return f"{type(exc).__name__}: {exc}"[:300]
    return state.message or state.name or "failed"

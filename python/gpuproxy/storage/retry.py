"""Bounded retry of a write that failed on a transient lock or busy error.

Several processes (Granian workers) writing one SQLite file take turns on its single write
lock; `busy_timeout` makes a writer wait, but a writer can still get "database is locked"
when another one holds the lock longer. PostgreSQL's equivalents are serialization failures
and deadlocks. These errors say "try again": the batch writers retry a few times with
jittered exponential back-off, keeping their rows, instead of dropping them or waiting for
their next interval. Any other error is raised at once.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["is_transient", "retry_transient"]

T = TypeVar("T")

_SQLITE_TRANSIENT = ("locked", "busy")
# SQLSTATE: serialization_failure, deadlock_detected, lock_not_available.
_PG_TRANSIENT = frozenset({"40001", "40P01", "55P03"})


def is_transient(exc: BaseException) -> bool:
    """True for an error that a retry of the same write may not get."""
    if isinstance(exc, sqlite3.OperationalError):
        message = str(exc).lower()
        return any(word in message for word in _SQLITE_TRANSIENT)
    return getattr(exc, "sqlstate", None) in _PG_TRANSIENT


async def retry_transient(
    op: Callable[[], Awaitable[T]],
    *,
    attempts: int = 6,
    base_s: float = 0.02,
    max_s: float = 0.5,
) -> T:
    """Run `op`, retrying transient errors up to `attempts` times in all; re-raises the last."""
    delay = base_s
    for attempt in range(1, attempts + 1):
        try:
            return await op()
        except Exception as exc:
            if attempt == attempts or not is_transient(exc):
                raise
        # Full jitter: writers that collided do not retry in lock-step.
        await asyncio.sleep(random.uniform(delay / 2, delay))  # noqa: S311 - not crypto
        delay = min(max_s, delay * 2)
    raise AssertionError("unreachable")  # pragma: no cover

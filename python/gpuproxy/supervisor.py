"""Background loops that survive their errors: restarted with capped exponential back-off.

A loop (the GPU accrual, the ledger and usage writers, the reset poller, the availability
poller, the Redis subscriptions...) is a coroutine *factory*: when the coroutine raises, the
error is logged and a new coroutine is started after 0.5 s, 1 s, 2 s, ... up to 30 s; a loop
that then runs for `stable_after_s` counts as healthy again (its back-off starts over). A loop
that returns has finished its work and is not restarted.

Each loop's state (`running`, `restarting`, `finished`, `stopped`), its restart count and its
last error (type and redacted message, never a traceback) are what `/health/ready` reports and
what Prometheus scrapes (`gpuproxy_background_loop_*`). Readiness fails while a loop has failed
`failing_after` times in a row: it is not recovering by itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gpuproxy.logs import redact

__all__ = ["LoopState", "Supervisor"]

log = logging.getLogger(__name__)

_MAX_ERROR_TEXT = 300


@dataclass(slots=True)
class LoopState:
    name: str
    state: str = "running"  # running | restarting | finished | stopped
    restarts: int = 0
    #: failures since the loop last ran for `stable_after_s` (0 once it is healthy again)
    consecutive_failures: int = 0
    last_error: str | None = None
    last_error_at: float | None = None  # unix seconds

    def view(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "restarts": self.restarts,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return redact(text)[:_MAX_ERROR_TEXT]


class Supervisor:
    def __init__(
        self,
        *,
        initial_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        stable_after_s: float = 60.0,
        failing_after: int = 3,
    ) -> None:
        self.initial_backoff_s = initial_backoff_s
        self.max_backoff_s = max_backoff_s
        self.stable_after_s = stable_after_s
        self.failing_after = failing_after
        self.loops: dict[str, LoopState] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def run(self, name: str, factory: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Start `factory()` now and again after each failure, until the task is cancelled."""
        state = self.loops[name] = LoopState(name)
        task = asyncio.get_running_loop().create_task(self._supervise(state, factory), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def backoff_s(self, failures: int) -> float:
        """The wait before restart number `failures` (1, 2, ...): doubles, capped."""
        return min(self.max_backoff_s, self.initial_backoff_s * 2.0 ** max(0, failures - 1))

    async def _supervise(self, state: LoopState, factory: Callable[[], Awaitable[None]]) -> None:
        try:
            while True:
                state.state = "running"
                started = time.monotonic()
                try:
                    await factory()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if time.monotonic() - started >= self.stable_after_s:
                        state.consecutive_failures = 0
                    state.consecutive_failures += 1
                    state.restarts += 1
                    state.last_error = _error_text(exc)
                    state.last_error_at = time.time()
                    state.state = "restarting"
                    wait = self.backoff_s(state.consecutive_failures)
                    log.error(
                        "background loop %s failed (%s); restarting in %.1f s",
                        state.name,
                        state.last_error,
                        wait,
                        exc_info=exc,
                    )
                    await asyncio.sleep(wait)
                    continue
                state.state = "finished"
                return
        except asyncio.CancelledError:
            state.state = "stopped"
            raise

    def failing(self) -> list[str]:
        """Loops that failed `failing_after` times in a row and are still not running."""
        return sorted(
            s.name
            for s in self.loops.values()
            if s.state == "restarting" and s.consecutive_failures >= self.failing_after
        )

    def report(self) -> dict[str, dict[str, Any]]:
        return {name: state.view() for name, state in sorted(self.loops.items())}

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

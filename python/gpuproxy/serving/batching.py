"""Dynamic batching: predictions of one model that arrive within a short window run as one
ONNX Runtime call (their rows concatenated), then each caller gets its own rows back.

Only for models whose every input and output has a free leading (batch) dimension, and
only requests that ask for the same outputs share a batch. A batch runs when the window
(MODELS_BATCH_WINDOW_MS) ends or its rows reach MODELS_MAX_BATCH_SIZE. Each caller was
admitted and is charged by billing on its own; a failing batch fails each of its callers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from gpuproxy.serving.formats import TensorSpec
from gpuproxy.serving.runtime import Ran

__all__ = ["Batcher", "batchable"]

Run = Callable[[dict[str, np.ndarray], list[str]], Awaitable[Ran]]


def batchable(inputs: list[TensorSpec], outputs: list[TensorSpec]) -> bool:
    return all(s.shape and s.shape[0] == -1 for s in [*inputs, *outputs])


@dataclass(eq=False)
class _Pending:
    outputs: tuple[str, ...]
    items: list[tuple[dict[str, np.ndarray], asyncio.Future[Ran]]] = field(default_factory=list)
    rows: int = 0
    timer: asyncio.TimerHandle | None = None


class Batcher:
    """The batches of one model (one per process)."""

    def __init__(self, run: Run, window_s: float, max_rows: int) -> None:
        self._run = run
        self._window_s = window_s
        self._max_rows = max_rows
        self._open: dict[tuple[str, ...], _Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, feeds: dict[str, np.ndarray], output_names: list[str]) -> Ran:
        rows = next(iter(feeds.values())).shape[0]
        if rows >= self._max_rows:
            return await self._run(feeds, output_names)  # already a full batch
        key = tuple(output_names)
        loop = asyncio.get_running_loop()
        pending = self._open.get(key)
        if pending is not None and pending.rows + rows > self._max_rows:
            self._start(key)
            pending = None
        if pending is None:
            pending = _Pending(key)
            self._open[key] = pending
            pending.timer = loop.call_later(self._window_s, self._start, key)
        future: asyncio.Future[Ran] = loop.create_future()
        pending.items.append((feeds, future))
        pending.rows += rows
        if pending.rows >= self._max_rows:
            self._start(key)
        # The caller may give up (timeout, disconnect); the batch runs for the others.
        return await asyncio.shield(future)

    def _start(self, key: tuple[str, ...]) -> None:
        pending = self._open.pop(key, None)
        if pending is None:
            return
        if pending.timer is not None:
            pending.timer.cancel()
        task = asyncio.get_running_loop().create_task(self._execute(pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, pending: _Pending) -> None:
        names = list(pending.outputs)
        items = pending.items
        try:
            if len(items) == 1:
                ran = await self._run(items[0][0], names)
                _settle(items[0][1], ran)
                return
            joined = {
                name: np.concatenate([feeds[name] for feeds, _ in items], axis=0)
                for name in items[0][0]
            }
            ran = await self._run(joined, names)
            total = sum(next(iter(f.values())).shape[0] for f, _ in items)
            if any(v.ndim == 0 or v.shape[0] != total for v in ran.outputs.values()):
                # The graph does not answer row for row after all: run each on its own.
                for feeds, future in items:
                    _settle(future, await self._run(feeds, names))
                return
            start = 0
            for feeds, future in items:
                rows = next(iter(feeds.values())).shape[0]
                mine = {n: value[start : start + rows] for n, value in ran.outputs.items()}
                start += rows
                _settle(future, Ran(mine, ran.latency_ms, ran.used_gpu, ran.runtime, len(items)))
        except BaseException as exc:
            for _, future in items:
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # the caller may be gone; never "never retrieved"
            if not isinstance(exc, Exception):
                raise

    async def close(self) -> None:
        for key in list(self._open):
            self._start(key)
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await task


def _settle(future: asyncio.Future[Ran], ran: Ran) -> None:
    if not future.done():
        future.set_result(ran)

"""One SSE answer for agent protocols (MCP, A2A): the work runs in a task that emits
JSON-RPC messages; each becomes an `event: message` as it is emitted. A client that goes
away cancels the work (inference through the data plane is then settled there)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
from litestar.response import Stream

__all__ = ["Emit", "sse_answer"]

log = logging.getLogger(__name__)
Emit = Callable[[dict[str, Any]], Awaitable[None]]
_encode = msgspec.json.Encoder().encode


def sse_answer(
    work: Callable[[Emit], Awaitable[None]], on_failure: Callable[[], dict[str, Any]]
) -> Stream:
    """Stream what `work` emits; when it fails unexpectedly, `on_failure()` is sent last."""
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def run() -> None:
        try:
            await work(queue.put)
        except Exception:  # a bug: logged, and the client still gets a final answer
            log.exception("streamed agent request failed")
            await queue.put(on_failure())
        finally:
            await queue.put(None)

    async def events() -> AsyncIterator[bytes]:
        task = asyncio.create_task(run(), name="agent-sse")
        try:
            while (item := await queue.get()) is not None:
                yield b"event: message\ndata: " + _encode(item) + b"\n\n"
        finally:
            task.cancel()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Stream(events(), media_type="text/event-stream", headers=headers)

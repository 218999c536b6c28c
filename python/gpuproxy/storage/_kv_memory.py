"""In-memory key-value store for the embedded default (one process)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from gpuproxy.storage.kv import Script

__all__ = ["MemoryStore"]

_SUBSCRIBER_QUEUE = 1024


class MemoryStore:
    """Dict with per-key expiry (checked lazily and swept on writes); pub/sub via queues.

    Operations are synchronous under the event loop, so each is atomic; scripts run their
    Python twin directly.
    """

    kind = "memory"

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._subscribers: dict[str, set[asyncio.Queue[bytes]]] = {}
        self._writes = 0

    # LocalState (used by Script twins)
    def get_now(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires is not None and expires <= self._clock():
            del self._data[key]
            return None
        return value

    def set_now(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._data[key] = (value, None if ttl is None else self._clock() + ttl)
        self._writes += 1
        if self._writes % 4096 == 0:
            self._sweep()

    def delete_now(self, key: str) -> bool:
        return self._data.pop(key, None) is not None

    def ttl_now(self, key: str) -> float | None:
        if self.get_now(key) is None:
            return None
        expires = self._data[key][1]
        return None if expires is None else max(0.0, expires - self._clock())

    def _sweep(self) -> None:
        now = self._clock()
        for key in [k for k, (_, e) in self._data.items() if e is not None and e <= now]:
            del self._data[key]

    # KeyValueStore
    async def get(self, key: str) -> bytes | None:
        return self.get_now(key)

    async def set(
        self, key: str, value: bytes, ttl: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        if only_if_absent and self.get_now(key) is not None:
            return False
        self.set_now(key, value, ttl)
        return True

    async def delete(self, key: str) -> bool:
        return self.delete_now(key)

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        current = self.get_now(key)
        if current is None:
            value = amount
            self.set_now(key, str(value).encode(), ttl)
        else:
            value = int(current) + amount
            remaining = self.ttl_now(key)
            self.set_now(key, str(value).encode(), remaining)
        return value

    async def ttl(self, key: str) -> float | None:
        return self.ttl_now(key)

    async def run_script(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return script.local(self, keys, args)

    async def publish(self, channel: str, message: bytes) -> None:
        for queue in self._subscribers.get(channel, ()):
            if queue.full():  # a slow subscriber loses its oldest message, never blocks others
                queue.get_nowait()
            queue.put_nowait(message)

    async def subscribe(
        self, channel: str, *, on_subscribed: Callable[[], Awaitable[object]] | None = None
    ) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=_SUBSCRIBER_QUEUE)
        self._subscribers.setdefault(channel, set()).add(queue)
        try:
            if on_subscribed is not None:
                await on_subscribed()
            while True:
                yield await queue.get()
        finally:
            subscribers = self._subscribers.get(channel)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    del self._subscribers[channel]

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._data.clear()

"""Key-value store interface: Redis when configured, in-memory otherwise.

Shared state (sessions, rate limits, spend windows, worker registry, events) goes
through this interface so the embedded default and a Redis-backed cluster behave alike.
Atomic multi-step operations are `Script`s: Lua for Redis, a Python function for memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gpuproxy.config import Settings

__all__ = ["KeyValueStore", "LocalState", "Script", "open_kv"]


class LocalState(Protocol):
    """What a Script's Python twin may use (the memory store, under its lock)."""

    def get_now(self, key: str) -> bytes | None: ...
    def set_now(self, key: str, value: bytes, ttl: float | None = None) -> None: ...
    def delete_now(self, key: str) -> bool: ...
    def ttl_now(self, key: str) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Script:
    """An atomic operation: `lua` runs on Redis (EVALSHA), `local` on the memory store.

    Both receive (keys, args) and must return the same values (ints, bytes, lists of them).
    """

    lua: str
    local: Callable[[LocalState, Sequence[str], Sequence[Any]], Any]


class KeyValueStore(Protocol):
    kind: str

    async def get(self, key: str) -> bytes | None: ...

    async def set(
        self, key: str, value: bytes, ttl: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        """Store `value`; with `only_if_absent`, only when the key is missing (returns False)."""

    async def delete(self, key: str) -> bool: ...

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        """Atomically add `amount`; a new key gets `ttl` seconds (an existing one keeps its own)."""

    async def ttl(self, key: str) -> float | None:
        """Seconds left, or None when the key is missing or never expires."""

    async def run_script(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any: ...

    async def publish(self, channel: str, message: bytes) -> None: ...

    def subscribe(
        self, channel: str, *, on_subscribed: Callable[[], Awaitable[object]] | None = None
    ) -> AsyncIterator[bytes]:
        """Messages published on `channel` from now on (an async generator; close to stop).

        `on_subscribed` is awaited each time the server confirms the subscription: once at
        the start, and again whenever the client re-subscribed on a new connection (messages
        published in between were lost). A lost connection that cannot be re-established
        raises; `storage.pubsub.follow` resubscribes with back-off."""

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


async def open_kv(settings: Settings) -> KeyValueStore:
    if settings.redis_url:
        from gpuproxy.storage._kv_redis import RedisStore

        return await RedisStore.connect(settings.redis_url)
    from gpuproxy.storage._kv_memory import MemoryStore

    return MemoryStore()

"""The auth invalidation channel after Redis restarts: caches flushed once reconnected."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from tests.fakes.redis_server import PrivateRedis

from gpuproxy.accounts.invalidation import InvalidationBus
from gpuproxy.storage._kv_memory import MemoryStore
from gpuproxy.storage._kv_redis import RedisStore


@pytest.mark.redis
async def test_caches_are_flushed_after_the_subscription_comes_back(
    private_redis: PrivateRedis,
) -> None:
    store = await RedisStore.connect(private_redis.url)
    messages: list[tuple[str, str]] = []
    resets: list[float] = []
    bus = InvalidationBus(
        store, lambda k, i: messages.append((k, i)), lambda: resets.append(time.monotonic())
    )
    task = asyncio.create_task(bus.run())
    try:
        assert await bus.wait_ready(5)
        private_redis.kill()
        await asyncio.sleep(0.3)
        private_redis.start()
        restarted = time.monotonic()
        for _ in range(100):
            if bus.healthy and any(at >= restarted for at in resets):
                break
            await asyncio.sleep(0.05)
        assert any(at >= restarted for at in resets), "no flush after reconnecting"
        # Revocations published by another worker arrive again.
        other = await RedisStore.connect(private_redis.url)
        try:
            for _ in range(100):
                await other.publish("gpx:auth:invalidate", b"user:u1")
                await asyncio.sleep(0.05)
                if ("user", "u1") in messages:
                    break
        finally:
            await other.close()
        assert ("user", "u1") in messages
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()


class _ResubscribingStore(MemoryStore):
    """Confirms its subscription twice, as redis-py does after reconnecting by itself."""

    async def subscribe(  # type: ignore[override]
        self, channel: str, *, on_subscribed: Callable[[], Awaitable[object]] | None = None
    ) -> AsyncIterator[bytes]:
        async for message in super().subscribe(channel, on_subscribed=on_subscribed):
            if on_subscribed is not None and message.startswith(b"user:"):
                await on_subscribed()
            yield message


async def test_a_silent_resubscription_flushes_the_caches() -> None:
    resets: list[int] = []
    bus = InvalidationBus(_ResubscribingStore(), lambda k, i: None, lambda: resets.append(1))
    task = asyncio.create_task(bus.run())
    try:
        assert await bus.wait_ready(5)
        before = len(resets)
        await bus.kv.publish("gpx:auth:invalidate", b"user:u1")
        for _ in range(50):
            if len(resets) > before:
                break
            await asyncio.sleep(0.01)
        assert len(resets) == before + 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

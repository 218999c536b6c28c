"""`follow`: a subscription that comes back after Redis restarts, and resynchronises."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from tests.fakes.redis_server import PrivateRedis

from gpuproxy.storage._kv_memory import MemoryStore
from gpuproxy.storage._kv_redis import RedisStore
from gpuproxy.storage.pubsub import follow

pytestmark = pytest.mark.redis


async def _collect(messages: AsyncIterator[bytes], into: asyncio.Queue[bytes]) -> None:
    async for message in messages:
        await into.put(message)


async def _publish_until_heard(
    store: RedisStore, message: bytes, heard: asyncio.Queue[bytes]
) -> None:
    """Publish until the subscriber hears it (the subscription may still be coming back)."""
    for _ in range(200):
        with contextlib.suppress(Exception):  # Redis may still be starting
            await store.publish("chan", message)
        try:
            assert await asyncio.wait_for(heard.get(), 0.1) == message
            return
        except TimeoutError:
            continue
    raise AssertionError(f"{message!r} never arrived")


async def test_follow_resubscribes_and_resyncs_after_a_redis_restart(
    private_redis: PrivateRedis,
) -> None:
    store = await RedisStore.connect(private_redis.url)
    resyncs: list[int] = []

    async def resync() -> None:
        resyncs.append(1)

    heard: asyncio.Queue[bytes] = asyncio.Queue()
    listener = asyncio.create_task(
        _collect(follow(store, "chan", on_resync=resync, max_backoff_s=0.5), heard)
    )
    try:
        await _publish_until_heard(store, b"before", heard)
        assert resyncs == []  # the first subscription is not a resynchronisation

        private_redis.kill()
        await asyncio.sleep(0.5)  # the subscription notices the loss
        private_redis.start()

        await _publish_until_heard(store, b"after", heard)
        assert resyncs == [1]
        assert not listener.done()
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
        await store.close()


async def test_follow_on_the_memory_store_never_resyncs() -> None:
    store = MemoryStore()
    resyncs: list[int] = []

    async def resync() -> None:
        resyncs.append(1)

    messages = follow(store, "chan", on_resync=resync)
    first = asyncio.ensure_future(anext(messages))
    await asyncio.sleep(0)
    await store.publish("chan", b"one")
    assert await first == b"one"
    assert resyncs == []
    await messages.aclose()

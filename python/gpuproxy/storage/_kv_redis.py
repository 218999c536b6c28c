"""Redis key-value store (redis.asyncio), shared by every worker and instance."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from gpuproxy.storage.kv import Script

__all__ = ["RedisStore"]


class RedisStore:
    kind = "redis"

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._shas: dict[str, str] = {}

    @classmethod
    async def connect(cls, url: str) -> RedisStore:
        client = aioredis.Redis.from_url(
            url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
        )
        return cls(client)

    @property
    def client(self) -> aioredis.Redis:
        return self._client

    async def get(self, key: str) -> bytes | None:
        value = await self._client.get(key)
        return value if isinstance(value, bytes) else None

    async def set(
        self, key: str, value: bytes, ttl: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        px = None if ttl is None else max(1, int(ttl * 1000))
        return bool(await self._client.set(key, value, px=px, nx=only_if_absent))

    async def delete(self, key: str) -> bool:
        return bool(await self._client.delete(key))

    async def incr(self, key: str, amount: int = 1, ttl: float | None = None) -> int:
        if ttl is None:
            return int(await self._client.incrby(key, amount))
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.incrby(key, amount)
            pipe.pexpire(key, max(1, int(ttl * 1000)), nx=True)
            value, _ = await pipe.execute()
        return int(value)

    async def ttl(self, key: str) -> float | None:
        millis = int(await self._client.pttl(key))
        return None if millis < 0 else millis / 1000

    async def run_script(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        sha = self._shas.get(script.lua)
        if sha is None:
            sha = self._shas[script.lua] = str(await self._client.script_load(script.lua))
        try:
            return await self._client.evalsha(sha, len(keys), *keys, *args)
        except NoScriptError:  # the server restarted or flushed its script cache
            self._shas.pop(script.lua, None)
            return await self._client.eval(script.lua, len(keys), *keys, *args)

    async def publish(self, channel: str, message: bytes) -> None:
        await self._client.publish(channel, message)

    async def subscribe(
        self, channel: str, *, on_subscribed: Callable[[], Awaitable[object]] | None = None
    ) -> AsyncIterator[bytes]:
        # Confirmations are kept: redis-py re-subscribes by itself after a reconnect, and
        # the new confirmation is the only sign that messages were lost in between.
        pubsub = self._client.pubsub(ignore_subscribe_messages=False)
        await pubsub.subscribe(channel)
        try:
            while True:
                message = await pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                if message["type"] == "message":
                    yield message["data"]
                elif message["type"] == "subscribe" and on_subscribed is not None:
                    await on_subscribed()
        finally:
            with contextlib.suppress(RedisError, OSError):  # the connection may be gone
                await pubsub.unsubscribe(channel)
            await pubsub.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._client.aclose()

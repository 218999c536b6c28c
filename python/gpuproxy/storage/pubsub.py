"""A pub/sub subscription that outlives Redis restarts: `follow(kv, channel, on_resync=...)`.

`KeyValueStore.subscribe` raises when its connection is lost for good. `follow` subscribes
again with capped exponential back-off (0.2 s doubling to 10 s) for as long as it is iterated,
and each time the subscription comes back on a new connection (messages published meanwhile
are lost) it awaits `on_resync()` before yielding anything more: the subscriber reloads the
state it would otherwise have learned from the missed messages. The back-off starts over once
a subscription is confirmed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from gpuproxy.accounts._kverrors import KV_ERRORS
from gpuproxy.storage.kv import KeyValueStore

__all__ = ["follow"]

log = logging.getLogger(__name__)

_FIRST_BACKOFF_S = 0.2
_MAX_BACKOFF_S = 10.0


async def follow(
    kv: KeyValueStore,
    channel: str,
    *,
    on_resync: Callable[[], Awaitable[object]] | None = None,
    first_backoff_s: float = _FIRST_BACKOFF_S,
    max_backoff_s: float = _MAX_BACKOFF_S,
) -> AsyncIterator[bytes]:
    """Messages on `channel`, across reconnections (close the generator to stop)."""
    subscribed_before = False
    backoff = first_backoff_s

    async def subscribed() -> None:
        nonlocal subscribed_before, backoff
        backoff = first_backoff_s
        if subscribed_before:
            log.info("subscription to %s is back; resynchronising", channel)
            if on_resync is not None:
                await on_resync()
        subscribed_before = True

    while True:
        subscription = kv.subscribe(channel, on_subscribed=subscribed)
        try:
            async for message in subscription:
                yield message
            return  # the store closed the subscription (shutdown)
        except KV_ERRORS as exc:
            log.warning(
                "subscription to %s lost (%s); resubscribing in %.1f s",
                channel,
                type(exc).__name__,
                backoff,
            )
        finally:
            close = getattr(subscription, "aclose", None)  # the stores return async generators
            if close is not None:
                await close()
        await asyncio.sleep(backoff)
        backoff = min(max_backoff_s, backoff * 2)

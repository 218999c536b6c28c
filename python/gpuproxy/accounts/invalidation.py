"""Cross-worker cache invalidation over the key-value store's pub/sub.

A revocation is applied to this process's caches at once and published on one channel;
every other worker and instance drops the entry when the message arrives (milliseconds on
Redis). If the subscription breaks, caches are flushed and `healthy` turns False (the
authenticator then shortens its TTL to 1 s) until the subscription is proven live again by
a probe message coming back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable

from gpuproxy.accounts._kverrors import KV_ERRORS
from gpuproxy.storage.kv import KeyValueStore

__all__ = ["CHANNEL", "InvalidationBus"]

log = logging.getLogger(__name__)

CHANNEL = "gpx:auth:invalidate"
_PROBE = "probe"
_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)


class InvalidationBus:
    def __init__(
        self,
        kv: KeyValueStore,
        on_message: Callable[[str, str], None],
        on_reset: Callable[[], None],
    ) -> None:
        self.kv = kv
        self._on_message = on_message
        self._on_reset = on_reset
        self._probe = ""
        self._ready = asyncio.Event()
        self.healthy = False

    async def publish(self, kind: str, ident: str) -> None:
        """Apply locally, then tell every other worker; a publish failure is logged."""
        self._on_message(kind, ident)
        try:
            await self.kv.publish(CHANNEL, f"{kind}:{ident}".encode())
        except KV_ERRORS as exc:
            log.error(
                "auth invalidation %s could not be published (%s); other workers drop it "
                "within AUTH_CACHE_TTL_SECONDS",
                kind,
                type(exc).__name__,
            )

    async def wait_ready(self, within_s: float) -> bool:
        try:
            await asyncio.wait_for(self._ready.wait(), within_s)
        except TimeoutError:
            return False
        return True

    async def run(self) -> None:
        """Listen forever (a background task); reconnects with backoff."""
        failures = 0
        while True:
            prober: asyncio.Task[None] | None = None
            try:
                self._probe = secrets.token_hex(8)
                prober = asyncio.get_running_loop().create_task(self._send_probes(self._probe))
                subscription = self.kv.subscribe(CHANNEL, on_subscribed=self._confirmed())
                async for raw in subscription:
                    self._handle(raw)
                    if self.healthy:
                        failures = 0
            except asyncio.CancelledError:
                raise
            except KV_ERRORS as exc:
                if self.healthy or failures == 0:
                    log.warning("auth invalidation: subscription lost (%s)", type(exc).__name__)
            finally:
                if prober is not None:
                    prober.cancel()
            self.healthy = False
            self._ready.clear()
            self._on_reset()
            await asyncio.sleep(_BACKOFF_S[min(failures, len(_BACKOFF_S) - 1)])
            failures += 1

    def _confirmed(self) -> Callable[[], Awaitable[None]]:
        """Called on each confirmation of one subscription: after the first, the Redis client
        re-subscribed on a new connection by itself, and revocations sent meanwhile are lost."""
        confirmations = 0

        async def confirmed() -> None:
            nonlocal confirmations
            confirmations += 1
            if confirmations > 1:
                log.warning("auth invalidation: resubscribed after a reconnect; caches flushed")
                self._on_reset()

        return confirmed

    def _handle(self, raw: bytes) -> None:
        kind, _, ident = raw.decode("utf-8", "replace").partition(":")
        if kind == _PROBE:
            if ident == self._probe and not self.healthy:
                # Anything published before the subscription was live is lost: start clean.
                self._on_reset()
                self.healthy = True
                self._ready.set()
            return
        self._on_message(kind, ident)

    async def _send_probes(self, probe: str) -> None:
        message = f"{_PROBE}:{probe}".encode()
        sent = 0
        while not self.healthy:
            with contextlib.suppress(*KV_ERRORS):
                await self.kv.publish(CHANNEL, message)
            sent += 1
            await asyncio.sleep(0.02 if sent < 50 else 1.0)

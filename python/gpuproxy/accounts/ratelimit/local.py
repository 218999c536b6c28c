"""In-process rate limiting: the embedded default, and the fallback while Redis is down.

`LocalRateLimiter` is what the accounts area needs from a local limiter; `CoreGcraLimiter`
implements it with the Rust core's GCRA (`gpuproxy._core.RateLimiter`, sharded, bounded
memory). The core answers "allowed" or "milliseconds to wait"; the remaining count for
X-RateLimit-Remaining comes from a second, free probe: a check of cost 0 consumes nothing
and, asked with a burst of 1, answers how far the bucket's TAT is ahead of now.
"""

from __future__ import annotations

import math
from typing import Protocol

from gpuproxy._core import RateLimiter as _CoreRateLimiter
from gpuproxy.accounts.ratelimit.decision import RateDecision

__all__ = ["CoreGcraLimiter", "LocalRateLimiter", "make_local_limiter"]

_MAX_KEYS = 200_000


class LocalRateLimiter(Protocol):
    def check(self, key: str, limit_per_minute: int, burst: int) -> RateDecision:
        """Count one request against `key`; the decision says whether it may pass."""


class CoreGcraLimiter:
    def __init__(self, max_keys: int = _MAX_KEYS) -> None:
        # The default quota is never used: every call passes the caller's own.
        self._core = _CoreRateLimiter(1.0, 1, max_keys=max_keys)

    @property
    def core(self) -> _CoreRateLimiter:
        """The Rust limiter itself: the data plane counts in the same buckets."""
        return self._core

    def check(self, key: str, limit_per_minute: int, burst: int) -> RateDecision:
        rate = limit_per_minute / 60.0
        interval_ms = 60_000 / limit_per_minute
        wait_ms = self._core.check(key, 1, rate_per_second=rate, burst=burst)
        if wait_ms:
            # Refused: the TAT is `wait + (burst - 1) x interval` ahead of now.
            return RateDecision(
                allowed=False,
                limit=limit_per_minute,
                remaining=0,
                retry_after_ms=wait_ms,
                reset_after_ms=math.ceil(wait_ms + (burst - 1) * interval_ms),
            )
        probe_ms = self._core.check(key, 0, rate_per_second=rate, burst=1)
        ahead_ms = probe_ms + interval_ms if probe_ms else interval_ms
        return RateDecision(
            allowed=True,
            limit=limit_per_minute,
            remaining=max(0, math.floor(burst - ahead_ms / interval_ms + 1e-9)),
            retry_after_ms=0,
            reset_after_ms=math.ceil(ahead_ms),
        )

    def __len__(self) -> int:
        return len(self._core)


def make_local_limiter() -> LocalRateLimiter:
    return CoreGcraLimiter()

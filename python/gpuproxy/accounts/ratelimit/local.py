"""In-process rate limiting: the embedded default, and the fallback while Redis is down.

`LocalRateLimiter` is what the accounts area needs from a local limiter. `PyGcraLimiter`
implements it in Python with the same arithmetic as the shared Redis script.
"""

from __future__ import annotations

import time
from typing import Protocol

from gpuproxy.accounts.ratelimit.decision import RateDecision
from gpuproxy.accounts.ratelimit.gcra import PERIOD_US, gcra_step

__all__ = ["LocalRateLimiter", "PyGcraLimiter", "make_local_limiter"]

_MAX_KEYS = 200_000


class LocalRateLimiter(Protocol):
    def check(self, key: str, limit_per_minute: int, burst: int) -> RateDecision:
        """Count one request against `key`; the decision says whether it may pass."""


class PyGcraLimiter:
    def __init__(self, max_keys: int = _MAX_KEYS) -> None:
        self._tats: dict[str, int] = {}
        self._max_keys = max_keys

    def check(self, key: str, limit_per_minute: int, burst: int) -> RateDecision:
        now = time.monotonic_ns() // 1000
        allowed, new_tat, remaining, retry_us, reset_us = gcra_step(
            self._tats.get(key), now, limit_per_minute, burst, PERIOD_US
        )
        if allowed:
            if key not in self._tats and len(self._tats) >= self._max_keys:
                self._purge(now)
            self._tats[key] = new_tat
        return RateDecision(
            allowed=allowed,
            limit=limit_per_minute,
            remaining=remaining,
            retry_after_ms=-(-retry_us // 1000),
            reset_after_ms=-(-reset_us // 1000),
        )

    def _purge(self, now: int) -> None:
        # A bucket whose TAT is past is identical to a fresh one: dropping it is exact.
        self._tats = {k: t for k, t in self._tats.items() if t > now}
        if len(self._tats) >= self._max_keys:  # still full of live buckets: forget the oldest
            for k in list(self._tats)[: self._max_keys // 2]:
                del self._tats[k]


def make_local_limiter() -> LocalRateLimiter:
    return PyGcraLimiter()

"""Per-user and per-key rate limits: shared through Redis when configured, else local.

With Redis every request is one atomic GCRA script, so all workers and instances share one
count. If Redis fails, requests are limited by the local limiter instead (each process then
allows the full limit on its own, so N processes allow up to N times the limit) and the
outage is logged; Redis is retried every few seconds, not on every request, so an outage
does not add a connect timeout to each request.
"""

from __future__ import annotations

import logging
import time

from gpuproxy.accounts._kverrors import KV_ERRORS
from gpuproxy.accounts.principal import Principal
from gpuproxy.accounts.ratelimit.decision import RateDecision
from gpuproxy.accounts.ratelimit.gcra import GCRA_SCRIPT, PERIOD_US
from gpuproxy.accounts.ratelimit.local import LocalRateLimiter, make_local_limiter
from gpuproxy.storage.kv import KeyValueStore

__all__ = ["RateLimiter"]

log = logging.getLogger(__name__)

_RETRY_REDIS_AFTER_S = 5.0


class RateLimiter:
    def __init__(
        self,
        kv: KeyValueStore,
        default_per_minute: int,
        local: LocalRateLimiter | None = None,
        *,
        retry_redis_after_s: float = _RETRY_REDIS_AFTER_S,
    ) -> None:
        self.kv = kv
        self.shared = kv.kind == "redis"
        self.default_per_minute = default_per_minute
        self.local = local or make_local_limiter()
        self._retry_after_s = retry_redis_after_s
        self._redis_down_until = 0.0
        self._degraded = False

    @property
    def degraded(self) -> bool:
        """True while Redis is failing and limits are per process."""
        return self._degraded

    def limit_for(self, principal: Principal) -> int:
        """The user's limit (0 = unlimited)."""
        if principal.rate_limit_per_minute is not None:
            return principal.rate_limit_per_minute
        return self.default_per_minute

    def buckets(self, principal: Principal) -> list[tuple[str, int]]:
        """(bucket, per minute) a request counts in: a key's own when it is tighter than
        its user's, then the user's, which all of the user's keys and sessions share."""
        user_limit = self.limit_for(principal)
        found = []
        key_limit = principal.key_rate_limit_per_minute
        if (
            principal.api_key_id is not None
            and key_limit is not None
            and key_limit > 0
            and (user_limit <= 0 or key_limit < user_limit)
        ):
            found.append((f"k:{principal.api_key_id}", key_limit))
        if user_limit > 0:
            found.append((f"u:{principal.user_id}", user_limit))
        return found

    async def check(self, principal: Principal) -> RateDecision | None:
        """Count one request in each bucket; the first refusal, else the tightest figures;
        None when the caller has no limit. The key's bucket goes first, so a request its
        key refuses does not use up the user's allowance."""
        tightest: RateDecision | None = None
        for bucket, limit in self.buckets(principal):
            decision = await self.check_bucket(bucket, limit, limit)
            if not decision.allowed:
                return decision
            if tightest is None or decision.remaining < tightest.remaining:
                tightest = decision
        return tightest

    async def check_bucket(self, bucket: str, limit: int, burst: int) -> RateDecision:
        if self.shared and time.monotonic() >= self._redis_down_until:
            try:
                allowed, remaining, retry_us, reset_us = await self.kv.run_script(
                    GCRA_SCRIPT, [f"gpx:rl:{bucket}"], [limit, burst, PERIOD_US]
                )
            except KV_ERRORS as exc:
                self._redis_down_until = time.monotonic() + self._retry_after_s
                if not self._degraded:
                    self._degraded = True
                    log.warning(
                        "rate limits: Redis unavailable (%s); limiting per process until it "
                        "is back",
                        type(exc).__name__,
                    )
            else:
                if self._degraded:
                    self._degraded = False
                    log.warning("rate limits: Redis is back; limits are shared again")
                return RateDecision(
                    allowed=bool(allowed),
                    limit=limit,
                    remaining=int(remaining),
                    retry_after_ms=-(-int(retry_us) // 1000),
                    reset_after_ms=-(-int(reset_us) // 1000),
                )
        return self.local.check(bucket, limit, burst)

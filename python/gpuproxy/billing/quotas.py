"""Usage quotas per user: maximum requests and GPU hours per period (the reset interval).

Periods start at `anchor_at` (when the quota was set) and repeat every reset interval, so a
period rolls over by itself: nothing has to run at reset time.
- Requests are counted on the key-value store (`gpx:quota:req:{user}:{period}`, one atomic
  INCR, shared by every instance with Redis); a refused request gives its count back.
- GPU seconds are added to `quota_usage` by the accrual job in the same transaction as the
  ledger row; renting is refused once the period's GPU time is used up.
Refusals are 429 with Retry-After = seconds until the period resets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gpuproxy.billing.errors import QuotaExceededError
from gpuproxy.clock import now_ms
from gpuproxy.storage.database import Database, Executor
from gpuproxy.storage.kv import KeyValueStore

__all__ = ["Quota", "Quotas"]

_CACHE_TTL = 10.0


def _seconds_until(end_ms: int, now_ms: int) -> int:
    return max(1, -(-(end_ms - now_ms) // 1000))


@dataclass(frozen=True, slots=True)
class Quota:
    user_id: str
    max_gpu_seconds: int | None
    max_requests: int | None
    reset_interval_seconds: int
    anchor_at: int

    def period(self, now: int) -> tuple[int, int]:
        """(start, end) in unix ms of the period containing `now`."""
        interval = self.reset_interval_seconds * 1000
        start = self.anchor_at + (now - self.anchor_at) // interval * interval
        return start, start + interval


class Quotas:
    def __init__(self, db: Database, kv: KeyValueStore) -> None:
        self._db = db
        self._kv = kv
        self._cache: dict[str, tuple[float, Quota | None]] = {}

    def cached(self, user_id: str) -> tuple[bool, Quota | None]:
        """(True, quota) when the user's quota (or its absence) is cached and fresh."""
        cached = self._cache.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < _CACHE_TTL:
            return True, cached[1]
        return False, None

    async def get(self, user_id: str) -> Quota | None:
        cached = self._cache.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < _CACHE_TTL:
            return cached[1]
        row = await self._db.fetchrow("SELECT * FROM usage_quotas WHERE user_id = $1", user_id)
        quota = None
        if row is not None:
            quota = Quota(
                user_id,
                None if row["max_gpu_seconds"] is None else int(row["max_gpu_seconds"]),
                None if row["max_requests"] is None else int(row["max_requests"]),
                int(row["reset_interval_seconds"]),
                int(row["anchor_at"]),
            )
        self._cache[user_id] = (time.monotonic(), quota)
        return quota

    async def set(
        self,
        user_id: str,
        *,
        max_gpu_seconds: int | None,
        max_requests: int | None,
        reset_interval_seconds: int,
        actor: str,
    ) -> Quota:
        now = now_ms()
        await self._db.execute(
            "INSERT INTO usage_quotas (user_id, max_gpu_seconds, max_requests, "
            "reset_interval_seconds, anchor_at, updated_by, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $5) ON CONFLICT (user_id) DO UPDATE SET "
            "max_gpu_seconds = excluded.max_gpu_seconds, max_requests = excluded.max_requests, "
            "reset_interval_seconds = excluded.reset_interval_seconds, "
            "anchor_at = CASE WHEN usage_quotas.reset_interval_seconds = "
            "excluded.reset_interval_seconds THEN usage_quotas.anchor_at "
            "ELSE excluded.anchor_at END, "
            "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            user_id,
            max_gpu_seconds,
            max_requests,
            reset_interval_seconds,
            now,
            actor,
        )
        self._cache.pop(user_id, None)
        quota = await self.get(user_id)
        assert quota is not None
        return quota

    async def clear(self, user_id: str) -> None:
        await self._db.execute("DELETE FROM usage_quotas WHERE user_id = $1", user_id)
        self._cache.pop(user_id, None)

    def _request_key(self, user_id: str, start: int) -> str:
        return f"gpx:quota:req:{user_id}:{start}"

    async def admit_request(self, user_id: str) -> tuple[str, int] | None:
        """Count one request or raise 429; returns a token to give the count back."""
        quota = await self.get(user_id)
        if quota is None or quota.max_requests is None:
            return None
        now = now_ms()
        start, end = quota.period(now)
        key = self._request_key(user_id, start)
        count = await self._kv.incr(key, 1, ttl=(end - now) / 1000 + 60)
        if count > quota.max_requests:
            await self._kv.incr(key, -1)
            wait = _seconds_until(end, now)
            raise QuotaExceededError(
                f"request quota reached: {quota.max_requests} requests per "
                f"{quota.reset_interval_seconds} s; it resets in {wait} s",
                retry_after=wait,
            )
        return key, count

    async def give_back(self, token: tuple[str, int] | None) -> None:
        if token is not None:
            await self._kv.incr(token[0], -1)

    async def gpu_seconds_used(self, user_id: str, quota: Quota, now: int) -> int:
        start, _ = quota.period(now)
        value = await self._db.fetchval(
            "SELECT gpu_seconds FROM quota_usage WHERE user_id = $1 AND period_start = $2",
            user_id,
            start,
        )
        return int(value or 0)

    async def admit_gpu(self, user_id: str) -> None:
        """Refuse renting when the period's GPU time is used up (429 until the reset)."""
        quota = await self.get(user_id)
        if quota is None or quota.max_gpu_seconds is None:
            return
        now = now_ms()
        used = await self.gpu_seconds_used(user_id, quota, now)
        if used >= quota.max_gpu_seconds:
            _, end = quota.period(now)
            wait = _seconds_until(end, now)
            raise QuotaExceededError(
                f"GPU time quota reached: {quota.max_gpu_seconds / 3600:g} GPU hours per "
                f"{quota.reset_interval_seconds} s; it resets in {wait} s",
                retry_after=wait,
            )

    async def add_gpu_seconds(
        self, tx: Executor, quota: Quota | None, seconds: int, at: int
    ) -> bool:
        """Count GPU time inside the accrual's transaction (the quota was read before it,
        since SQLite's transaction holds the only connection); True when now used up."""
        if quota is None:
            return False
        start, _ = quota.period(at)
        await tx.execute(
            "INSERT INTO quota_usage (user_id, period_start, gpu_seconds) VALUES ($1, $2, $3) "
            "ON CONFLICT (user_id, period_start) DO UPDATE SET "
            "gpu_seconds = quota_usage.gpu_seconds + excluded.gpu_seconds",
            quota.user_id,
            start,
            seconds,
        )
        if quota.max_gpu_seconds is None:
            return False
        used = await tx.fetchval(
            "SELECT gpu_seconds FROM quota_usage WHERE user_id = $1 AND period_start = $2",
            quota.user_id,
            start,
        )
        return int(used or 0) >= quota.max_gpu_seconds

    async def usage(self, user_id: str) -> dict[str, Any] | None:
        quota = await self.get(user_id)
        if quota is None:
            return None
        now = now_ms()
        start, end = quota.period(now)
        raw = await self._kv.get(self._request_key(user_id, start))
        return {
            "max_requests": quota.max_requests,
            "max_gpu_hours": None
            if quota.max_gpu_seconds is None
            else quota.max_gpu_seconds / 3600,
            "reset_interval_seconds": quota.reset_interval_seconds,
            "period_start": start,
            "period_end": end,
            "requests_used": int(raw) if raw else 0,
            "gpu_hours_used": await self.gpu_seconds_used(user_id, quota, now) / 3600,
        }

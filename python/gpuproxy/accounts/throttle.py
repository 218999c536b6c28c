"""Failed-login throttling per account and per client IP.

Each attempt is counted before the password is checked (atomic INCR), so a thousand
parallel guesses cannot all slip past a check-then-count race; a successful login gives
the attempt back. The account counter is keyed by the email whether or not an account
exists, so a throttled answer reveals nothing. Counters live in the key-value store (shared
with Redis); if Redis fails they fall back to this process's memory.
"""

from __future__ import annotations

import hashlib
import logging

from gpuproxy.accounts._kverrors import KV_ERRORS
from gpuproxy.accounts.errors import LoginThrottled
from gpuproxy.storage._kv_memory import MemoryStore
from gpuproxy.storage.kv import KeyValueStore

__all__ = ["LoginThrottle"]

log = logging.getLogger(__name__)


class LoginThrottle:
    def __init__(
        self, kv: KeyValueStore, *, max_per_account: int, max_per_ip: int, window_s: int
    ) -> None:
        self.kv = kv
        self.max_per_account = max_per_account
        self.max_per_ip = max_per_ip
        self.window_s = window_s
        self._local = MemoryStore()

    @staticmethod
    def _account_key(email: str) -> str:
        return "gpx:lf:a:" + hashlib.sha256(email.encode("utf-8")).hexdigest()[:32]

    @staticmethod
    def _ip_key(ip: str) -> str:
        return "gpx:lf:ip:" + (ip or "unknown")

    async def _incr(self, key: str, amount: int) -> tuple[int, float]:
        try:
            count = await self.kv.incr(key, amount, ttl=self.window_s)
            ttl = await self.kv.ttl(key) if amount > 0 else None
        except KV_ERRORS as exc:
            log.warning(
                "login throttle: Redis unavailable (%s), counting locally", type(exc).__name__
            )
            count = await self._local.incr(key, amount, ttl=self.window_s)
            ttl = await self._local.ttl(key)
        return count, float(ttl if ttl is not None else self.window_s)

    async def attempt(self, email: str, ip: str) -> None:
        """Count an attempt; LoginThrottled when the account or the IP is over its limit."""
        account, account_ttl = await self._incr(self._account_key(email), 1)
        by_ip, ip_ttl = await self._incr(self._ip_key(ip), 1)
        if account > self.max_per_account:
            raise LoginThrottled(int(account_ttl) + 1)
        if by_ip > self.max_per_ip:
            raise LoginThrottled(int(ip_ttl) + 1)

    async def succeeded(self, email: str, ip: str) -> None:
        """A correct password clears the account's failures and returns the IP's attempt."""
        try:
            await self.kv.delete(self._account_key(email))
        except KV_ERRORS:
            await self._local.delete(self._account_key(email))
        await self._incr(self._ip_key(ip), -1)

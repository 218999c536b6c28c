"""Soft alerts at 50, 80 and 95% of a window's limit, and an alert when a limit refuses.

Each (user, window, threshold) alerts once per window length: the first process to claim the
key `gpx:gr:alert:...` (set-if-absent with the window as TTL) stores the notification and
publishes the event, so several instances never alert twice. A local memo keeps the hot path
from touching the store again for a threshold it already handled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from gpuproxy.billing.notifications import Notifier
from gpuproxy.billing.windows import window_minutes
from gpuproxy.money import micros_to_dollars
from gpuproxy.storage.kv import KeyValueStore

__all__ = ["THRESHOLDS", "AlertSink"]

log = logging.getLogger(__name__)

#: Percent of a window's limit that triggers an alert, with its severity.
THRESHOLDS: tuple[tuple[int, str], ...] = ((50, "info"), (80, "warning"), (95, "critical"))
_EXCEEDED = (100, "critical")

Spawn = Callable[[Coroutine[Any, Any, None], str], Any]


class AlertSink:
    def __init__(self, kv: KeyValueStore, notifier: Notifier, spawn: Spawn) -> None:
        self._kv = kv
        self._notifier = notifier
        self._spawn = spawn
        self._memo: dict[tuple[str, str, int], float] = {}

    def observe(self, user_id: str, usage: list[tuple[str, int, int]]) -> None:
        """`usage` = (window, used incl. reservations, limit) for limited windows; sync, cheap."""
        for window, used, limit in usage:
            if limit <= 0:
                continue
            percent = used * 100 // limit
            for threshold, severity in reversed(THRESHOLDS):
                if percent >= threshold:
                    self._maybe(user_id, window, threshold, severity, used, limit)
                    break

    def refused(self, user_id: str, window: str, spent: int, limit: int) -> None:
        self._maybe(user_id, window, _EXCEEDED[0], _EXCEEDED[1], spent, limit)

    def _maybe(
        self, user_id: str, window: str, threshold: int, severity: str, used: int, limit: int
    ) -> None:
        memo_key = (user_id, window, threshold)
        now = time.monotonic()
        if self._memo.get(memo_key, 0.0) > now:
            return
        ttl = window_minutes(window) * 60
        self._memo[memo_key] = now + ttl
        if len(self._memo) > 100_000:  # bounded: forget expired entries
            self._memo = {k: v for k, v in self._memo.items() if v > now}
        self._spawn(self._send(user_id, window, threshold, severity, used, limit, ttl), "alert")

    async def _send(
        self,
        user_id: str,
        window: str,
        threshold: int,
        severity: str,
        used: int,
        limit: int,
        ttl: int,
    ) -> None:
        key = f"gpx:gr:alert:{user_id}:{window}:{threshold}"
        if not await self._kv.set(key, b"1", ttl, only_if_absent=True):
            return  # another process (or an earlier run of this one) already alerted
        if threshold >= 100:
            message = (
                f"Spending limit of the {window} window reached: a spend was refused "
                f"({micros_to_dollars(used)} of {micros_to_dollars(limit)} USD)"
            )
            kind = "guardrails.exceeded"
        else:
            message = (
                f"Spending in the {window} window reached {threshold}% of its limit "
                f"({micros_to_dollars(used)} of {micros_to_dollars(limit)} USD)"
            )
            kind = "guardrails.alert"
        data = {
            "window": window,
            "threshold": threshold,
            "spent": micros_to_dollars(used),
            "limit": micros_to_dollars(limit),
            "spent_micros": used,
            "limit_micros": limit,
        }
        await self._notifier.notify(user_id, kind, severity, message, data)

    async def settle(self) -> None:
        """Let spawned alert tasks run (tests)."""
        await asyncio.sleep(0)

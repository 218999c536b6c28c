"""Spend windows shared by every process through the key-value store (Redis in production).

Layout: one hash per account, `gpx:gr:{user_id}`, with per window k (the 17, shortest first)
buckets `b{k}:{i}` of width window/60, their running sum `s{k}` and live range `lo{k}..hi{k}`;
`ep` is an epoch bumped by resets. Every operation is one atomic script (EVALSHA), so two
instances reserving at once are serialised by Redis: the sum of admitted reservations never
passes a limit. A reservation is booked into the bucket of its own time; commit gives back
`reserved - actual` from that bucket and books any excess at commit time (see README for
the overspend bound this gives across instances).
"""

from __future__ import annotations

from dataclasses import dataclass

from gpuproxy.billing._shared_lua import ADJUST_LUA, RESERVE_LUA, RESET_LUA, STATUS_LUA
from gpuproxy.billing._shared_twin import adjust_twin, reserve_twin, reset_twin, status_twin
from gpuproxy.billing.windows import WINDOW_NAMES, window_minutes
from gpuproxy.storage.kv import KeyValueStore, Script

__all__ = ["SharedReservation", "SharedWindows"]

_RESERVE = Script(RESERVE_LUA, reserve_twin)
_ADJUST = Script(ADJUST_LUA, adjust_twin)
_STATUS = Script(STATUS_LUA, status_twin)
_RESET = Script(RESET_LUA, reset_twin)

_WINDOW_MS = [window_minutes(n) * 60_000 for n in WINDOW_NAMES]
_WIDTH_MS = [w // 60 for w in _WINDOW_MS]
#: Keys outlive the longest window by one bucket, then Redis frees them.
_TTL_MS = _WINDOW_MS[-1] + _WIDTH_MS[-1]


@dataclass(frozen=True, slots=True)
class SharedReservation:
    """Where a reservation was booked: enough to give back its unused part later."""

    user_id: str
    amount: int
    at_ms: int
    epoch: int


class SharedWindows:
    def __init__(self, kv: KeyValueStore, prefix: str = "gpx:gr:") -> None:
        self._kv = kv
        self._prefix = prefix

    def key(self, user_id: str) -> str:
        return self._prefix + user_id

    async def reserve(
        self, user_id: str, amount: int, limits: list[int | None], now_ms: int, *, force: bool
    ) -> tuple[SharedReservation | None, list[int]]:
        """Book `amount` in all 17 windows if it fits every limit (or `force`).

        Returns (reservation or None when refused, spent per window before this amount).
        """
        args: list[int] = [now_ms, amount, 1 if force else 0, _TTL_MS, len(WINDOW_NAMES)]
        for window, width, limit in zip(_WINDOW_MS, _WIDTH_MS, limits, strict=True):
            args += [window, width, -1 if limit is None else limit]
        out = await self._kv.run_script(_RESERVE, [self.key(user_id)], args)
        ok, epoch, spent = int(out[0]), int(out[1]), [int(v) for v in out[2:]]
        if not ok and not force:
            return None, spent
        return SharedReservation(user_id, amount, now_ms, epoch), spent

    async def settle(self, held: SharedReservation, actual: int, now_ms: int) -> None:
        """Commit `actual` (0 = release): give back the unused part, book any excess now."""
        give_back = max(held.amount - actual, 0)
        extra = max(actual - held.amount, 0)
        if not give_back and not extra:
            return
        args: list[int] = [
            now_ms,
            held.epoch,
            _TTL_MS,
            len(WINDOW_NAMES),
            held.at_ms,
            give_back,
            extra,
        ]
        for window, width in zip(_WINDOW_MS, _WIDTH_MS, strict=True):
            args += [window, width]
        await self._kv.run_script(_ADJUST, [self.key(held.user_id)], args)

    async def spent(self, user_id: str, now_ms: int) -> list[int]:
        args: list[int] = [now_ms, len(WINDOW_NAMES)]
        for window, width in zip(_WINDOW_MS, _WIDTH_MS, strict=True):
            args += [window, width]
        out = await self._kv.run_script(_STATUS, [self.key(user_id)], args)
        return [int(v) for v in out[1:]]

    async def reset(self, user_id: str) -> None:
        await self._kv.run_script(_RESET, [self.key(user_id)], [_TTL_MS])

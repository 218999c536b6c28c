"""Guard rails: every spend reserves against the 17 windows (local Rust windows, and the
shared Redis windows when REDIS_URL is set), commits the actual cost and releases the rest.

- Limits: GUARDRAILS_MAX_<WINDOW>_RATE for everyone, per-user overrides from admins
  (`guardrail_limits`); GUARDRAILS_ENABLED=false tracks spending but refuses nothing.
- Refusal: `PaymentRequiredError(reason="guardrails")` with one violation per window
  (window, limit, spent), rendered as 402 + `X-GuardRails-Exceeded: true`.
- Shared mode: a user with any limit reserves through one atomic Redis script (exact across
  instances); settlements and the spending of users without limits reach Redis from a
  background queue. If Redis fails, the local windows decide alone (logged) and the queued
  spending is pushed when it answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gpuproxy.billing.alerts import AlertSink
from gpuproxy.billing.errors import PaymentRequiredError, Violation
from gpuproxy.billing.resets import RESETS_CHANNEL, record_reset, resets_since
from gpuproxy.billing.shared_windows import SharedReservation, SharedWindows
from gpuproxy.billing.windows import (
    WINDOW_NAMES,
    HeldSpend,
    SpendWindowsApi,
    WindowState,
    window_minutes,
    window_name,
)
from gpuproxy.clock import now_ms
from gpuproxy.config import Settings
from gpuproxy.exceptions import SpendLimitExceeded
from gpuproxy.money import micros_to_dollars
from gpuproxy.storage.database import Database
from gpuproxy.storage.kv import KeyValueStore

__all__ = ["GuardHold", "GuardRails", "WindowView"]

log = logging.getLogger(__name__)

Limits = dict[str, int | None]
_QUEUE_MAX = 200_000
_LIMITS_CACHE_MAX = 100_000
#: Soft alerts are evaluated at most this often per user on the hot path (a window status
#: costs 17 values); a refusal is always reported at once.
_ALERT_EVERY_MS = 1_000


@dataclass(eq=False, slots=True)
class GuardHold:
    user_id: str
    amount: int
    local: HeldSpend
    #: Booked in Redis synchronously (users with limits); None = local only.
    shared: SharedReservation | None


@dataclass(frozen=True, slots=True)
class WindowView:
    window: str
    spent: int
    limit: int | None

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(self.limit - self.spent, 0)

    @property
    def exceeded(self) -> bool:
        return self.limit is not None and self.spent > self.limit

    def to_api(self) -> dict[str, object]:
        limit, remaining = self.limit, self.remaining
        return {
            "window": self.window,
            "minutes": window_minutes(self.window),
            "spent": micros_to_dollars(self.spent),
            "limit": None if limit is None else micros_to_dollars(limit),
            "remaining": None if remaining is None else micros_to_dollars(remaining),
            "exceeded": self.exceeded,
            "spent_micros": self.spent,
            "limit_micros": limit,
        }


class GuardRails:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        kv: KeyValueStore,
        local: SpendWindowsApi,
        alerts: AlertSink,
        *,
        shared: bool | None = None,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self.enabled = settings.guardrails_enabled
        self._db = db
        self._local = local
        self._alerts = alerts
        self._clock = clock_ms
        use_shared = kv.kind == "redis" if shared is None else shared
        self._shared = SharedWindows(kv) if use_shared else None
        self._defaults: Limits = {
            window_name(m): (settings.guardrail_limits.get(m) if self.enabled else None)
            for m in (window_minutes(n) for n in WINDOW_NAMES)
        }
        for name, limit in self._defaults.items():
            local.set_default_limit(name, limit)
        self._overrides: dict[str, Limits] = {}
        self._limits: dict[str, Limits] = {}
        self._alert_due: dict[str, int] = {}
        self._queue: deque[tuple[str, SharedReservation | None, int, int]] = deque()
        self._queue_event = asyncio.Event()
        self._shared_down_since = 0.0
        self._kv = kv
        #: Resets older than this process: its windows started empty after them.
        self._resets_watermark = now_ms()
        self._resets_applied: dict[str, int] = {}

    @property
    def shared(self) -> bool:
        return self._shared is not None

    # -- limits ---------------------------------------------------------------------------

    async def load_overrides(self) -> None:
        rows = await self._db.fetch(
            "SELECT user_id, window_minutes, limit_micros FROM guardrail_limits"
        )
        loaded: dict[str, Limits] = {}
        for r in rows:
            limit = int(r["limit_micros"])
            loaded.setdefault(r["user_id"], {})[window_name(int(r["window_minutes"]))] = (
                limit or None
            )
        for user_id in set(self._overrides) - set(loaded):
            self._local.clear_limits(user_id)
        self._overrides = loaded
        self._limits.clear()
        for user_id, limits in loaded.items():
            self._apply_local(user_id, limits)

    async def reload_user(self, user_id: str) -> None:
        rows = await self._db.fetch(
            "SELECT window_minutes, limit_micros FROM guardrail_limits WHERE user_id = $1",
            user_id,
        )
        limits: Limits = {
            window_name(int(r["window_minutes"])): (int(r["limit_micros"]) or None) for r in rows
        }
        self._local.clear_limits(user_id)
        self._limits.pop(user_id, None)
        if limits:
            self._overrides[user_id] = limits
            self._apply_local(user_id, limits)
        else:
            self._overrides.pop(user_id, None)

    def _apply_local(self, user_id: str, limits: Limits) -> None:
        # Overrides only bite while guard rails are enabled.
        self._local.set_limits(user_id, limits if self.enabled else dict.fromkeys(limits))

    def limits(self, user_id: str) -> Limits:
        """Effective limit per window (None = unlimited) for one user (cached: hot path)."""
        cached = self._limits.get(user_id)
        if cached is not None:
            return cached
        if not self.enabled:
            limits: Limits = dict.fromkeys(WINDOW_NAMES)
        else:
            overrides = self._overrides.get(user_id, {})
            limits = {n: overrides.get(n, self._defaults[n]) for n in WINDOW_NAMES}
        if len(self._limits) >= _LIMITS_CACHE_MAX:
            self._limits.clear()
        self._limits[user_id] = limits
        return limits

    def overrides(self, user_id: str) -> Limits:
        return dict(self._overrides.get(user_id, {}))

    async def set_overrides(
        self, user_id: str, changes: Mapping[str, int | None], actor: str
    ) -> None:
        """Per window: an amount (0 = no limit for this user) or None (follow the default)."""
        now = now_ms()
        async with self._db.transaction() as tx:
            for name, limit in changes.items():
                minutes = window_minutes(name)
                if limit is None:
                    await tx.execute(
                        "DELETE FROM guardrail_limits WHERE user_id = $1 AND window_minutes = $2",
                        user_id,
                        minutes,
                    )
                    continue
                await tx.execute(
                    "INSERT INTO guardrail_limits (user_id, window_minutes, limit_micros, "
                    "updated_by, updated_at) VALUES ($1, $2, $3, $4, $5) "
                    "ON CONFLICT (user_id, window_minutes) DO UPDATE SET "
                    "limit_micros = excluded.limit_micros, updated_by = excluded.updated_by, "
                    "updated_at = excluded.updated_at",
                    user_id,
                    minutes,
                    limit,
                    actor,
                    now,
                )
        await self.reload_user(user_id)

    # -- spending -------------------------------------------------------------------------

    async def reserve(self, user_id: str, amount: int) -> GuardHold:
        """Hold `amount` in every window or raise PaymentRequiredError naming the windows."""
        local = self._reserve_local(user_id, amount)
        limits = self.limits(user_id)
        limited = any(v is not None for v in limits.values())
        shared: SharedReservation | None = None
        if self._shared is not None and limited:
            try:
                shared, spent = await self._shared.reserve(
                    user_id, amount, [limits[n] for n in WINDOW_NAMES], self._clock(), force=False
                )
            except Exception:
                self._shared_failed()
                spent = None
            else:
                self._shared_down_since = 0.0
            if spent is not None and shared is None:
                local.release()
                violations = [
                    Violation(name, limit, used)
                    for name, limit, used in zip(WINDOW_NAMES, limits.values(), spent, strict=True)
                    if limit is not None and used + amount > limit
                ]
                raise self._refusal(user_id, amount, violations)
            if spent is not None:
                self._alert_usage(user_id, limits, [s + amount for s in spent])
        if shared is None and limited:
            self._alert_usage(user_id, limits, None)
        return GuardHold(user_id, amount, local, shared)

    def try_reserve(self, user_id: str, amount: int) -> GuardHold | None:
        """`reserve` without awaiting, when no shared window must be asked (memory KV, or a
        user without limits); None, with nothing held, when `reserve` must be awaited."""
        limits = self.limits(user_id)
        limited = any(v is not None for v in limits.values())
        if limited and self._shared is not None:
            return None
        local = self._reserve_local(user_id, amount)
        if limited:
            self._alert_usage(user_id, limits, None)
        return GuardHold(user_id, amount, local, None)

    def _reserve_local(self, user_id: str, amount: int) -> HeldSpend:
        """Hold `amount` in this process's windows, or refuse naming the windows."""
        try:
            return self._local.reserve(user_id, amount)
        except SpendLimitExceeded as exc:
            raise self._refusal(
                user_id, amount, self._local_violations(user_id, exc.windows)
            ) from None

    def commit(self, hold: GuardHold, actual: int) -> None:
        """Book the actual cost (sync; Redis is updated from the background queue)."""
        hold.local.commit(actual)
        if self._shared is not None:
            self._enqueue(hold.user_id, hold.shared, actual)

    def release(self, hold: GuardHold) -> None:
        hold.local.release()
        if self._shared is not None and hold.shared is not None:
            self._enqueue(hold.user_id, hold.shared, 0)

    def record(self, user_id: str, amount: int) -> list[Violation]:
        """Spending that already happened (GPU time): booked even past a limit.

        Returns the windows now over their limit (callers may stop the spender).
        """
        self._local.record(user_id, amount)
        if self._shared is not None:
            self._enqueue(user_id, None, amount)
        limits = self.limits(user_id)
        over = [
            Violation(s.name, s.limit, s.spent)
            for s in self._local.status(user_id)
            if s.limit is not None and s.spent > s.limit
        ]
        if any(v is not None for v in limits.values()):
            self._alert_usage(user_id, limits, None)
        return over

    def _enqueue(self, user_id: str, held: SharedReservation | None, actual: int) -> None:
        if len(self._queue) >= _QUEUE_MAX:
            self._queue.popleft()
            log.error("shared spend queue full: dropping the oldest settlement")
        self._queue.append((user_id, held, actual, self._clock()))
        self._queue_event.set()

    async def run_shared_sync(self) -> None:
        """Background: push settlements and unlimited users' spending to Redis."""
        while True:
            await self._queue_event.wait()
            self._queue_event.clear()
            if not await self.flush_shared():
                await asyncio.sleep(1.0)  # Redis is down: retry, keeping order
                self._queue_event.set()

    async def flush_shared(self) -> bool:
        """Send every queued operation; False when Redis failed (the rest stays queued)."""
        if self._shared is None:
            self._queue.clear()
            return True
        while self._queue:
            user_id, held, actual, at = self._queue[0]
            try:
                if held is not None:
                    await self._shared.settle(held, actual, at)
                elif actual > 0:
                    limits: list[int | None] = [None] * len(WINDOW_NAMES)
                    await self._shared.reserve(user_id, actual, limits, at, force=True)
            except Exception:
                self._shared_failed()
                return False
            self._queue.popleft()
        return True

    def _shared_failed(self) -> None:
        if not self._shared_down_since:
            self._shared_down_since = time.monotonic()
            log.warning(
                "shared spend windows unreachable: each instance now enforces guard rails "
                "with its local windows only",
                exc_info=True,
            )

    # -- views ----------------------------------------------------------------------------

    async def status(self, user_id: str) -> list[WindowView]:
        """Spending per window: the shared view (every instance) when Redis answers."""
        limits = self.limits(user_id)
        if self._shared is not None:
            try:
                spent = await self._shared.spent(user_id, self._clock())
            except Exception:
                self._shared_failed()
            else:
                return [
                    WindowView(name, used, limits[name])
                    for name, used in zip(WINDOW_NAMES, spent, strict=True)
                ]
        return [
            WindowView(s.name, s.spent + s.reserved, limits[s.name])
            for s in self._local.status(user_id)
        ]

    async def check(self, user_id: str, amount: int) -> list[Violation]:
        """Windows that `amount` more would exceed (reserves nothing)."""
        return [
            Violation(v.window, v.limit, v.spent)
            for v in await self.status(user_id)
            if v.limit is not None and v.spent + amount > v.limit
        ]

    async def reset(self, user_id: str, actor: str = "") -> None:
        """Forget a user's spending here, in the shared windows, and on every other server
        (through `guardrail_resets` and the resets channel)."""
        at = await record_reset(self._db, user_id, actor)
        self.apply_reset(user_id, at)
        if self._shared is not None:
            self._queue = deque(q for q in self._queue if q[0] != user_id)
            await self._shared.reset(user_id)
        await self._kv.publish(RESETS_CHANNEL, f"{user_id} {at}".encode())

    def apply_reset(self, user_id: str, at: int) -> bool:
        """Reset the local windows once per reset (False when this one was applied)."""
        if self._resets_applied.get(user_id, 0) >= at:
            return False
        self._resets_applied[user_id] = at
        self._local.reset_spent(user_id)
        return True

    async def follow_resets(self, interval: float = 5.0) -> None:
        """Background: apply resets made by other processes (admin CLI, other servers)."""
        while True:
            await asyncio.sleep(interval)
            await self.poll_resets()

    async def poll_resets(self) -> int:
        applied = 0
        for user_id, at in await resets_since(self._db, self._resets_watermark):
            self._resets_watermark = max(self._resets_watermark, at)
            applied += self.apply_reset(user_id, at)
        return applied

    def local_state(self, user_id: str) -> list[WindowState]:
        return self._local.status(user_id)

    # -- helpers --------------------------------------------------------------------------

    def _local_violations(self, user_id: str, windows: list[str]) -> list[Violation]:
        states = {s.name: s for s in self._local.status(user_id)}
        out = []
        for name in windows:
            state = states.get(name)
            if state is not None and state.limit is not None:
                out.append(Violation(name, state.limit, state.spent + state.reserved))
        return out

    def _refusal(
        self, user_id: str, amount: int, violations: list[Violation]
    ) -> PaymentRequiredError:
        for v in violations:
            self._alerts.refused(user_id, v.window, v.spent, v.limit)
        names = ", ".join(v.window for v in violations) or "a window"
        return PaymentRequiredError(
            f"spending limit exceeded: {micros_to_dollars(amount)} USD more would pass the "
            f"guard-rail limit of the {names} window" + ("s" if len(violations) > 1 else ""),
            reason="guardrails",
            violations=violations,
        )

    def _alert_usage(self, user_id: str, limits: Limits, used: list[int] | None) -> None:
        now = self._clock()
        if self._alert_due.get(user_id, 0) > now:
            return
        if len(self._alert_due) >= _LIMITS_CACHE_MAX:
            self._alert_due.clear()
        self._alert_due[user_id] = now + _ALERT_EVERY_MS
        if used is None:
            used = [s.spent + s.reserved for s in self._local.status(user_id)]
        self._alerts.observe(
            user_id,
            [
                (name, value, limit)
                for name, value, limit in zip(WINDOW_NAMES, used, limits.values(), strict=True)
                if limit is not None
            ],
        )

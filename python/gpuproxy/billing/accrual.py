"""GPU time of rented instances, billed per minute while they run and stopped at destroy.

Providers call `start(...)` once an instance is rented (passing the first-hour reservation
taken before renting) and `stop(...)` when it is destroyed. A periodic job (`tick`) bills
every running instance's whole minutes since its last bill; `stop` bills the last, partial
minute as a whole one. Each bill is one transaction: a conditional update of the accrual
row (`WHERE billed_minutes = old`, so two instances running the job never bill a minute
twice), the ledger debit and the quota's GPU seconds.

Guard rails: the first hour stays reserved on the windows while it is consumed and is
committed at its actual cost when the hour is over or the instance stops; later minutes are
recorded as they are billed. When spending passes a limit, the credit cap, or the GPU-time
quota, `on_exceeded` handlers are told (the providers area stops the instance).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gpuproxy.billing.guardrails import GuardHold, GuardRails
from gpuproxy.billing.ledger import EntryType, Movement, Posted, post_in
from gpuproxy.billing.quotas import Quotas
from gpuproxy.clock import now_ms
from gpuproxy.storage.database import Database, Executor, Row
from gpuproxy.storage.retry import retry_transient

__all__ = ["AccrualBill", "ExceededHandler", "GpuAccrual"]

log = logging.getLogger(__name__)

#: (user_id, instance_id, reason) with reason in guardrails | credits | quota.
ExceededHandler = Callable[[str, str, str], Awaitable[None]]
_MINUTE = 60_000


@dataclass(frozen=True, slots=True)
class AccrualBill:
    instance_id: str
    user_id: str
    minutes: int
    amount_micros: int
    posted: Posted


@dataclass(slots=True)
class _FirstHour:
    hold: GuardHold
    consumed: int = 0


def cost_of_minutes(price_per_hour: int, minutes: int) -> int:
    """Exact cumulative cost: floor(price * minutes / 60), so per-minute bills never drift."""
    return price_per_hour * minutes // 60


class GpuAccrual:
    def __init__(
        self,
        db: Database,
        guard: GuardRails,
        quotas: Quotas,
        *,
        credits_exhausted: Callable[[Posted], Awaitable[bool]],
        on_posted: Callable[[Posted], None],
    ) -> None:
        self._db = db
        self._guard = guard
        self._quotas = quotas
        self._credits_exhausted = credits_exhausted
        self._on_posted = on_posted
        self._first_hour: dict[str, _FirstHour] = {}
        self.on_exceeded: list[ExceededHandler] = []

    async def start(
        self,
        user_id: str,
        instance_id: str,
        price_per_hour_micros: int,
        started_at: int | None = None,
        *,
        provider: str = "",
        first_hour: GuardHold | None = None,
    ) -> None:
        """Begin billing an instance (idempotent: a second start keeps the first row)."""
        if price_per_hour_micros < 0:
            raise ValueError("price_per_hour_micros must be >= 0")
        started = now_ms() if started_at is None else started_at
        inserted = await self._db.execute(
            "INSERT INTO gpu_accruals (instance_id, user_id, provider, price_per_hour_micros, "
            "started_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) "
            "ON CONFLICT (instance_id) DO NOTHING",
            instance_id,
            user_id,
            provider,
            price_per_hour_micros,
            started,
        )
        if first_hour is not None:
            if inserted:
                self._first_hour[instance_id] = _FirstHour(first_hour)
            else:
                self._guard.release(first_hour)

    async def stop(self, instance_id: str, stopped_at: int | None = None) -> AccrualBill | None:
        """Stop billing (destroy): bills up to `stopped_at`, the last minute rounded up."""
        stopped = now_ms() if stopped_at is None else stopped_at
        await self._db.execute(
            "UPDATE gpu_accruals SET stopped_at = $2, updated_at = $2 "
            "WHERE instance_id = $1 AND stopped_at IS NULL",
            instance_id,
            stopped,
        )
        row = await self._db.fetchrow(
            "SELECT * FROM gpu_accruals WHERE instance_id = $1", instance_id
        )
        if row is None:
            return None
        bill = await self._bill(row, stopped)
        first = self._first_hour.pop(instance_id, None)
        if first is not None:
            self._guard.commit(first.hold, first.consumed)
        return bill

    async def tick(self, now: int | None = None) -> list[AccrualBill]:
        """Bill every open instance's whole minutes up to `now`."""
        at = now_ms() if now is None else now
        rows = await self._db.fetch(
            "SELECT * FROM gpu_accruals WHERE stopped_at IS NULL ORDER BY instance_id"
        )
        bills = []
        for row in rows:
            try:
                bill = await self._bill(row, at)
            except Exception:
                log.exception("GPU accrual failed for an instance; retrying next tick")
                continue
            if bill is not None:
                bills.append(bill)
        return bills

    async def run(self, interval_seconds: float) -> None:
        while True:
            await asyncio.sleep(interval_seconds)
            await self.tick()

    async def _bill(self, row: Row, until: int) -> AccrualBill | None:
        started = int(row["started_at"])
        stopped = row["stopped_at"]
        end = min(until, int(stopped)) if stopped is not None else until
        elapsed = max(end - started, 0)
        # Running: whole minutes only. Stopped: the started last minute counts.
        minutes = -(-elapsed // _MINUTE) if stopped is not None else elapsed // _MINUTE
        old_minutes = int(row["billed_minutes"])
        if minutes <= old_minutes:
            return None
        price = int(row["price_per_hour_micros"])
        total = cost_of_minutes(price, minutes)
        amount = total - int(row["billed_micros"])
        instance_id, user_id = str(row["instance_id"]), str(row["user_id"])
        quota = await self._quotas.get(user_id)

        async def write(tx: Executor) -> tuple[Posted | None, bool]:
            claimed = await tx.execute(
                "UPDATE gpu_accruals SET billed_minutes = $2, billed_micros = $3, updated_at = $4 "
                "WHERE instance_id = $1 AND billed_minutes = $5",
                instance_id,
                minutes,
                total,
                now_ms(),
                old_minutes,
            )
            if not claimed:
                return None, False  # another process billed these minutes
            posted: Posted | None = None
            if amount > 0:
                posted = await post_in(
                    tx,
                    Movement(
                        user_id=user_id,
                        type=EntryType.GPU_TIME,
                        amount_micros=-amount,
                        idempotency_key=f"gpu:{instance_id}:{old_minutes}-{minutes}",
                        provider=str(row["provider"]) or "gpu",
                        external_id=instance_id,
                        description=f"GPU time, minutes {old_minutes}-{minutes}",
                        metadata={"price_per_hour_micros": price, "minutes": minutes - old_minutes},
                    ),
                )
            hit = await self._quotas.add_gpu_seconds(tx, quota, (minutes - old_minutes) * 60, end)
            return posted, hit

        # One transaction (on SQLite one hop: the shared write lock is held for the SQL
        # only); a transient lock/busy error is retried at once, others at the next tick.
        posted, quota_hit = await retry_transient(lambda: self._db.atomic(write))
        if posted is None:
            return None
        self._on_posted(posted)
        over_limit = self._book_windows(instance_id, user_id, amount, minutes)
        reasons = []
        if quota_hit:
            reasons.append("quota")
        if await self._credits_exhausted(posted):
            reasons.append("credits")
        if over_limit:
            reasons.append("guardrails")
        for reason in reasons:
            await self._exceeded(user_id, instance_id, reason)
        return AccrualBill(instance_id, user_id, minutes - old_minutes, amount, posted)

    def _book_windows(self, instance_id: str, user_id: str, amount: int, minutes: int) -> bool:
        """Put the bill on the windows; True when a window is now past its limit."""
        first = self._first_hour.get(instance_id)
        if first is not None:
            room = max(first.hold.amount - first.consumed, 0)
            inside = min(amount, room)
            first.consumed += inside
            amount -= inside
            if minutes >= 60:
                self._guard.commit(first.hold, first.consumed)
                del self._first_hour[instance_id]
        if amount > 0:
            return bool(self._guard.record(user_id, amount))
        return False

    async def _exceeded(self, user_id: str, instance_id: str, reason: str) -> None:
        for handler in self.on_exceeded:
            try:
                await handler(user_id, instance_id, reason)
            except Exception:
                log.exception("accrual exceeded handler failed")

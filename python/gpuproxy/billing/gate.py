"""The in-memory credit check of the hot path (no database write per request).

Per user it keeps the balance last read from the database and three amounts not yet in it:
`held` (outstanding reservations), `unflushed` (committed, waiting for the batch writer) and
`flushing` (in the batch being written). A reservation is admitted while

    balance - held - unflushed - flushing - amount >= -credits_cap

(only with CREDITS_ENFORCED). The balance is refreshed after each batch write, after every
top-up in this process, and in the background when older than `ttl` seconds (so top-ups
and spending of other instances are seen within that time).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from gpuproxy.billing.errors import PaymentRequiredError
from gpuproxy.money import micros_to_dollars
from gpuproxy.storage.database import Database

__all__ = ["CreditGate"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Credit:
    balance: int
    cap: int
    loaded_at: float
    held: int = 0
    unflushed: int = 0
    flushing: int = 0
    #: Bumped when a flush finishes, so a refresh that raced it is discarded.
    epoch: int = 0
    refreshing: bool = False

    @property
    def available(self) -> int:
        return self.balance - self.held - self.unflushed - self.flushing


class CreditGate:
    def __init__(self, db: Database, *, enforced: bool, default_cap: int, ttl: float = 5.0) -> None:
        self.enforced = enforced
        self._db = db
        self._default_cap = default_cap
        self._ttl = ttl
        self._users: dict[str, _Credit] = {}
        self._loading: dict[str, asyncio.Future[_Credit]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def _read(self, user_id: str) -> tuple[int, int]:
        row = await self._db.fetchrow(
            "SELECT balance_micros, cap_micros FROM credit_accounts WHERE user_id = $1", user_id
        )
        if row is None:
            return 0, self._default_cap
        cap = row["cap_micros"]
        return int(row["balance_micros"]), self._default_cap if cap is None else int(cap)

    def _cached(self, user_id: str) -> _Credit | None:
        """The cached credit (a stale one is refreshed in the background), or None."""
        credit = self._users.get(user_id)
        if (
            credit is not None
            and not credit.refreshing
            and time.monotonic() - credit.loaded_at > self._ttl
        ):
            credit.refreshing = True
            task = asyncio.get_running_loop().create_task(self._refresh(user_id, credit))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return credit

    async def _get(self, user_id: str) -> _Credit:
        credit = self._cached(user_id)
        if credit is not None:
            return credit
        pending = self._loading.get(user_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[_Credit] = asyncio.get_running_loop().create_future()
        self._loading[user_id] = future
        try:
            balance, cap = await self._read(user_id)
            credit = self._users.get(user_id) or _Credit(balance, cap, time.monotonic())
            self._users[user_id] = credit
            future.set_result(credit)
            return credit
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            del self._loading[user_id]

    async def _refresh(self, user_id: str, credit: _Credit) -> None:
        epoch = credit.epoch
        try:
            balance, cap = await self._read(user_id)
        except Exception:
            log.warning("credit refresh failed", exc_info=True)
            return
        finally:
            credit.refreshing = False
        if credit.epoch == epoch and credit.flushing == 0:
            credit.balance, credit.cap, credit.loaded_at = balance, cap, time.monotonic()

    async def hold(self, user_id: str, amount: int) -> None:
        """Admit and hold `amount`, or raise 402 naming credits_cap."""
        if not self.enforced:
            return
        self._admit(await self._get(user_id), amount)

    def try_hold(self, user_id: str, amount: int) -> bool:
        """`hold` without awaiting when the user's credit is cached (the hot path's case);
        False, with nothing held, when `hold` must be awaited (first request of a user)."""
        if not self.enforced:
            return True
        credit = self._cached(user_id)
        if credit is None:
            return False
        self._admit(credit, amount)
        return True

    @staticmethod
    def _admit(credit: _Credit, amount: int) -> None:
        if credit.available - amount < -credit.cap:
            overage = max(-credit.available, 0)
            raise PaymentRequiredError(
                "credit limit reached: credits_remaining is "
                f"{micros_to_dollars(max(credit.available, 0))} and credits_overage "
                f"{micros_to_dollars(overage)} of the credits_cap "
                f"{micros_to_dollars(credit.cap)} USD; this request needs "
                f"{micros_to_dollars(amount)}. Add credits with POST /api/v1/billing/payment",
                reason="credits",
            )
        credit.held += amount

    def settle(self, user_id: str, held: int, actual: int) -> None:
        """A reservation of `held` ended costing `actual` (0 = released)."""
        credit = self._users.get(user_id)
        if credit is None:
            return
        if self.enforced:
            credit.held -= held
        credit.unflushed += actual

    def begin_flush(self, user_id: str, amount: int) -> None:
        credit = self._users.get(user_id)
        if credit is not None:
            credit.unflushed -= amount
            credit.flushing += amount

    def end_flush(self, user_id: str, amount: int, balance: int | None) -> None:
        """The batch holding `amount` was written; `balance` is the database's new one."""
        credit = self._users.get(user_id)
        if credit is None:
            return
        credit.flushing -= amount
        credit.epoch += 1
        if balance is not None:
            credit.balance, credit.loaded_at = balance, time.monotonic()

    def observe(self, user_id: str, balance: int, cap: int | None = None) -> None:
        """A write in this process set the balance (a top-up, an adjustment)."""
        credit = self._users.get(user_id)
        if credit is None:
            return
        credit.balance = balance
        if cap is not None:
            credit.cap = cap
        credit.epoch += 1
        credit.loaded_at = time.monotonic()

    def forget(self, user_id: str) -> None:
        """Drop the cached balance (its settings changed); reloaded on next use."""
        credit = self._users.get(user_id)
        if credit is not None and not (credit.held or credit.unflushed or credit.flushing):
            del self._users[user_id]
        elif credit is not None:
            credit.loaded_at = 0.0

    def held(self, user_id: str) -> int:
        """Micro-dollars held for the user's requests in flight (0 when none: every exit
        of a request releases its hold; the fault tests check that)."""
        credit = self._users.get(user_id)
        return 0 if credit is None else credit.held

    def pending(self, user_id: str) -> int:
        """Committed spending not yet in the database (shown in credit views)."""
        credit = self._users.get(user_id)
        return 0 if credit is None else credit.unflushed + credit.flushing

"""`BillingService`: the one object the rest of the app uses for money (`services.billing`).

Hot path (the gateway, per request; no database write):

    reservation = await services.billing.reserve(principal, estimated_micros)
    # 402 PaymentRequiredError (credits / guard rails) or 429 QuotaExceededError
    ...
    reservation.commit(actual_micros)   # or reservation.release(); or `async with`

GPU rentals (the providers area):

    hold = await billing.reserve_gpu_rent(principal, price_per_hour_micros)  # first hour
    await billing.start_accrual(user_id, instance_id, price, started_at, reservation=hold)
    await billing.stop_accrual(instance_id)                                  # at destroy
    billing.accrual.on_exceeded.append(stop_instance)    # (user_id, instance_id, reason)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from gpuproxy import _core
from gpuproxy.accounts.users import UserRepository
from gpuproxy.billing.accrual import GpuAccrual
from gpuproxy.billing.alerts import AlertSink
from gpuproxy.billing.allowances import AllowanceBook
from gpuproxy.billing.autorenew import AutoRenewer
from gpuproxy.billing.credits import CreditAccount, load_account
from gpuproxy.billing.gate import CreditGate
from gpuproxy.billing.guardrails import GuardHold, GuardRails
from gpuproxy.billing.ledger import EntryType, Movement, Posted, post, post_in
from gpuproxy.billing.notifications import Notifier
from gpuproxy.billing.payments.afterdark import AfterDarkPayments
from gpuproxy.billing.payments.crypto import CryptoPayments
from gpuproxy.billing.payments.facade import Payments
from gpuproxy.billing.payments.records import PaymentRecord, PaymentStore
from gpuproxy.billing.payments.stripe import StripePayments
from gpuproxy.billing.quotas import Quotas
from gpuproxy.billing.reservation import Reservation
from gpuproxy.billing.resets import RESETS_CHANNEL
from gpuproxy.billing.windows import local_windows
from gpuproxy.billing.writer import LedgerWriter
from gpuproxy.clock import now_ms
from gpuproxy.config import Settings
from gpuproxy.storage.database import Database
from gpuproxy.storage.kv import KeyValueStore
from gpuproxy.storage.pubsub import follow
from gpuproxy.supervisor import Supervisor

if TYPE_CHECKING:
    from gpuproxy.accounts.principal import Principal
    from gpuproxy.accounts.users import User
    from gpuproxy.services import Services

__all__ = ["LIMITS_CHANNEL", "BillingService", "start_billing"]

log = logging.getLogger(__name__)

#: Admins changed a user's guard-rail limits: every instance reloads them.
LIMITS_CHANNEL = "gpuproxy:billing:limits"


def _user_of(who: Principal | str) -> str:
    return who if isinstance(who, str) else who.user_id


class BillingService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        kv: KeyValueStore,
        *,
        clock: _core.ManualClock | None = None,
        shared_windows: bool | None = None,
        supervisor: Supervisor | None = None,
    ) -> None:
        """`clock` (tests) drives the spend windows, local and shared, by hand; `supervisor`
        (the app's) restarts the background loops after errors and reports their state."""
        self.settings = settings
        self.db = db
        self.kv = kv
        self.supervisor = supervisor if supervisor is not None else Supervisor()
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        #: Whose account an admin names (by id or email) in the billing and guard-rail routes.
        self.users = UserRepository(db)
        self.notifier = Notifier(db, kv)
        self.alerts = AlertSink(kv, self.notifier, self.spawn)
        self.guard = GuardRails(
            settings,
            db,
            kv,
            local_windows(clock),
            self.alerts,
            shared=shared_windows,
            clock_ms=clock.now_ms if clock is not None else now_ms,
        )
        self.gate = CreditGate(
            db, enforced=settings.credits_enforced, default_cap=settings.credits_default_cap
        )
        self.writer = LedgerWriter(
            db, self.gate, interval_ms=settings.billing_flush_interval_ms, on_posted=self._posted
        )
        self.quotas = Quotas(db, kv)
        self.accrual = GpuAccrual(
            db,
            self.guard,
            self.quotas,
            credits_exhausted=self._credits_exhausted,
            on_posted=self._posted,
        )
        store = PaymentStore(db)
        stripe = (
            StripePayments(settings, db, store, self._credit_payment, self.post)
            if settings.stripe_secret_key
            else None
        )
        self.payments = Payments(
            settings,
            db,
            store,
            stripe,
            CryptoPayments(settings, db, store, self._credit_payment),
            AfterDarkPayments(settings, store, self._credit_payment),
        )
        self.renewer = AutoRenewer(self.payments, self.notifier, self.spawn)

    # -- lifecycle ----------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        async def guarded() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("billing task %s failed", name)

        task = asyncio.get_running_loop().create_task(guarded(), name=f"billing:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def start(self, *, background: bool = True) -> None:
        await self.guard.load_overrides()
        if not background:
            return
        interval = self.settings.gpu_accrual_interval_seconds
        self._loop("ledger-writer", self.writer.run)
        self._loop("gpu-accrual", lambda: self.accrual.run(interval))
        self._loop("resets-poller", self.guard.follow_resets)
        if self.guard.shared:
            self._loop("shared-windows", self.guard.run_shared_sync)
            self._loop("limits-follower", self._follow_limits)
            self._loop("resets-follower", self._follow_resets)

    def _loop(self, name: str, factory: Callable[[], Awaitable[None]]) -> None:
        self._loops.append(self.supervisor.run(f"billing:{name}", factory))

    async def close(self) -> None:
        """Drain the batched writes (nothing committed is lost), then stop."""
        await self.writer.drain()
        try:
            await asyncio.wait_for(self.guard.flush_shared(), 5)
        except Exception:
            log.warning("could not push queued spending to the shared windows", exc_info=True)
        for task in [*self._loops, *self._tasks]:
            task.cancel()
        await asyncio.gather(*self._loops, *self._tasks, return_exceptions=True)
        self._loops.clear()
        await self.payments.close()

    async def settle_background(self) -> None:
        """Wait for spawned one-off tasks (alerts, auto-renew); for tests and shutdown."""
        while True:
            pending = [
                t
                for t in self._tasks
                if not t.done() and t.get_name().split(":")[-1] in {"alert", "auto-renew"}
            ]
            if not pending:
                return
            await asyncio.gather(*pending, return_exceptions=True)

    async def _follow_resets(self) -> None:
        # After a Redis outage the resets table has every reset that was missed.
        async for message in follow(self.kv, RESETS_CHANNEL, on_resync=self.guard.poll_resets):
            user_id, _, at = message.decode().partition(" ")
            if at.isdigit():
                self.guard.apply_reset(user_id, int(at))

    async def _follow_limits(self) -> None:
        # After a Redis outage every user's limits are reloaded (changes were missed).
        async for message in follow(self.kv, LIMITS_CHANNEL, on_resync=self.guard.load_overrides):
            try:
                await self.guard.reload_user(message.decode())
            except Exception:
                log.warning("reloading guard-rail limits failed", exc_info=True)

    # -- hot path -----------------------------------------------------------------------------

    async def reserve(
        self,
        who: Principal | str,
        estimated_micros: int,
        *,
        kind: EntryType = EntryType.USAGE,
        count_request: bool = True,
    ) -> Reservation:
        """Admit a spend of up to `estimated_micros` or raise 402/429 (nothing held then)."""
        if estimated_micros < 0:
            raise ValueError("estimated_micros must be >= 0")
        user_id = _user_of(who)
        if count_request:
            await self.quotas.admit_request(user_id)
        await self.gate.hold(user_id, estimated_micros)
        try:
            guard = await self.guard.reserve(user_id, estimated_micros)
        except BaseException:
            self.gate.settle(user_id, estimated_micros, 0)
            raise
        return Reservation(self, user_id, estimated_micros, kind, guard)

    def allowance_book(self, size_micros: int) -> AllowanceBook:
        """Spend allowances for the Rust data plane (`gpuproxy.gateway.billing_port`)."""
        return AllowanceBook(self, size_micros)

    def try_reserve(self, who: Principal | str, estimated_micros: int) -> Reservation | None:
        """`reserve` (a request of kind usage) without awaiting, when everything it checks is
        in memory: the quota is cached and has no request limit (that one counts in the KV
        store), the credit is cached, no shared window must be asked. Raises what `reserve`
        raises; None, with nothing held, when `reserve` must be awaited instead."""
        if estimated_micros < 0:
            raise ValueError("estimated_micros must be >= 0")
        user_id = _user_of(who)
        cached, quota = self.quotas.cached(user_id)
        if not cached or (quota is not None and quota.max_requests is not None):
            return None
        if not self.gate.try_hold(user_id, estimated_micros):
            return None
        try:
            guard = self.guard.try_reserve(user_id, estimated_micros)
        except BaseException:
            self.gate.settle(user_id, estimated_micros, 0)
            raise
        if guard is None:
            self.gate.settle(user_id, estimated_micros, 0)
            return None
        return Reservation(self, user_id, estimated_micros, EntryType.USAGE, guard)

    def _settle(
        self, reservation: Reservation, guard: GuardHold, actual: int | None, ref: str | None
    ) -> None:
        if actual is None:
            self.guard.release(guard)
            self.gate.settle(reservation.user_id, reservation.amount, 0)
            return
        self.guard.commit(guard, actual)
        self.gate.settle(reservation.user_id, reservation.amount, actual)
        self.writer.add(reservation.user_id, reservation.kind, actual, ref)

    # -- GPU rentals --------------------------------------------------------------------------

    async def reserve_gpu_rent(
        self, who: Principal | str, price_per_hour_micros: int
    ) -> Reservation:
        """Before renting: GPU quota, credits and guard rails for the first hour."""
        user_id = _user_of(who)
        await self.quotas.admit_gpu(user_id)
        return await self.reserve(
            user_id, price_per_hour_micros, kind=EntryType.GPU_TIME, count_request=False
        )

    async def start_accrual(
        self,
        user_id: str,
        instance_id: str,
        price_per_hour_micros: int,
        started_at: int | None = None,
        *,
        provider: str = "",
        reservation: Reservation | None = None,
    ) -> None:
        """The instance runs: bill it per minute from `started_at` (unix ms)."""
        hold = None
        if reservation is not None and not reservation.settled:
            hold = reservation.take_guard()
            # Credits are charged by the accrual's own ledger rows from here on.
            self.gate.settle(reservation.user_id, reservation.amount, 0)
        await self.accrual.start(
            user_id,
            instance_id,
            price_per_hour_micros,
            started_at,
            provider=provider,
            first_hour=hold,
        )

    async def stop_accrual(self, instance_id: str, stopped_at: int | None = None) -> int:
        """The instance is gone: final bill; returns the micro-dollars billed now."""
        bill = await self.accrual.stop(instance_id, stopped_at)
        return 0 if bill is None else bill.amount_micros

    # -- money movements ----------------------------------------------------------------------

    async def post(self, movement: Movement, *, enforce_cap: bool = False) -> Posted:
        posted = await post(
            self.db,
            movement,
            enforce_cap=enforce_cap,
            default_cap=self.settings.credits_default_cap,
        )
        self._posted(posted)
        return posted

    async def adjust(
        self, user_id: str, amount_micros: int, *, reason: str, actor_id: str, key: str
    ) -> Posted:
        """An admin's credit (+) or debit (-), with the reason kept on the ledger row."""
        return await self.post(
            Movement(
                user_id=user_id,
                type=EntryType.ADJUSTMENT,
                amount_micros=amount_micros,
                idempotency_key=f"adjust:{user_id}:{key}",
                provider="admin",
                actor_id=actor_id,
                description=reason,
                metadata={"reason": reason, "actor_id": actor_id},
            )
        )

    async def grant_starting_credit(self, user: User) -> Posted | None:
        """NEW_USER_CREDIT_USD for a new account (once per user: idempotent)."""
        amount = self.settings.new_user_credit
        if amount <= 0:
            return None
        return await self.post(
            Movement(
                user_id=user.id,
                type=EntryType.ADJUSTMENT,
                amount_micros=amount,
                idempotency_key=f"starting-credit:{user.id}",
                provider="signup",
                description="starting credit",
                metadata={"reason": "starting credit"},
            )
        )

    async def _credit_payment(
        self,
        payment: PaymentRecord,
        amount_micros: int,
        *,
        key: str,
        external_id: str | None,
        ledger_external_id: str,
        description: str,
        metadata: dict[str, Any],
    ) -> Posted:
        movement = Movement(
            user_id=payment.user_id,
            type=EntryType.TOPUP,
            amount_micros=amount_micros,
            idempotency_key=key,
            provider=payment.provider,
            external_id=ledger_external_id,
            description=description,
            metadata={"payment_id": payment.id, **metadata},
        )
        async with self.db.transaction() as tx:
            posted = await post_in(tx, movement)
            await self.payments.store.mark_credited(tx, payment.id, posted.entry.id, external_id)
        self._posted(posted)
        if not posted.replayed:
            log.info("credited payment %s (%s)", payment.id, payment.provider)
        return posted

    def _posted(self, posted: Posted) -> None:
        if not posted.replayed:
            self.gate.observe(posted.entry.user_id, posted.balance_micros)
        if posted.auto_renew is not None:
            self.renewer.due(posted.auto_renew)

    async def _credits_exhausted(self, posted: Posted) -> bool:
        if not self.settings.credits_enforced:
            return False
        account = await self.account(posted.entry.user_id)
        return posted.balance_micros < -account.cap_micros

    # -- views --------------------------------------------------------------------------------

    async def account(self, user_id: str) -> CreditAccount:
        return await load_account(self.db, user_id, self.settings.credits_default_cap)

    async def credits_view(self, user_id: str) -> dict[str, Any]:
        account = await self.account(user_id)
        return account.to_api(
            pending_micros=self.gate.pending(user_id), enforced=self.settings.credits_enforced
        )


async def start_billing(services: Services) -> None:
    """STARTUP_HOOKS entry: build the service, start its background work, drain at shutdown."""
    billing = BillingService(
        services.settings, services.db, services.kv, supervisor=services.supervisor
    )
    await billing.start()
    services.billing = billing
    accounts = services.accounts
    if accounts is not None:
        accounts.registration_listeners.append(billing.grant_starting_credit)
    services.shutdown_hooks.append(billing.close)

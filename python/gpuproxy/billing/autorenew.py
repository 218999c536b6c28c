"""Auto-renew: when a debit takes a balance below the threshold, charge the saved Stripe
payment method once (off-session PaymentIntent). The ledger's armed flag guarantees one
charge per threshold crossing; the payment's idempotency key `autorenew:{user}:{seq}`
guarantees that retries of the same crossing never charge twice."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from gpuproxy.billing.errors import BillingError
from gpuproxy.billing.ledger import AutoRenewDue
from gpuproxy.billing.notifications import Notifier
from gpuproxy.billing.payments.facade import Payments
from gpuproxy.billing.payments.records import FINAL_STATES
from gpuproxy.money import micros_to_dollars

__all__ = ["AutoRenewer"]

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None], str], Any]


class AutoRenewer:
    def __init__(self, payments: Payments, notifier: Notifier, spawn: Spawn) -> None:
        self._payments = payments
        self._notifier = notifier
        self._spawn = spawn

    def due(self, renewal: AutoRenewDue) -> None:
        async def run() -> None:
            await self.charge(renewal)

        self._spawn(run(), "auto-renew")

    async def charge(self, due: AutoRenewDue) -> str:
        """Charge one crossing; returns the payment's final status."""
        amount = micros_to_dollars(due.amount_micros)
        stripe = self._payments.stripe
        if stripe is None:
            await self._failed(due, "Stripe is not configured")
            return "failed"
        record, _ = await self._payments.store.create(
            user_id=due.user_id,
            provider="stripe",
            method="auto_renew",
            amount_micros=due.amount_micros,
            currency="USD",
            idempotency_key=f"autorenew:{due.user_id}:{due.seq}",
        )
        if record.status in FINAL_STATES:
            return record.status
        try:
            record, _ = await stripe.confirm(
                record, due.customer_id, due.payment_method_id, off_session=True
            )
        except BillingError as exc:
            await self._failed(due, exc.message)
            return "failed"
        if record.status == "succeeded":
            await self._notifier.notify(
                due.user_id,
                "billing.auto_renew",
                "info",
                f"Auto-renew added {amount} USD of credits",
                {"payment_id": record.id, "amount": amount},
            )
        else:
            await self._failed(due, f"payment status {record.status}")
        return record.status

    async def _failed(self, due: AutoRenewDue, reason: str) -> None:
        log.warning("auto-renew failed for a user: %s", reason)
        await self._notifier.notify(
            due.user_id,
            "billing.auto_renew_failed",
            "critical",
            f"Auto-renew of {micros_to_dollars(due.amount_micros)} USD failed: {reason}",
            {"amount": micros_to_dollars(due.amount_micros), "reason": reason},
        )

"""Stripe refunds: one ledger debit per Stripe refund (`re_...`), whatever the deliveries.

A refund event (`charge.refunded`, `refund.*`, `charge.refund.updated`) only says that a
charge's refunds changed; the charge's refunds are then read from Stripe (the current
truth, whatever order the events arrive in) and each is applied under the ledger key
`stripe:refund:{refund id}`. Two deliveries at the same time, retries and reordered events
therefore post each refund once: the ledger's unique idempotency key decides, not a sum
read before writing (a cumulative `amount_refunded` read by two concurrent deliveries
debited twice).

A refund that failed or was canceled after it was debited is credited back once
(`stripe:refund:{id}:reversed`). Pending refunds are debited: Stripe counts them in the
charge's `amount_refunded`, and the money is on its way back to the customer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import stripe

from gpuproxy.billing.errors import PaymentProviderError
from gpuproxy.billing.ledger import EntryType, Movement, Posted
from gpuproxy.storage.database import Database

__all__ = ["REFUND_EVENTS", "StripeRefunds", "topup_owner"]

log = logging.getLogger(__name__)

#: Events after which a charge's refunds are read again and applied.
REFUND_EVENTS = frozenset(
    {
        "charge.refunded",
        "charge.refund.updated",
        "refund.created",
        "refund.updated",
        "refund.failed",
    }
)
_MICROS_PER_CENT = 10_000
_UNDONE = frozenset({"failed", "canceled"})


async def topup_owner(db: Database, intent_id: str) -> str | None:
    """The user a Stripe PaymentIntent topped up (None: not a top-up of ours)."""
    row = await db.fetchrow(
        "SELECT user_id FROM ledger_entries WHERE provider = 'stripe' AND type = 'topup' "
        "AND external_id = $1",
        intent_id,
    )
    return None if row is None else str(row["user_id"])


class StripeRefunds:
    def __init__(
        self,
        client: stripe.StripeClient,
        db: Database,
        post: Callable[[Movement], Awaitable[Posted]],
    ) -> None:
        self._client = client
        self._db = db
        self._post = post

    async def handle(self, kind: str, obj: dict[str, Any]) -> bool:
        """Apply the refunds of the charge a refund event is about; True when it is ours."""
        charge_id = obj.get("id") if kind == "charge.refunded" else obj.get("charge")
        intent_id = obj.get("payment_intent")
        if not charge_id or not intent_id:
            return False
        user_id = await topup_owner(self._db, str(intent_id))
        if user_id is None:
            return False  # not a top-up of ours
        for refund in await self._refunds(str(charge_id)):
            await self._apply(user_id, str(charge_id), str(intent_id), refund)
        return True

    async def _refunds(self, charge_id: str) -> list[dict[str, Any]]:
        try:
            page = await self._client.v1.refunds.list_async({"charge": charge_id, "limit": 100})
            return [refund.to_dict() async for refund in page.auto_paging_iter()]
        except stripe.StripeError as exc:
            # A 502 makes Stripe deliver the event again later.
            log.warning("Stripe refunds of a charge unavailable: %s", type(exc).__name__)
            raise PaymentProviderError(
                "the payment provider (Stripe) failed; try again later", code="stripe_error"
            ) from None

    async def _apply(
        self, user_id: str, charge_id: str, intent_id: str, refund: dict[str, Any]
    ) -> None:
        refund_id = str(refund.get("id") or "")
        amount_cents = int(refund.get("amount") or 0)
        if not refund_id or amount_cents <= 0 or str(refund.get("currency")).lower() != "usd":
            log.error("Stripe refund %s of %s not applied: unexpected amount", refund_id, charge_id)
            return
        key = f"stripe:refund:{refund_id}"
        amount = amount_cents * _MICROS_PER_CENT
        if refund.get("status") in _UNDONE:
            debited = await self._db.fetchval(
                "SELECT COUNT(*) FROM ledger_entries WHERE idempotency_key = $1", key
            )
            if not debited:
                return
            amount, key = -amount, f"{key}:reversed"
        await self._post(
            Movement(
                user_id=user_id,
                type=EntryType.REFUND,
                amount_micros=-amount,
                idempotency_key=key,
                provider="stripe",
                external_id=charge_id,
                description="Stripe refund" if amount > 0 else "Stripe refund reversed",
                metadata={"stripe_payment_intent": intent_id, "stripe_refund": refund_id},
            )
        )

"""Stripe disputes (chargebacks): the ledger follows the money Stripe takes back and returns.

A dispute (`dp_...`) withdraws its `amount` from our Stripe balance when it opens, so the
top-up it disputes is debited once under the ledger key `stripe:dispute:{id}`. A dispute we
win returns the money: credited once under `stripe:dispute:{id}:reinstated`.

Every `charge.dispute.*` event carries the whole dispute, and the state decides, not the
event's name: an event of a disputed (not inquiry) dispute makes sure the debit exists, one
of a won dispute makes sure the reinstatement exists too. Both keys are idempotent, so
retries, reordering (`closed` before `created`) and concurrent deliveries end with the same
ledger. Inquiries (`warning_*` statuses, card-network retrieval requests) move no money
until they escalate, which Stripe reports with `charge.dispute.funds_withdrawn`.

Source: https://docs.stripe.com/api/disputes/object (status values, `amount`,
`payment_intent`), https://docs.stripe.com/disputes/how-disputes-work (funds withdrawn at
opening, returned when won; inquiries withdraw nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from gpuproxy.billing.ledger import EntryType, Movement, Posted
from gpuproxy.billing.payments.stripe_refunds import topup_owner
from gpuproxy.storage.database import Database

__all__ = ["DISPUTE_EVENTS", "StripeDisputes"]

log = logging.getLogger(__name__)

DISPUTE_EVENTS = frozenset(
    {
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
    }
)
_MICROS_PER_CENT = 10_000


class StripeDisputes:
    def __init__(self, db: Database, post: Callable[[Movement], Awaitable[Posted]]) -> None:
        self._db = db
        self._post = post

    async def handle(self, dispute: dict[str, Any]) -> bool:
        """Apply the state of one dispute; True when it disputes a top-up of ours."""
        dispute_id = str(dispute.get("id") or "")
        intent_id = dispute.get("payment_intent")
        if not dispute_id or not intent_id:
            return False
        user_id = await topup_owner(self._db, str(intent_id))
        if user_id is None:
            return False
        status = str(dispute.get("status") or "")
        if status.startswith("warning_"):
            return True  # an inquiry: no money moved yet
        amount_cents = dispute.get("amount")
        if (
            not isinstance(amount_cents, int)
            or amount_cents <= 0
            or str(dispute.get("currency")).lower() != "usd"
        ):
            log.error("Stripe dispute %s not applied: unexpected amount", dispute_id)
            return True
        amount = amount_cents * _MICROS_PER_CENT
        base = Movement(
            user_id=user_id,
            type=EntryType.ADJUSTMENT,
            amount_micros=-amount,
            idempotency_key=f"stripe:dispute:{dispute_id}",
            provider="stripe",
            external_id=str(dispute.get("charge") or ""),
            description="Stripe dispute (chargeback)",
            metadata={"stripe_dispute": dispute_id, "stripe_payment_intent": str(intent_id)},
        )
        await self._post(base)
        if status == "won":
            await self._post(
                Movement(
                    user_id=user_id,
                    type=EntryType.ADJUSTMENT,
                    amount_micros=amount,
                    idempotency_key=f"{base.idempotency_key}:reinstated",
                    provider="stripe",
                    external_id=base.external_id,
                    description="Stripe dispute won: funds reinstated",
                    metadata=base.metadata,
                )
            )
        return True

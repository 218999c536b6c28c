"""One entry point for `POST /api/v1/billing/payment`: validate, pick the provider, pay.

Idempotency: a caller's `Idempotency-Key` (scoped to the user) makes the call replayable;
the same key returns the same payment and never charges twice. The provider calls carry
their own idempotency keys derived from the payment id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from gpuproxy.billing.credits import load_account, update_account
from gpuproxy.billing.errors import BillingNotFound, InvalidBillingInput, ProviderNotConfigured
from gpuproxy.billing.payments.afterdark import AfterDarkPayments
from gpuproxy.billing.payments.crypto import CryptoPayments
from gpuproxy.billing.payments.preferred import PreferredPayment
from gpuproxy.billing.payments.records import PaymentRecord, PaymentStore
from gpuproxy.billing.payments.stripe import StripePayments
from gpuproxy.config import Settings
from gpuproxy.storage.database import Database

__all__ = ["MAX_PAYMENT_MICROS", "MIN_CARD_MICROS", "PaymentRequest", "Payments"]

MAX_PAYMENT_MICROS = 100_000 * 1_000_000
MIN_CARD_MICROS = 500_000  # Stripe's minimum charge in USD is 0.50


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    user_id: str
    email: str
    amount_micros: int
    currency: str
    provider: str
    preferred: PreferredPayment | None
    idempotency_key: str | None
    success_url: str | None = None
    cancel_url: str | None = None


class Payments:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        store: PaymentStore,
        stripe: StripePayments | None,
        crypto: CryptoPayments,
        afterdark: AfterDarkPayments,
    ) -> None:
        self._settings = settings
        self._db = db
        self.store = store
        self.stripe = stripe
        self.crypto = crypto
        self.afterdark = afterdark

    def public_url(self) -> str:
        s = self._settings
        return s.public_url or f"http://{s.host}:{s.port}"

    def _key(self, request: PaymentRequest) -> str:
        if request.idempotency_key:
            return f"user:{request.user_id}:{request.idempotency_key}"
        return f"auto:{uuid.uuid4().hex}"

    def require_stripe(self) -> StripePayments:
        if self.stripe is None:
            raise ProviderNotConfigured(
                "Stripe is not configured on this server (STRIPE_SECRET_KEY)"
            )
        return self.stripe

    async def create(self, request: PaymentRequest) -> tuple[PaymentRecord, dict[str, Any]]:
        """Start (and for saved cards, finish) a payment; returns it and provider extras."""
        if request.currency.upper() != "USD":
            raise InvalidBillingInput("currency: only USD is accepted", param="currency")
        if not 0 < request.amount_micros <= MAX_PAYMENT_MICROS:
            raise InvalidBillingInput(
                "amount: expected more than 0 and at most 100000.00", param="amount"
            )
        key = self._key(request)
        if request.provider == "crypto":
            if request.preferred is None or request.preferred.kind != "crypto":
                raise InvalidBillingInput(
                    "X-Preferred-Payment: crypto payments need crypto:<network>:<wallet>",
                    param="X-Preferred-Payment",
                )
            record = await self.crypto.create(
                request.user_id, request.preferred, request.amount_micros, "USD", key
            )
            return record, {}
        success = request.success_url or f"{self.public_url()}/billing/success"
        cancel = request.cancel_url or f"{self.public_url()}/billing/cancel"
        if request.provider == "afterdark":
            record, created = await self.store.create(
                user_id=request.user_id,
                provider="afterdark",
                method="afterdark_checkout",
                amount_micros=request.amount_micros,
                currency="USD",
                idempotency_key=key,
            )
            if created or record.external_id is None:
                record = await self.afterdark.checkout(
                    record,
                    callback_url=f"{self.public_url()}/api/v1/billing/webhooks/afterdark",
                    success_url=success,
                    cancel_url=cancel,
                )
            return record, {}
        return await self._stripe(request, key, success, cancel)

    async def _stripe(
        self, request: PaymentRequest, key: str, success: str, cancel: str
    ) -> tuple[PaymentRecord, dict[str, Any]]:
        stripe = self.require_stripe()
        if request.amount_micros < MIN_CARD_MICROS:
            raise InvalidBillingInput("amount: Stripe charges at least 0.50 USD", param="amount")
        if request.amount_micros % 10_000:
            raise InvalidBillingInput("amount: Stripe charges whole cents", param="amount")
        preferred = request.preferred
        method = "payment_intent" if preferred is not None else "checkout"
        record, created = await self.store.create(
            user_id=request.user_id,
            provider="stripe",
            method=method,
            amount_micros=request.amount_micros,
            currency="USD",
            idempotency_key=key,
        )
        if not created and record.status != "pending":
            return record, {}  # a replay: never pay twice
        account = await load_account(self._db, request.user_id, 0)
        if preferred is None or preferred.payment_method is None:
            if not created and record.external_id is not None:
                return record, {}
            record = await stripe.checkout(
                record,
                customer_id=account.stripe_customer_id,
                email=request.email,
                success_url=success,
                cancel_url=cancel,
            )
            return record, {}
        customer = await stripe.ensure_customer(
            request.user_id, request.email, account.stripe_customer_id
        )
        if customer != account.stripe_customer_id:
            await update_account(self._db, request.user_id, stripe_customer_id=customer)
        await stripe.attach(customer, preferred.payment_method)
        record, extra = await stripe.confirm(
            record, customer, preferred.payment_method, off_session=False
        )
        if record.status == "succeeded":
            # The method works: keep it for auto-renew (an id, never card data).
            await update_account(
                self._db, request.user_id, payment_method_id=preferred.payment_method
            )
        return record, extra

    async def get(self, user_id: str, payment_id: str, *, admin: bool = False) -> PaymentRecord:
        record = await self.store.get(payment_id)
        if record is None or (record.user_id != user_id and not admin):
            raise BillingNotFound("no such payment", param="payment_id")
        return record

    async def record_event(self, provider: str, event: dict[str, Any]) -> None:
        """Keep a verified callback's id and type; an event without an id is not kept."""
        event_id = str(event.get("id") or "")
        if event_id:
            await self.store.record_event(provider, event_id, str(event.get("type") or ""))

    async def close(self) -> None:
        if self.stripe is not None:
            await self.stripe.close()
        await self.crypto.close()
        await self.afterdark.close()

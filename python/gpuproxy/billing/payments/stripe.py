"""Stripe through the official SDK (`stripe.StripeClient`, async calls, idempotency keys).

- A saved PaymentMethod (`X-Preferred-Payment: card:pm_...`): attach it to the user's Stripe
  customer and confirm a PaymentIntent at once; success credits immediately.
- No method: a Checkout Session (hosted page); the webhook credits when it is paid.
- Auto-renew: an off-session PaymentIntent on the saved method.
- Webhook: `Stripe-Signature` is verified with STRIPE_WEBHOOK_SECRET (5 min tolerance). Every
  credit uses the ledger key `stripe:payment:{payment_id}`, so the synchronous answer,
  `payment_intent.succeeded` and `checkout.session.completed` credit once between them,
  whatever their order or retries.
- Refunds: one debit per Stripe refund id (`stripe_refunds.py`), safe under concurrent
  deliveries; a refund that fails later is credited back once.
- Disputes: one debit per dispute, credited back once if we win it (`stripe_disputes.py`).
- A delayed payment method that fails (`checkout.session.async_payment_failed`) marks the
  payment failed; nothing was credited for it.
- Rate limits: the SDK retries what Stripe marks retryable (`Stripe-Should-Retry: true`, 409,
  5xx); a 429 left over becomes our 503 with Retry-After, the payment stays retryable under
  the same Idempotency-Key (Stripe saves no result for a rate-limited request).
STRIPE_API_BASE points the SDK elsewhere (tests use a fake Stripe API).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import stripe

from gpuproxy.billing.errors import (
    InvalidBillingInput,
    PaymentDeclined,
    PaymentProviderBusy,
    PaymentProviderError,
)
from gpuproxy.billing.ledger import Movement, Posted
from gpuproxy.billing.payments.crediting import Crediter
from gpuproxy.billing.payments.records import PaymentRecord, PaymentStore
from gpuproxy.billing.payments.stripe_disputes import DISPUTE_EVENTS, StripeDisputes
from gpuproxy.billing.payments.stripe_refunds import REFUND_EVENTS, StripeRefunds
from gpuproxy.config import Settings
from gpuproxy.storage.database import Database

__all__ = ["StripePayments", "cents"]

log = logging.getLogger(__name__)

_MICROS_PER_CENT = 10_000
_WEBHOOK_TOLERANCE = 300
_PRODUCT = "aiserve-gpuproxy credits"
#: Seconds a client is told to wait after Stripe rate-limited us (Stripe sends no hint;
#: its limits are per second).
_RATE_LIMIT_RETRY_AFTER = 2


def cents(micros: int, *, param: str = "amount") -> int:
    if micros % _MICROS_PER_CENT:
        raise InvalidBillingInput(f"{param}: Stripe charges whole cents", param=param)
    return micros // _MICROS_PER_CENT


class _HttpxClient(stripe.HTTPXClient):
    """The SDK's httpx client, sending the form body as `content` (httpx deprecates
    passing a string as `data`)."""

    def _get_request_args_kwargs(  # type: ignore[no-untyped-def]
        self, method: str, url: str, headers: Any, post_data: Any
    ):
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        data = kwargs.pop("data", None)
        if data:
            kwargs["content"] = data
        return args, kwargs


class StripePayments:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        store: PaymentStore,
        credit: Crediter,
        post: Callable[[Movement], Awaitable[Posted]],
    ) -> None:
        self._settings = settings
        self._store = store
        self._credit = credit
        self._http = _HttpxClient(timeout=30)
        base = {"api": settings.stripe_api_base} if settings.stripe_api_base else None
        self.client = stripe.StripeClient(
            settings.stripe_secret_key,
            base_addresses=base,  # type: ignore[arg-type]
            http_client=self._http,
            max_network_retries=2,
        )
        self._refunds = StripeRefunds(self.client, db, post)
        self._disputes = StripeDisputes(db, post)

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]

    # -- customer and payment method --------------------------------------------------------

    async def ensure_customer(self, user_id: str, email: str, existing: str | None) -> str:
        if existing:
            return existing
        try:
            customer = await self.client.v1.customers.create_async(
                {"email": email, "metadata": {"user_id": user_id}},
                {"idempotency_key": f"customer:{user_id}"},
            )
        except stripe.StripeError as exc:
            raise self._provider_error(exc) from None
        return str(customer.id)

    async def attach(self, customer_id: str, payment_method: str) -> None:
        try:
            await self.client.v1.payment_methods.attach_async(
                payment_method,
                {"customer": customer_id},
                {"idempotency_key": f"attach:{customer_id}:{payment_method}"},
            )
        except stripe.InvalidRequestError as exc:
            raise InvalidBillingInput(
                f"X-Preferred-Payment: Stripe refused the payment method: {exc.user_message}",
                param="X-Preferred-Payment",
            ) from None
        except stripe.StripeError as exc:
            raise self._provider_error(exc) from None

    # -- paying -----------------------------------------------------------------------------

    async def confirm(
        self,
        payment: PaymentRecord,
        customer_id: str,
        payment_method: str,
        *,
        off_session: bool,
    ) -> tuple[PaymentRecord, dict[str, Any]]:
        """Confirm a PaymentIntent for `payment`; credits on success, raises 402 on decline."""
        params: dict[str, Any] = {
            "amount": cents(payment.amount_micros),
            "currency": payment.currency.lower(),
            "customer": customer_id,
            "payment_method": payment_method,
            "payment_method_types": ["card"],
            "confirm": True,
            "description": _PRODUCT,
            "metadata": {"payment_id": payment.id, "user_id": payment.user_id},
        }
        if off_session:
            params["off_session"] = True
        try:
            intent = await self.client.v1.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": f"pi:{payment.id}"},
            )
        except stripe.CardError as exc:
            reason = exc.code or "card_declined"
            await self._store.update(payment.id, status="failed", failure_reason=reason)
            raise PaymentDeclined(
                f"the card was declined: {exc.user_message or reason}", code=reason
            ) from None
        except stripe.InvalidRequestError as exc:
            await self._store.update(payment.id, status="failed", failure_reason=exc.code)
            raise InvalidBillingInput(
                f"Stripe refused the payment: {exc.user_message}",
                param=exc.param or "X-Preferred-Payment",
            ) from None
        except stripe.StripeError as exc:
            raise self._provider_error(exc) from None
        extra: dict[str, Any] = {}
        if intent.status == "succeeded":
            await self._credit_intent(payment, intent.to_dict())
        elif intent.status in {"requires_action", "processing"}:
            await self._store.update(payment.id, status="requires_action", external_id=intent.id)
            # The client finishes 3-D Secure with Stripe.js; never stored.
            extra = {"client_secret": intent.client_secret, "next_action": "use_stripe_sdk"}
        else:
            await self._store.update(
                payment.id, status="failed", external_id=intent.id, failure_reason=intent.status
            )
        updated = await self._store.get(payment.id)
        assert updated is not None
        return updated, extra

    async def checkout(
        self,
        payment: PaymentRecord,
        *,
        customer_id: str | None,
        email: str,
        success_url: str,
        cancel_url: str,
    ) -> PaymentRecord:
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": payment.currency.lower(),
                        "unit_amount": cents(payment.amount_micros),
                        "product_data": {"name": _PRODUCT},
                    },
                    "quantity": 1,
                }
            ],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": payment.user_id,
            "metadata": {"payment_id": payment.id, "user_id": payment.user_id},
            "payment_intent_data": {
                "metadata": {"payment_id": payment.id, "user_id": payment.user_id}
            },
        }
        if customer_id:
            params["customer"] = customer_id
        else:
            params["customer_email"] = email
        try:
            session = await self.client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": f"cs:{payment.id}"},
            )
        except stripe.InvalidRequestError as exc:
            raise InvalidBillingInput(
                f"Stripe refused the checkout: {exc.user_message}", param=exc.param or "amount"
            ) from None
        except stripe.StripeError as exc:
            raise self._provider_error(exc) from None
        await self._store.update(
            payment.id, external_id=session.id, details={"checkout_url": session.url}
        )
        updated = await self._store.get(payment.id)
        assert updated is not None
        return updated

    # -- webhook ------------------------------------------------------------------------------

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event, once `Stripe-Signature` proves Stripe sent these exact bytes."""
        if not signature:
            raise InvalidBillingInput(
                "missing Stripe-Signature header",
                param="Stripe-Signature",
                code="invalid_signature",
            )
        try:
            text = payload.decode("utf-8")
            stripe.WebhookSignature.verify_header(
                text, signature, self._settings.stripe_webhook_secret, _WEBHOOK_TOLERANCE
            )
            event = json.loads(text)
        except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError):
            raise InvalidBillingInput(
                "Stripe-Signature verification failed",
                param="Stripe-Signature",
                code="invalid_signature",
            ) from None
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            raise InvalidBillingInput("not a Stripe event", param="body")
        return event

    async def handle(self, event: dict[str, Any]) -> bool:
        """Apply one verified event; True when it moved a payment on."""
        kind = str(event.get("type", ""))
        obj = event["data"].get("object") or {}
        if kind == "payment_intent.succeeded":
            payment = await self._payment_of(obj)
            if payment is not None:
                await self._credit_intent(payment, obj)
                return True
        elif kind in {"checkout.session.completed", "checkout.session.async_payment_succeeded"}:
            payment = await self._payment_of(obj)
            if payment is not None and obj.get("payment_status") == "paid":
                await self._credit_amount(
                    payment,
                    int(obj.get("amount_total") or 0),
                    str(obj.get("currency") or ""),
                    str(obj.get("payment_intent") or obj.get("id") or ""),
                    checkout=True,
                )
                return True
        elif kind == "payment_intent.payment_failed":
            payment = await self._payment_of(obj)
            if payment is not None:
                error = obj.get("last_payment_error") or {}
                return await self._fail(payment, str(error.get("code") or "failed"))
        elif kind == "checkout.session.async_payment_failed":
            payment = await self._payment_of(obj)
            if payment is not None:
                return await self._fail(payment, "async_payment_failed")
        elif kind in REFUND_EVENTS:
            return await self._refunds.handle(kind, obj)
        elif kind in DISPUTE_EVENTS:
            return await self._disputes.handle(obj)
        elif kind in {"checkout.session.expired", "payment_intent.canceled"}:
            payment = await self._payment_of(obj)
            if payment is not None:
                await self._store.update(payment.id, status="canceled")
                return True
        return False

    async def _fail(self, payment: PaymentRecord, reason: str) -> bool:
        """Mark a payment failed unless it was already credited (a late or replayed failure
        of an earlier attempt never undoes a success)."""
        if payment.status == "succeeded":
            return False
        await self._store.update(payment.id, status="failed", failure_reason=reason)
        return True

    async def _payment_of(self, obj: dict[str, Any]) -> PaymentRecord | None:
        metadata = obj.get("metadata") or {}
        payment_id = metadata.get("payment_id")
        if not payment_id:
            return None  # not one of ours (another integration on the same account)
        payment = await self._store.get(str(payment_id))
        if payment is None or payment.provider != "stripe":
            log.warning("Stripe event for an unknown payment id")
            return None
        if metadata.get("user_id") not in (None, payment.user_id):
            log.warning("Stripe event whose user does not match its payment; ignored")
            return None
        return payment

    async def _credit_intent(self, payment: PaymentRecord, intent: dict[str, Any]) -> None:
        await self._credit_amount(
            payment,
            int(intent.get("amount_received") or 0),
            str(intent.get("currency") or ""),
            str(intent.get("id") or ""),
            checkout=False,
        )

    async def _credit_amount(
        self,
        payment: PaymentRecord,
        amount_cents: int,
        currency: str,
        intent_id: str,
        *,
        checkout: bool,
    ) -> None:
        if currency.upper() != payment.currency.upper() or amount_cents <= 0:
            log.error(
                "Stripe payment %s paid %s %s: not credited", payment.id, amount_cents, currency
            )
            return
        amount = amount_cents * _MICROS_PER_CENT
        if amount != payment.amount_micros:
            log.warning("Stripe payment %s paid a different amount than requested", payment.id)
        await self._credit(
            payment,
            amount,
            key=f"stripe:payment:{payment.id}",
            external_id=None if checkout else intent_id,
            ledger_external_id=intent_id,
            description="Stripe top-up",
            metadata={"stripe_payment_intent": intent_id},
        )

    @staticmethod
    def _provider_error(exc: stripe.StripeError) -> PaymentProviderError:
        log.warning("Stripe request failed: %s (%s)", type(exc).__name__, exc.code)
        if isinstance(exc, stripe.RateLimitError) or exc.http_status == 429:
            return PaymentProviderBusy(
                "the payment provider (Stripe) is busy; retry with the same Idempotency-Key",
                retry_after=_RATE_LIMIT_RETRY_AFTER,
                code="stripe_rate_limited",
            )
        return PaymentProviderError(
            "the payment provider (Stripe) failed; try again later", code="stripe_error"
        )

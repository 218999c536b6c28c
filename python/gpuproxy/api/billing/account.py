"""Billing routes for the caller's own account: credits, transactions, payments, quota.

`POST /api/v1/billing/payment` {amount, currency, provider} with the seed's headers
`X-Billing` (AfterDark | Stripe | Crypto) and `X-Preferred-Payment` (card:pm_... |
crypto:<network>:<wallet> | afterdark); `Idempotency-Key` makes it safe to retry.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED

from gpuproxy.api.billing.common import (
    Amount,
    billing_of,
    caller_page,
    notifications_page,
    parse_amount,
    transactions_page,
)
from gpuproxy.api.deps import ServicesDep
from gpuproxy.api.guards import principal_of, requires_scope
from gpuproxy.billing.credits import update_account
from gpuproxy.billing.errors import InvalidBillingInput
from gpuproxy.billing.payments import PaymentRequest, parse_preferred
from gpuproxy.billing.payments.preferred import resolve_provider

__all__ = ["BillingController", "PaymentBody"]

_MAX_KEY = 200


class PaymentBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    amount: Amount
    currency: str = "USD"
    provider: str | None = None
    #: The seed's gRPC `payment_method` (same forms as X-Preferred-Payment).
    payment_method: str | None = None
    success_url: str | None = None
    cancel_url: str | None = None


class CryptoSubmitBody(msgspec.Struct, kw_only=True):
    tx_hash: str


class AutoRenewBody(msgspec.Struct, kw_only=True):
    enabled: bool
    threshold: Amount | None = None
    amount: Amount | None = None


def _url(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if not value.startswith(("https://", "http://")) or len(value) > 2000:
        raise InvalidBillingInput(f"{field}: expected an http(s) URL", param=field)
    return value


def _idempotency_key(request: Request[Any, Any, Any]) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= _MAX_KEY:
        raise InvalidBillingInput(
            f"Idempotency-Key: expected 1 to {_MAX_KEY} characters", param="Idempotency-Key"
        )
    return key


class BillingController(Controller):
    path = "/api/v1/billing"
    tags = ["billing"]  # noqa: RUF012 - Litestar reads it as a class attribute
    guards = [requires_scope("billing")]  # noqa: RUF012

    @get("/credits", summary="The caller's credits (credits_remaining, credits_total, ...)")
    async def credits(
        self, request: Request[Any, Any, Any], services: ServicesDep
    ) -> dict[str, Any]:
        return await billing_of(services).credits_view(principal_of(request).user_id)

    @get("/transactions", summary="The caller's ledger, newest first")
    async def transactions(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        limit: FromQuery[int | None] = None,
        offset: FromQuery[int | None] = None,
    ) -> dict[str, Any]:
        billing, user_id, size, start = caller_page(request, services, limit, offset)
        return await transactions_page(billing, user_id, size, start)

    @post(
        "/payment", status_code=HTTP_201_CREATED, summary="Add credits (Stripe, crypto, AfterDark)"
    )
    async def payment(
        self, request: Request[Any, Any, Any], services: ServicesDep, data: JSONBody[PaymentBody]
    ) -> dict[str, Any]:
        # The preferred method is parsed first: a raw card number is refused before anything
        # else looks at the request, and it is never echoed, stored or logged.
        header = request.headers.get("x-preferred-payment")
        preferred = parse_preferred(header)
        from_body = parse_preferred(data.payment_method, param="payment_method")
        if preferred is not None and from_body is not None and preferred != from_body:
            raise InvalidBillingInput(
                "payment_method and X-Preferred-Payment disagree", param="payment_method"
            )
        preferred = preferred or from_body
        amount = parse_amount(data.amount, "amount")
        provider = resolve_provider(data.provider, request.headers.get("x-billing"), preferred)
        principal = principal_of(request)
        billing = billing_of(services)
        record, extra = await billing.payments.create(
            PaymentRequest(
                user_id=principal.user_id,
                email=principal.email,
                amount_micros=amount,
                currency=data.currency,
                provider=provider,
                preferred=preferred,
                idempotency_key=_idempotency_key(request),
                success_url=_url(data.success_url, "success_url"),
                cancel_url=_url(data.cancel_url, "cancel_url"),
            )
        )
        return {"payment": record.to_api(), **extra}

    @get("/payments", summary="The caller's payments, newest first")
    async def payments(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        limit: FromQuery[int | None] = None,
        offset: FromQuery[int | None] = None,
    ) -> dict[str, Any]:
        billing, user_id, size, start = caller_page(request, services, limit, offset)
        records = await billing.payments.store.list_for(user_id, size, start)
        return {"payments": [r.to_api() for r in records], "limit": size, "offset": start}

    @get("/payments/{payment_id:str}", summary="One of the caller's payments")
    async def payment_status(
        self, request: Request[Any, Any, Any], services: ServicesDep, payment_id: FromPath[str]
    ) -> dict[str, Any]:
        principal = principal_of(request)
        record = await billing_of(services).payments.get(principal.user_id, payment_id)
        return {"payment": record.to_api()}

    @post(
        "/payments/{payment_id:str}/crypto",
        status_code=HTTP_200_OK,
        summary="Submit the transaction hash of a crypto payment",
        responses={
            HTTP_202_ACCEPTED: ResponseSpec(
                dict[str, Any],
                description="Seen, not yet credited: unmined or short of confirmations",
                generate_examples=False,
            )
        },
    )
    async def crypto_submit(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        payment_id: FromPath[str],
        data: JSONBody[CryptoSubmitBody],
    ) -> Response[dict[str, Any]]:
        """200 once credited; 202 while the transaction is unmined or short of confirmations."""
        principal = principal_of(request)
        billing = billing_of(services)
        record, report = await billing.payments.crypto.submit(
            principal.user_id, payment_id, data.tx_hash
        )
        status = HTTP_200_OK if report["status"] == "credited" else HTTP_202_ACCEPTED
        return Response({"payment": record.to_api(), "verification": report}, status_code=status)

    @put("/auto-renew", summary="Turn auto-renew on or off (needs a saved card)")
    async def auto_renew(
        self, request: Request[Any, Any, Any], services: ServicesDep, data: JSONBody[AutoRenewBody]
    ) -> dict[str, Any]:
        principal = principal_of(request)
        billing = billing_of(services)
        account = await billing.account(principal.user_id)
        changes: dict[str, Any] = {"auto_renew": 1 if data.enabled else 0}
        if data.threshold is not None:
            changes["auto_renew_threshold_micros"] = parse_amount(
                data.threshold, "threshold", allow_zero=True
            )
        if data.amount is not None:
            amount = parse_amount(data.amount, "amount")
            if amount % 10_000 or amount < 500_000:
                raise InvalidBillingInput(
                    "amount: whole cents, at least 0.50 (charged through Stripe)", param="amount"
                )
            changes["auto_renew_amount_micros"] = amount
        if data.enabled:
            if account.payment_method_id is None:
                raise InvalidBillingInput(
                    "enabled: pay once with X-Preferred-Payment: card:pm_... to save a card "
                    "before turning auto-renew on",
                    param="enabled",
                )
            amount_after = changes.get("auto_renew_amount_micros", account.auto_renew_amount_micros)
            if amount_after <= 0:
                raise InvalidBillingInput("amount: required to turn auto-renew on", param="amount")
        await update_account(billing.db, principal.user_id, **changes)
        return await billing.credits_view(principal.user_id)

    @get("/quota", summary="The caller's usage quota and what is used this period")
    async def quota(self, request: Request[Any, Any, Any], services: ServicesDep) -> dict[str, Any]:
        usage = await billing_of(services).quotas.usage(principal_of(request).user_id)
        return {"quota": usage}

    @get("/notifications", summary="The caller's billing and guard-rail notifications")
    async def notifications(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        limit: FromQuery[int | None] = None,
        offset: FromQuery[int | None] = None,
    ) -> dict[str, Any]:
        billing, user_id, size, start = caller_page(request, services, limit, offset)
        return await notifications_page(billing, user_id, "notifications", size, start)

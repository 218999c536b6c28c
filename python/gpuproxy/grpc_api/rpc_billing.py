"""Billing and guard-rail RPCs over the billing service (the HTTP /billing and /guardrails
routes): payments, the ledger, spending over the 17 windows, the dry-run check."""

from __future__ import annotations

from typing import Any

from gpuproxy.api.billing.common import billing_of, page, parse_amount, transactions_page
from gpuproxy.api.billing.guardrails import spending_view
from gpuproxy.billing.errors import InvalidBillingInput
from gpuproxy.billing.payments import PaymentRequest, parse_preferred
from gpuproxy.billing.payments.preferred import resolve_provider
from gpuproxy.grpc_api import gpuproxy_pb2 as pb
from gpuproxy.grpc_api._handlers import RpcBase, unary
from gpuproxy.grpc_api.auth import authorize
from gpuproxy.grpc_api.convert import window_message

__all__ = ["BillingRpcs"]

_MAX_IDEMPOTENCY_KEY = 200


def _amount(dollars: float, micros: int, field: str, *, allow_zero: bool = False) -> int:
    """The exact `<field>_micros` when set, else the seed's double `<field>` read by its
    shortest repr (12.5 is 12.5, not its binary neighbour); a bad value names the field."""
    if micros:
        if not 0 < micros <= 10**15:
            raise InvalidBillingInput(
                f"{field}_micros: expected 1 to 10^15 micro-dollars", param=f"{field}_micros"
            )
        return micros
    return parse_amount(repr(dollars), field, allow_zero=allow_zero)


class BillingRpcs(RpcBase):
    @unary
    async def CreatePayment(
        self, request: pb.CreatePaymentRequest, context: Any
    ) -> pb.CreatePaymentResponse:
        principal = await authorize(self.services, context, scope="billing")
        # Parsed first: a raw card number is refused before anything else reads the request,
        # and never echoed, stored or logged (as on POST /api/v1/billing/payment).
        preferred = parse_preferred(request.payment_method or None, param="payment_method")
        amount = _amount(request.amount, request.amount_micros, "amount")
        key = request.idempotency_key or None
        if key is not None and len(key) > _MAX_IDEMPOTENCY_KEY:
            raise InvalidBillingInput(
                f"idempotency_key: at most {_MAX_IDEMPOTENCY_KEY} characters",
                param="idempotency_key",
            )
        billing = billing_of(self.services)
        record, extra = await billing.payments.create(
            PaymentRequest(
                user_id=principal.user_id,
                email=principal.email,
                amount_micros=amount,
                currency=request.currency or "USD",
                provider=resolve_provider(request.provider or None, None, preferred),
                preferred=preferred,
                idempotency_key=key,
            )
        )
        details = {
            k: str(v)
            for k, v in {**record.to_api(), **extra}.items()
            if v is not None and not isinstance(v, dict | list)
        }
        return pb.CreatePaymentResponse(
            payment_id=record.id,
            status=record.status,
            provider=record.provider,
            amount_micros=record.amount_micros,
            currency=record.currency,
            details=details,
        )

    @unary
    async def GetTransactions(
        self, request: pb.GetTransactionsRequest, context: Any
    ) -> pb.GetTransactionsResponse:
        principal = await authorize(self.services, context, scope="billing")
        size, start = page(request.limit or None, request.offset)
        view = await transactions_page(billing_of(self.services), principal.user_id, size, start)
        return pb.GetTransactionsResponse(
            transactions=[
                pb.Transaction(
                    id=t["id"],
                    type=t["type"],
                    amount=t["amount_micros"] / 1_000_000,
                    amount_micros=t["amount_micros"],
                    currency=t["currency"] or "",
                    status=t["status"] or "",
                    provider=t["provider"] or "",
                    description=t["description"] or "",
                    created_at=t["created_at"],
                )
                for t in view["transactions"]
            ],
            total=view["total"],
            limit=size,
            offset=start,
        )

    @unary
    async def GetSpendingInfo(
        self, request: pb.GetSpendingInfoRequest, context: Any
    ) -> pb.GetSpendingInfoResponse:
        principal = await authorize(self.services, context, scope="billing")
        view = await spending_view(billing_of(self.services), principal.user_id)
        day = view["total_spent_24h_micros"]
        return pb.GetSpendingInfoResponse(
            windows=[
                window_message(w["window"], w["spent_micros"], w["limit_micros"], w["exceeded"])
                for w in view["windows"]
            ],
            guard_rails_enabled=view["guard_rails_enabled"],
            total_spent_24h=day / 1_000_000,
            total_spent_24h_micros=day,
        )

    @unary
    async def CheckSpendingLimit(
        self, request: pb.CheckSpendingLimitRequest, context: Any
    ) -> pb.CheckSpendingLimitResponse:
        principal = await authorize(self.services, context, scope="billing")
        billing = billing_of(self.services)
        amount = _amount(request.amount, request.amount_micros, "amount", allow_zero=True)
        violations = await billing.guard.check(principal.user_id, amount)
        reason = ""
        if violations:
            reason = "would exceed the limit of " + ", ".join(v.window for v in violations)
        return pb.CheckSpendingLimitResponse(
            allowed=not violations,
            reason=reason,
            would_exceed=[window_message(v.window, v.spent, v.limit, True) for v in violations],
        )

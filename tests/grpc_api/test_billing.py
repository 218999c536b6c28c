"""Billing and guard-rail RPCs over the billing service: payments (AfterDark fake),
the ledger, spending windows, the dry-run check; money exact in micro-dollars."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from tests.fakes.afterdark import FakeAfterDark

from gpuproxy.grpc_api import gpuproxy_pb2 as pb

from .support import GrpcGateway, bearer


@pytest.fixture
async def afterdark() -> AsyncIterator[FakeAfterDark]:
    async with FakeAfterDark() as fake:
        yield fake


@pytest.fixture
def grpc_env(afterdark: FakeAfterDark) -> dict[str, str]:
    return {
        "AFTERDARK_API_KEY": afterdark.api_key,
        "AFTERDARK_API_URL": afterdark.base_url,
        "NEW_USER_CREDIT_USD": "5",
        "GUARDRAILS_ENABLED": "true",
        "GUARDRAILS_MAX_5MIN_RATE": "1.000000",
    }


async def test_payment_is_idempotent_and_refuses_raw_cards(grpc_gateway: GrpcGateway) -> None:
    stub = grpc_gateway.stub
    user = bearer((await grpc_gateway.http.user()).key)
    request = pb.CreatePaymentRequest(
        amount=12.5, currency="USD", provider="afterdark", idempotency_key="order-1"
    )
    first = await stub.CreatePayment(request, metadata=user, timeout=10)
    assert (first.provider, first.amount_micros, first.currency) == ("afterdark", 12_500_000, "USD")
    assert first.status
    assert first.payment_id
    again = await stub.CreatePayment(request, metadata=user, timeout=10)
    assert again.payment_id == first.payment_id
    card = pb.CreatePaymentRequest(
        amount=10, provider="stripe", payment_method="card:4242424242424242:12/30:123"
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.CreatePayment(card, metadata=user, timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "4242" not in (refused.value.details() or "")
    for bad, field in ((pb.CreatePaymentRequest(amount=0.0000001), "amount"),
                       (pb.CreatePaymentRequest(amount=-5), "amount")):  # fmt: skip
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await stub.CreatePayment(bad, metadata=user, timeout=10)
        assert invalid.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in (invalid.value.details() or "")


async def test_transactions_spending_and_check(grpc_gateway: GrpcGateway) -> None:
    stub = grpc_gateway.stub
    http = grpc_gateway.http
    accounts = http.services.accounts
    assert accounts is not None
    email = "grpc-billing@example.com"
    # Self-registration (like POST /auth/register) gets the starting credit.
    await accounts.register(email=email, password="correct horse battery")
    login = await stub.Login(pb.LoginRequest(email=email, password="correct horse battery"))
    user = bearer(login.token)
    page = await stub.GetTransactions(pb.GetTransactionsRequest(limit=10), metadata=user)
    assert page.total == 1
    assert page.limit == 10
    assert page.transactions[0].amount_micros == 5_000_000
    assert page.transactions[0].amount == 5.0

    spending = await stub.GetSpendingInfo(pb.GetSpendingInfoRequest(), metadata=user)
    assert spending.guard_rails_enabled
    windows = {w.window: w for w in spending.windows}
    assert len(windows) == 17
    assert windows["5min"].has_limit
    assert windows["5min"].limit_micros == 1_000_000
    assert windows["5min"].spent_micros == 0
    assert not windows["5min"].exceeded

    fits = await stub.CheckSpendingLimit(pb.CheckSpendingLimitRequest(amount=0.5), metadata=user)
    assert fits.allowed
    assert not fits.would_exceed
    over = await stub.CheckSpendingLimit(
        pb.CheckSpendingLimitRequest(amount_micros=1_500_000), metadata=user
    )
    assert not over.allowed
    assert "5min" in over.reason
    assert "5min" in {w.window for w in over.would_exceed}

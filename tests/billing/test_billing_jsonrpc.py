"""The JSON-RPC client against the fake node: back-off on the rate limits real endpoints
send, the answers the contract allows, and the fake refusing what a node refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.fakes.jsonrpc_chain import FakeChain
from tests.fakes.jsonrpc_contract import JSONRPC

from gpuproxy.billing.errors import PaymentProviderBusy, PaymentProviderError
from gpuproxy.billing.payments.jsonrpc import JsonRpcClient


@pytest.fixture
async def chain() -> AsyncIterator[FakeChain]:
    async with FakeChain() as fake:
        yield fake


@pytest.fixture
async def slept() -> list[float]:
    return []


@pytest.fixture
async def rpc(chain: FakeChain, slept: list[float]) -> AsyncIterator[JsonRpcClient]:
    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    client = JsonRpcClient(chain.url, sleep=sleep)
    yield client
    await client.aclose()


async def test_infura_backoff_seconds_and_retry_after_are_honoured(
    chain: FakeChain, rpc: JsonRpcClient, slept: list[float]
) -> None:
    chain.rate_limit(style="infura", backoff_seconds=1.5)
    chain.rate_limit(style="alchemy", retry_after=2)
    assert await rpc.call("eth_blockNumber", []) == hex(chain.height)
    assert len(slept) == 2
    assert slept[0] >= 1.5
    assert slept[1] >= 2


async def test_a_limit_that_outlasts_the_attempts_is_busy(
    chain: FakeChain, rpc: JsonRpcClient, slept: list[float]
) -> None:
    chain.rate_limit(10)
    with pytest.raises(PaymentProviderBusy) as busy:
        await rpc.call("eth_blockNumber", [])
    assert busy.value.http_status == 503
    assert len(slept) == 3  # four attempts
    assert slept == sorted(slept)  # exponential
    assert int(busy.value.headers()["Retry-After"]) >= 1


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [
        ("eth_chainId", [], "does not exist/is not available"),
        ("eth_getTransactionReceipt", ["0x1234"], "hex string has length 4, want 64"),
        ("eth_getTransactionReceipt", ["ab" * 32], "without 0x prefix"),
        ("eth_blockNumber", ["latest"], "too many arguments"),
    ],
)
async def test_the_fake_refuses_what_a_node_refuses(
    chain: FakeChain, rpc: JsonRpcClient, method: str, params: list[object], message: str
) -> None:
    with pytest.raises(PaymentProviderError) as refused:
        await rpc.call(method, params)
    assert message in refused.value.message
    unknown = JSONRPC.unknown(chain.rpc_requests)
    assert unknown == (["RPC eth_chainId"] if method == "eth_chainId" else [])

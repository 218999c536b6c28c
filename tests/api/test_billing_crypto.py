"""Crypto payments: a stablecoin transfer checked on a (fake) EVM JSON-RPC node."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from tests.billing.support import BILLING_ENV, BillingApp, billing_app
from tests.fakes.jsonrpc_chain import FakeChain
from tests.fakes.jsonrpc_contract import JSONRPC

from gpuproxy.config import Settings

TOKEN = "0x" + "a0" * 20
RECEIVER = "0x" + "5e" * 20
WALLET = "0x" + "c1" * 20
OTHER_WALLET = "0x" + "d2" * 20
PAY = "/api/v1/billing/payment"


@pytest.fixture
def chain() -> Iterator[FakeChain]:
    with FakeChain().in_thread() as fake:
        yield fake


@pytest.fixture
async def bapp(
    make_settings: Callable[..., Settings], chain: FakeChain
) -> AsyncIterator[BillingApp]:
    settings = make_settings(
        **BILLING_ENV,
        CRYPTO_ENABLED="true",
        CRYPTO_RPC_URL=chain.url,
        CRYPTO_RECEIVING_ADDRESS=RECEIVER,
        CRYPTO_TOKEN_ADDRESS=TOKEN,
        CRYPTO_CONFIRMATIONS="3",
    )
    async with billing_app(settings) as app:
        yield app


async def request_payment(
    app: BillingApp, headers: dict[str, str], wallet: str = WALLET
) -> dict[str, Any]:
    response = await app.client.post(
        PAY,
        json={"amount": 50.00, "currency": "USD", "provider": "crypto"},
        headers={
            **headers,
            "X-Billing": "Crypto",
            "X-Preferred-Payment": f"crypto:ethereum:{wallet}",
        },
    )
    assert response.status_code == 201, response.text
    payment: dict[str, Any] = response.json()["payment"]
    return payment


async def test_transfer_is_credited_once_after_enough_confirmations(
    bapp: BillingApp, chain: FakeChain
) -> None:
    user = await bapp.user()
    payment = await request_payment(bapp, user.headers)
    assert payment["pay_to"] == RECEIVER
    assert payment["token"] == TOKEN
    assert payment["from_wallet"] == WALLET
    units = int(payment["amount_units"])
    assert 50_000_000 < units < 50_010_000  # 50 USD plus a tag under one cent
    assert payment["amount_micros"] == units  # 6 decimals: a unit is a micro-dollar
    url = f"/api/v1/billing/payments/{payment['id']}/crypto"

    pending_tx = chain.transfer_erc20(TOKEN, WALLET, RECEIVER, units, mined=False)
    waiting = await bapp.client.post(url, json={"tx_hash": pending_tx}, headers=user.headers)
    assert waiting.status_code == 202
    assert waiting.json()["verification"]["reason"] == "transaction not mined yet"
    chain.include(pending_tx)
    early = await bapp.client.post(url, json={"tx_hash": pending_tx}, headers=user.headers)
    assert early.status_code == 202
    assert early.json()["verification"]["confirmations"] == 1
    chain.mine(2)
    credited = await bapp.client.post(url, json={"tx_hash": pending_tx}, headers=user.headers)
    assert credited.status_code == 200, credited.text
    assert credited.json()["payment"]["status"] == "succeeded"
    again = await bapp.client.post(url, json={"tx_hash": pending_tx}, headers=user.headers)
    assert again.status_code == 200
    view = await bapp.client.get("/api/v1/billing/credits", headers=user.headers)
    assert view.json()["credits_remaining_micros"] == units
    rows = bapp.call(
        bapp.billing.db.fetch,
        "SELECT idempotency_key FROM ledger_entries WHERE user_id = $1",
        user.user_id,
    )
    assert [r["idempotency_key"] for r in rows] == [f"crypto:ethereum:{pending_tx}"]


async def test_transfers_that_do_not_match_are_refused(bapp: BillingApp, chain: FakeChain) -> None:
    user = await bapp.user()
    payment = await request_payment(bapp, user.headers)
    units = int(payment["amount_units"])
    url = f"/api/v1/billing/payments/{payment['id']}/crypto"
    cases = {
        "not sent from the wallet": chain.transfer_erc20(TOKEN, OTHER_WALLET, RECEIVER, units),
        "this payment needs": chain.transfer_erc20(TOKEN, WALLET, RECEIVER, units - 1),
        "no token transfer to the receiving address": chain.transfer_erc20(
            TOKEN, WALLET, OTHER_WALLET, units
        ),
        "does not call the accepted token": chain.transfer_erc20(
            "0x" + "ee" * 20, WALLET, RECEIVER, units
        ),
        "failed on chain": chain.transfer_erc20(TOKEN, WALLET, RECEIVER, units, succeeded=False),
    }
    chain.mine(5)
    for reason, tx in cases.items():
        response = await bapp.client.post(url, json={"tx_hash": tx}, headers=user.headers)
        assert response.status_code == 400, (reason, response.text)
        assert reason in response.json()["error"]["message"]
        assert response.json()["error"]["param"] == "tx_hash"
    bad = await bapp.client.post(url, json={"tx_hash": "0x1234"}, headers=user.headers)
    assert bad.status_code == 400
    view = await bapp.client.get("/api/v1/billing/credits", headers=user.headers)
    assert view.json()["credits_total"] == "0.000000"


async def test_one_transaction_pays_one_payment_of_one_user(
    bapp: BillingApp, chain: FakeChain
) -> None:
    owner, thief = await bapp.user("owner"), await bapp.user("thief")
    mine = await request_payment(bapp, owner.headers)
    theirs = await request_payment(bapp, thief.headers)  # same wallet claimed
    assert theirs["amount_units"] != mine["amount_units"]  # tagged amounts differ
    tx = chain.transfer_erc20(TOKEN, WALLET, RECEIVER, int(mine["amount_units"]))
    chain.mine(3)
    stolen = await bapp.client.post(
        f"/api/v1/billing/payments/{theirs['id']}/crypto",
        json={"tx_hash": tx},
        headers=thief.headers,
    )
    assert stolen.status_code == 400  # the amount tag does not match their request
    other_users = await bapp.client.post(
        f"/api/v1/billing/payments/{mine['id']}/crypto", json={"tx_hash": tx}, headers=thief.headers
    )
    assert other_users.status_code == 404
    paid = await bapp.client.post(
        f"/api/v1/billing/payments/{mine['id']}/crypto", json={"tx_hash": tx}, headers=owner.headers
    )
    assert paid.status_code == 200
    second = await request_payment(bapp, owner.headers)
    reused = await bapp.client.post(
        f"/api/v1/billing/payments/{second['id']}/crypto",
        json={"tx_hash": tx},
        headers=owner.headers,
    )
    assert reused.status_code == 409


async def test_crypto_needs_a_configured_network_and_wallet(
    make_settings: Callable[..., Settings], bapp: BillingApp
) -> None:
    user = await bapp.user()
    wrong_network = await bapp.client.post(
        PAY,
        json={"amount": 5},
        headers={**user.headers, "X-Preferred-Payment": f"crypto:polygon:{WALLET}"},
    )
    assert wrong_network.status_code == 400
    assert wrong_network.json()["error"]["param"] == "X-Preferred-Payment"
    no_wallet = await bapp.client.post(
        PAY, json={"amount": 5, "provider": "crypto"}, headers=user.headers
    )
    assert no_wallet.status_code == 400
    async with billing_app(make_settings(**BILLING_ENV)) as plain:
        other = await plain.user()
        off = await plain.client.post(
            PAY,
            json={"amount": 5},
            headers={**other.headers, "X-Preferred-Payment": f"crypto:ethereum:{WALLET}"},
        )
        assert off.status_code == 404  # permanent here: not a retryable 503
        assert off.json()["error"]["code"] == "provider_not_configured"


async def submit(app: BillingApp, headers: dict[str, str], payment_id: str, tx: str) -> Any:
    return await app.client.post(
        f"/api/v1/billing/payments/{payment_id}/crypto", json={"tx_hash": tx}, headers=headers
    )


async def test_a_contract_wallet_payment_is_credited_by_its_transfer_log(
    bapp: BillingApp, chain: FakeChain
) -> None:
    safe, owner = "0x" + "5a" * 20, "0x" + "0e" * 20
    user = await bapp.user()
    payment = await request_payment(bapp, user.headers, wallet=safe)
    tx = chain.transfer_from_contract_wallet(
        TOKEN, safe, owner, RECEIVER, int(payment["amount_units"])
    )
    assert chain.txs[tx]["from"] == owner  # neither from nor to is the wallet or the token
    assert chain.txs[tx]["to"] == safe
    chain.mine(3)
    credited = await submit(bapp, user.headers, payment["id"], tx)
    assert credited.status_code == 200, credited.text
    assert credited.json()["payment"]["status"] == "succeeded"


async def test_a_batched_transfer_pays_by_the_log_that_matches(
    bapp: BillingApp, chain: FakeChain
) -> None:
    user = await bapp.user()
    payment = await request_payment(bapp, user.headers)
    units = int(payment["amount_units"])
    # One multisend pays another invoice to the same address first, then this one.
    tx = chain.batch_transfer(
        TOKEN, WALLET, [(OTHER_WALLET, 7), (RECEIVER, 1_000), (RECEIVER, units)]
    )
    chain.mine(3)
    credited = await submit(bapp, user.headers, payment["id"], tx)
    assert credited.status_code == 200, credited.text
    short = await request_payment(bapp, user.headers)
    wrong = chain.batch_transfer(TOKEN, WALLET, [(RECEIVER, 5), (RECEIVER, 6)])
    chain.mine(3)
    refused = await submit(bapp, user.headers, short["id"], wrong)
    assert refused.status_code == 400
    assert "the transfer is 5, 6 units" in refused.json()["error"]["message"]


async def test_a_string_error_from_a_gateway_is_a_502_not_a_crash(
    bapp: BillingApp, chain: FakeChain
) -> None:
    user = await bapp.user()
    payment = await request_payment(bapp, user.headers)
    tx = chain.transfer_erc20(TOKEN, WALLET, RECEIVER, int(payment["amount_units"]))
    chain.gateway_error("upstream node unavailable")
    response = await submit(bapp, user.headers, payment["id"], tx)
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "rpc_error"
    assert "upstream node unavailable" in response.json()["error"]["message"]


async def test_rate_limits_are_retried_and_a_long_one_is_a_503_with_retry_after(
    bapp: BillingApp, chain: FakeChain
) -> None:
    user = await bapp.user()
    payment = await request_payment(bapp, user.headers)
    tx = chain.transfer_erc20(TOKEN, WALLET, RECEIVER, int(payment["amount_units"]))
    chain.mine(3)
    chain.rate_limit(style="alchemy", retry_after=30)  # longer than a request should wait
    busy = await submit(bapp, user.headers, payment["id"], tx)
    assert busy.status_code == 503, busy.text
    assert busy.json()["error"]["code"] == "rpc_rate_limited"
    assert busy.headers["Retry-After"] == "30"
    chain.rate_limit(2, style="infura")  # short: backed off and retried within the request
    chain.rate_limit(style="alchemy")
    credited = await submit(bapp, user.headers, payment["id"], tx)
    assert credited.status_code == 200, credited.text
    assert credited.json()["payment"]["status"] == "succeeded"


async def test_every_call_the_product_makes_is_in_the_jsonrpc_contract(
    bapp: BillingApp, chain: FakeChain
) -> None:
    user = await bapp.user()
    payment = await request_payment(bapp, user.headers)
    tx = chain.transfer_erc20(TOKEN, WALLET, RECEIVER, int(payment["amount_units"]), mined=False)
    assert (await submit(bapp, user.headers, payment["id"], tx)).status_code == 202
    chain.include(tx)
    chain.mine(3)
    assert (await submit(bapp, user.headers, payment["id"], tx)).status_code == 200
    assert set(chain.calls) == {
        "eth_getTransactionReceipt",
        "eth_getTransactionByHash",
        "eth_blockNumber",
    }
    assert JSONRPC.unknown(chain.rpc_requests) == []
    for request in chain.rpc_requests:
        endpoint = JSONRPC.endpoint(request.method, request.path)
        assert endpoint is not None
        assert endpoint.problems(request) == [], request.path

"""AfterDark: hosted checkout plus a signed callback, credited once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from tests.billing.support import BILLING_ENV, BillingApp, billing_app
from tests.fakes.afterdark import FakeAfterDark

from gpuproxy.config import Settings

SECRET = "ad_whsec_0123456789"
HOOK = "/api/v1/billing/webhooks/afterdark"


@pytest.fixture
def afterdark() -> Iterator[FakeAfterDark]:
    with FakeAfterDark().in_thread() as fake:
        yield fake


@pytest.fixture
async def bapp(
    make_settings: Callable[..., Settings], afterdark: FakeAfterDark
) -> AsyncIterator[BillingApp]:
    settings = make_settings(
        **BILLING_ENV,
        AFTERDARK_API_URL=afterdark.base_url,
        AFTERDARK_API_KEY=afterdark.api_key,
        AFTERDARK_WEBHOOK_SECRET=SECRET,
        PUBLIC_URL="https://proxy.example.com",
    )
    async with billing_app(settings) as app:
        yield app


async def test_checkout_and_signed_callback_credit_once(
    bapp: BillingApp, afterdark: FakeAfterDark
) -> None:
    user = await bapp.user()
    created = await bapp.client.post(
        "/api/v1/billing/payment",
        json={"amount": "12.34", "currency": "USD"},
        headers={**user.headers, "X-Billing": "AfterDark", "Idempotency-Key": "ad-1"},
    )
    assert created.status_code == 201, created.text
    payment = created.json()["payment"]
    assert payment["status"] == "pending"
    [checkout] = afterdark.checkouts.values()
    assert payment["checkout_url"] == checkout["url"]
    assert checkout["amount"] == 1234
    assert checkout["reference"] == payment["id"]
    assert checkout["callback_url"] == "https://proxy.example.com" + HOOK
    replay = await bapp.client.post(
        "/api/v1/billing/payment",
        json={"amount": "12.34", "currency": "USD"},
        headers={**user.headers, "X-Billing": "AfterDark", "Idempotency-Key": "ad-1"},
    )
    assert replay.json()["payment"]["id"] == payment["id"]
    assert len(afterdark.checkouts) == 1

    body, signature = afterdark.callback(checkout["id"], SECRET)
    for _ in range(3):  # AfterDark retries: one credit
        response = await bapp.client.post(
            HOOK, content=body, headers={"AfterDark-Signature": signature}
        )
        assert response.status_code == 200, response.text
    view = await bapp.client.get("/api/v1/billing/credits", headers=user.headers)
    assert view.json()["credits_remaining"] == "12.340000"
    status = await bapp.client.get(
        f"/api/v1/billing/payments/{payment['id']}", headers=user.headers
    )
    assert status.json()["payment"]["status"] == "succeeded"


async def test_bad_or_stale_signatures_and_other_amounts_credit_nothing(
    bapp: BillingApp, afterdark: FakeAfterDark
) -> None:
    user = await bapp.user()
    created = await bapp.client.post(
        "/api/v1/billing/payment",
        json={"amount": 20},
        headers={**user.headers, "X-Billing": "afterdark"},
    )
    assert created.status_code == 201
    [checkout] = afterdark.checkouts.values()
    body, _ = afterdark.callback(checkout["id"], SECRET)
    for signature in (
        afterdark.callback(checkout["id"], "wrong-secret")[1],
        afterdark.callback(checkout["id"], SECRET, timestamp=int(time.time()) - 3600)[1],
        "t=1,v1=00",
        "",
    ):
        response = await bapp.client.post(
            HOOK, content=body, headers={"AfterDark-Signature": signature}
        )
        assert response.status_code == 400
        assert response.json()["error"]["param"] == "AfterDark-Signature"
    cheaper, signature = afterdark.callback(checkout["id"], SECRET, amount=1)
    response = await bapp.client.post(
        HOOK, content=cheaper, headers={"AfterDark-Signature": signature}
    )
    assert response.status_code == 200
    assert response.json()["handled"] is False
    view = await bapp.client.get("/api/v1/billing/credits", headers=user.headers)
    assert view.json()["credits_total"] == "0.000000"

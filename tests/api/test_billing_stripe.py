"""Stripe payments through the real stripe SDK against the fake Stripe API, and webhooks
signed the way Stripe signs them."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from tests.billing.support import BILLING_ENV, CARD, BillingApp, billing_app, dump_database
from tests.fakes.stripe_api import FakeStripe, stripe_signature

from gpuproxy.config import Settings

WEBHOOK_SECRET = "whsec_test_0123456789abcdef"
PAY = "/api/v1/billing/payment"
HOOK = "/api/v1/billing/webhooks/stripe"


@pytest.fixture
def stripe_fake() -> Iterator[FakeStripe]:
    with FakeStripe().in_thread() as fake:
        yield fake


@pytest.fixture
async def bapp(
    make_settings: Callable[..., Settings], stripe_fake: FakeStripe
) -> AsyncIterator[BillingApp]:
    settings = make_settings(
        **BILLING_ENV,
        STRIPE_SECRET_KEY=stripe_fake.api_key,
        STRIPE_API_BASE=stripe_fake.base_url,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        PUBLIC_URL="https://proxy.example.com",
    )
    async with billing_app(settings) as app:
        yield app


def card(pm: str, **extra: str) -> dict[str, str]:
    return {"X-Billing": "Stripe", "X-Preferred-Payment": f"card:{pm}", **extra}


async def credits(app: BillingApp, headers: dict[str, str]) -> dict[str, Any]:
    response = await app.client.get("/api/v1/billing/credits", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def deliver(app: BillingApp, event: dict[str, Any], secret: str = WEBHOOK_SECRET) -> Any:
    payload = json.dumps(event).encode()
    return await app.client.post(
        HOOK,
        content=payload,
        headers={"Stripe-Signature": stripe_signature(payload, secret)},
    )


async def test_saved_card_pays_credits_and_replays_without_charging_again(
    bapp: BillingApp, stripe_fake: FakeStripe
) -> None:
    user = await bapp.user()
    headers = {**user.headers, **card("pm_card_visa", **{"Idempotency-Key": "order-1"})}
    body = {"amount": 50.00, "currency": "USD", "provider": "stripe"}
    first = await bapp.client.post(PAY, json=body, headers=headers)
    assert first.status_code == 201, first.text
    payment = first.json()["payment"]
    assert payment["status"] == "succeeded"
    assert payment["credited"] is True
    assert payment["amount"] == "50.000000"
    again = await bapp.client.post(PAY, json=body, headers=headers)
    assert again.status_code == 201
    assert again.json()["payment"]["id"] == payment["id"]
    assert len(stripe_fake.intents) == 1  # the replay never reached Stripe again
    [intent] = stripe_fake.intents.values()
    assert intent["amount"] == 5000
    assert intent["metadata"] == {"payment_id": payment["id"], "user_id": user.user_id}
    view = await credits(bapp, user.headers)
    assert view["credits_remaining"] == "50.000000"
    assert view["credits_total"] == "50.000000"
    assert view["payment_method"] == "card:pm_card_visa"
    # Stripe's own webhook for the same payment changes nothing.
    succeeded = [e for e in stripe_fake.events if e["type"] == "payment_intent.succeeded"]
    response = await deliver(bapp, succeeded[0])
    assert response.status_code == 200
    assert response.json()["handled"] is True
    assert (await credits(bapp, user.headers))["credits_remaining"] == "50.000000"
    listed = await bapp.client.get("/api/v1/billing/transactions", headers=user.headers)
    assert listed.json()["total"] == 1
    assert listed.json()["transactions"][0]["type"] == "topup"


async def test_declined_card_is_402_and_credits_nothing(bapp: BillingApp) -> None:
    user = await bapp.user()
    response = await bapp.client.post(
        PAY,
        json={"amount": "20.00"},
        headers={**user.headers, **card("pm_card_chargeDeclined")},
    )
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "card_declined"
    assert "declined" in response.json()["error"]["message"]
    assert (await credits(bapp, user.headers))["credits_total"] == "0.000000"
    listed = await bapp.client.get("/api/v1/billing/payments", headers=user.headers)
    assert listed.json()["payments"][0]["status"] == "failed"


async def test_card_needing_authentication_returns_the_client_secret(bapp: BillingApp) -> None:
    user = await bapp.user()
    response = await bapp.client.post(
        PAY, json={"amount": 10}, headers={**user.headers, **card("pm_card_authenticationRequired")}
    )
    assert response.status_code == 201
    assert response.json()["payment"]["status"] == "requires_action"
    assert response.json()["client_secret"].startswith("pi_")
    assert (await credits(bapp, user.headers))["credits_total"] == "0.000000"


async def test_raw_card_numbers_are_refused_and_never_stored_logged_or_forwarded(
    bapp: BillingApp, stripe_fake: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user = await bapp.user()
    raw = f"card:{CARD}:12/25:123"
    by_header = await bapp.client.post(
        PAY,
        json={"amount": 50, "provider": "stripe"},
        headers={**user.headers, "X-Preferred-Payment": raw, "X-Billing": "Stripe"},
    )
    by_body = await bapp.client.post(
        PAY, json={"amount": 50, "provider": "stripe", "payment_method": raw}, headers=user.headers
    )
    bare = await bapp.client.post(
        PAY, json={"amount": 50}, headers={**user.headers, "X-Preferred-Payment": CARD}
    )
    for response, param in (
        (by_header, "X-Preferred-Payment"),
        (by_body, "payment_method"),
        (bare, "X-Preferred-Payment"),
    ):
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "raw_card_refused"
        assert error["param"] == param
        assert "pm_" in error["message"]
        assert CARD not in response.text
    bapp.call(bapp.billing.writer.flush)
    assert CARD not in caplog.text
    assert CARD not in bapp.call(dump_database, bapp.billing.db)
    assert not any(CARD.encode() in body for body in stripe_fake.bodies)
    assert stripe_fake.intents == {}


async def test_checkout_is_credited_once_whatever_the_event_order_and_retries(
    bapp: BillingApp, stripe_fake: FakeStripe
) -> None:
    user = await bapp.user()
    created = await bapp.client.post(
        PAY, json={"amount": "25.50", "provider": "stripe"}, headers=user.headers
    )
    assert created.status_code == 201, created.text
    payment = created.json()["payment"]
    assert payment["status"] == "pending"
    assert payment["checkout_url"].startswith("https://checkout.stripe.com/")
    [session] = stripe_fake.sessions.values()
    assert session["amount_total"] == 2550
    assert session["success_url"] == "https://proxy.example.com/billing/success"
    events = stripe_fake.pay_checkout(session["id"])
    assert [e["type"] for e in events] == [
        "charge.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]
    for event in [*reversed(events), *events, events[-1]]:
        response = await deliver(bapp, event)
        assert response.status_code == 200, response.text
    assert (await credits(bapp, user.headers))["credits_remaining"] == "25.500000"
    status = await bapp.client.get(
        f"/api/v1/billing/payments/{payment['id']}", headers=user.headers
    )
    assert status.json()["payment"]["status"] == "succeeded"
    rows = bapp.call(
        bapp.billing.db.fetch, "SELECT * FROM ledger_entries WHERE user_id = $1", user.user_id
    )
    assert len(rows) == 1
    assert rows[0]["external_id"] == session["payment_intent"]


async def test_bad_signatures_are_400_and_credit_nothing(
    bapp: BillingApp, stripe_fake: FakeStripe
) -> None:
    user = await bapp.user()
    created = await bapp.client.post(
        PAY, json={"amount": 30}, headers={**user.headers, "X-Billing": "Stripe"}
    )
    assert created.status_code == 201, created.text
    [session] = stripe_fake.sessions.values()
    completed = stripe_fake.pay_checkout(session["id"])[-1]
    payload = json.dumps(completed).encode()
    tampered = payload.replace(b"3000", b"9000")
    attempts = [
        {"Stripe-Signature": stripe_signature(payload, "whsec_wrong")},
        {"Stripe-Signature": stripe_signature(tampered, WEBHOOK_SECRET)[:-2] + "00"},
        {"Stripe-Signature": stripe_signature(payload, WEBHOOK_SECRET, timestamp=1_000)},
        {},
    ]
    for headers in attempts:
        response = await bapp.client.post(HOOK, content=payload, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["param"] == "Stripe-Signature"
    forged = await bapp.client.post(
        HOOK,
        content=tampered,
        headers={"Stripe-Signature": stripe_signature(payload, WEBHOOK_SECRET)},
    )
    assert forged.status_code == 400
    assert (await credits(bapp, user.headers))["credits_total"] == "0.000000"
    assert created.json()["payment"]["status"] == "pending"


async def test_refund_events_debit_each_refunded_cent_once(
    bapp: BillingApp, stripe_fake: FakeStripe
) -> None:
    user = await bapp.user()
    paid = await bapp.client.post(
        PAY, json={"amount": 40}, headers={**user.headers, **card("pm_card_visa")}
    )
    assert paid.status_code == 201
    [intent] = stripe_fake.intents.values()
    partial = stripe_fake.refund(intent["id"], 1000)
    full = stripe_fake.refund(intent["id"], 3000)
    for event in (full, partial, partial, full):  # reordered and retried
        assert (await deliver(bapp, event)).status_code == 200
    # Delivered again, all at once, with the refund.created events Stripe also sends.
    created = [e for e in stripe_fake.events if e["type"] == "refund.created"]
    answers = await asyncio.gather(*(deliver(bapp, e) for e in (full, partial, *created)))
    assert [a.status_code for a in answers] == [200] * 4
    assert all(a.json()["handled"] for a in answers)
    view = await credits(bapp, user.headers)
    assert view["credits_remaining"] == "0.000000"
    refunds = bapp.call(
        bapp.billing.db.fetch,
        "SELECT amount_micros FROM ledger_entries WHERE user_id = $1 AND type = 'refund'",
        user.user_id,
    )
    assert sorted(int(r["amount_micros"]) for r in refunds) == [-30_000_000, -10_000_000]


async def test_payment_input_errors_name_the_field(bapp: BillingApp) -> None:
    user = await bapp.user()
    cases = [
        ({"amount": "abc"}, {}, "amount"),
        ({"amount": -5}, {}, "amount"),
        ({"amount": "1.234", "provider": "stripe"}, {}, "amount"),  # whole cents only
        ({"amount": "0.10", "provider": "stripe"}, {}, "amount"),  # Stripe's minimum 0.50
        ({"amount": 10, "currency": "EUR", "provider": "stripe"}, {}, "currency"),
        ({"amount": 10}, {}, "provider"),
        ({"amount": 10, "provider": "paypal"}, {}, "provider"),
        ({"amount": 10, "provider": "crypto"}, {"X-Billing": "Stripe"}, "X-Billing"),
        ({"amount": 10}, {"X-Preferred-Payment": "card:tok_visa"}, "X-Preferred-Payment"),
    ]
    for body, extra, param in cases:
        response = await bapp.client.post(PAY, json=body, headers={**user.headers, **extra})
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["param"] == param, (body, response.text)
    anonymous = await bapp.client.post(PAY, json={"amount": 10})
    assert anonymous.status_code == 401
    no_scope = await bapp.api_key(user, ["inference"])
    assert (await bapp.client.post(PAY, json={"amount": 10}, headers=no_scope)).status_code == 403


async def test_a_delayed_payment_that_fails_marks_the_payment_failed_and_credits_nothing(
    bapp: BillingApp, stripe_fake: FakeStripe
) -> None:
    user = await bapp.user()
    created = await bapp.client.post(
        PAY, json={"amount": 12, "provider": "stripe"}, headers=user.headers
    )
    assert created.status_code == 201, created.text
    [session] = stripe_fake.sessions.values()
    completed, failed = stripe_fake.pay_checkout_later(session["id"], succeeds=False)
    assert failed["type"] == "checkout.session.async_payment_failed"
    for event in (completed, failed, completed):
        assert (await deliver(bapp, event)).status_code == 200
    url = f"/api/v1/billing/payments/{created.json()['payment']['id']}"
    status = await bapp.client.get(url, headers=user.headers)
    assert status.json()["payment"]["status"] == "failed"
    assert (await credits(bapp, user.headers))["credits_total"] == "0.000000"


async def test_a_lock_timeout_is_retried_by_the_sdk_and_charges_once(
    bapp: BillingApp, stripe_fake: FakeStripe
) -> None:
    user = await bapp.user()
    stripe_fake.rate_limit("/v1/payment_intents", lock_timeout=True)  # Stripe-Should-Retry
    paid = await bapp.client.post(
        PAY, json={"amount": 20}, headers={**user.headers, **card("pm_card_visa")}
    )
    assert paid.status_code == 201, paid.text
    posts = [r for r in stripe_fake.server.requests if r.path == "/v1/payment_intents"]
    assert len(posts) == 2  # the 429 and the SDK's retry, with the same Idempotency-Key
    assert len({r.headers["idempotency-key"] for r in posts}) == 1
    assert len(stripe_fake.intents) == 1
    assert (await credits(bapp, user.headers))["credits_remaining"] == "20.000000"


async def test_a_rate_limit_is_a_503_and_the_same_idempotency_key_pays_once_later(
    bapp: BillingApp, stripe_fake: FakeStripe
) -> None:
    user = await bapp.user()
    headers = {**user.headers, **card("pm_card_visa", **{"Idempotency-Key": "busy-1"})}
    stripe_fake.rate_limit("/v1/payment_intents")  # no Stripe-Should-Retry: no SDK retry
    busy = await bapp.client.post(PAY, json={"amount": 15}, headers=headers)
    assert busy.status_code == 503, busy.text
    assert busy.json()["error"]["code"] == "stripe_rate_limited"
    assert int(busy.headers["Retry-After"]) >= 1
    posts = [r for r in stripe_fake.server.requests if r.path == "/v1/payment_intents"]
    assert len(posts) == 1
    assert stripe_fake.intents == {}
    again = await bapp.client.post(PAY, json={"amount": 15}, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json()["payment"]["status"] == "succeeded"
    assert len(stripe_fake.intents) == 1
    assert (await credits(bapp, user.headers))["credits_remaining"] == "15.000000"

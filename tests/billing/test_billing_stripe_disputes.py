"""Stripe disputes (chargebacks) in the ledger, on SQLite and PostgreSQL: a dispute debits
its amount once, a won dispute credits it back once, whatever the order, retries and
concurrency of the deliveries; inquiries move nothing until they escalate."""

from __future__ import annotations

import asyncio

import pytest
from tests.fakes.stripe_api import FakeStripe

from gpuproxy.billing.payments.stripe import StripePayments
from gpuproxy.billing.service import BillingService
from gpuproxy.storage.database import Database

from .test_billing_stripe_refunds import CENT, paid_topup


@pytest.fixture
def payments(stripe_billing: BillingService) -> StripePayments:
    return stripe_billing.payments.require_stripe()


async def balance(db: Database, user: str) -> int:
    value = await db.fetchval("SELECT balance_micros FROM credit_accounts WHERE user_id = $1", user)
    return int(value)


async def dispute_keys(db: Database, user: str) -> list[str]:
    rows = await db.fetch(
        "SELECT idempotency_key FROM ledger_entries WHERE user_id = $1 AND type = 'adjustment'",
        user,
    )
    return sorted(str(r["idempotency_key"]) for r in rows)


def events_of(fake: FakeStripe, dispute_id: str) -> list[dict[str, object]]:
    return [e for e in fake.events if e["data"]["object"].get("id") == dispute_id]


async def test_a_chargeback_debits_the_disputed_amount_once(
    db: Database, payments: StripePayments, stripe_fake: FakeStripe
) -> None:
    user, intent = await paid_topup(db, payments, 3000)
    created = stripe_fake.dispute(intent)
    every = events_of(stripe_fake, created["data"]["object"]["id"])
    assert [e["type"] for e in every] == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
    ]
    handled = await asyncio.gather(*(payments.handle(e) for e in [*every, *every, created]))
    assert all(handled)
    assert await balance(db, user) == 0
    dispute_id = created["data"]["object"]["id"]
    assert await dispute_keys(db, user) == [f"stripe:dispute:{dispute_id}"]
    lost = stripe_fake.close_dispute(dispute_id, won=False)
    assert await payments.handle(lost)
    assert await balance(db, user) == 0  # a lost dispute keeps the debit


async def test_a_won_dispute_is_credited_back_once_in_any_order(
    db: Database, payments: StripePayments, stripe_fake: FakeStripe
) -> None:
    user, intent = await paid_topup(db, payments, 2000)
    dispute_id = stripe_fake.dispute(intent)["data"]["object"]["id"]
    stripe_fake.close_dispute(dispute_id, won=True)
    every = events_of(stripe_fake, dispute_id)
    assert [e["type"] for e in every][-2:] == [
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    ]
    # Newest first (the closed event before the one that opened it), retried, concurrent.
    await asyncio.gather(*(payments.handle(e) for e in [*reversed(every), *every]))
    assert await balance(db, user) == 2000 * CENT
    assert await dispute_keys(db, user) == [
        f"stripe:dispute:{dispute_id}",
        f"stripe:dispute:{dispute_id}:reinstated",
    ]


async def test_an_inquiry_moves_nothing_until_it_escalates(
    db: Database, payments: StripePayments, stripe_fake: FakeStripe
) -> None:
    user, intent = await paid_topup(db, payments, 1500)
    inquiry = stripe_fake.dispute(intent, inquiry=True)
    assert await payments.handle(inquiry)
    assert await balance(db, user) == 1500 * CENT
    escalated = stripe_fake.escalate(inquiry["data"]["object"]["id"])
    assert await payments.handle(escalated)
    assert await balance(db, user) == 0


async def test_disputes_of_charges_that_are_not_ours_are_ignored(
    db: Database, payments: StripePayments, stripe_fake: FakeStripe
) -> None:
    intent = await payments.client.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    assert not await payments.handle(stripe_fake.dispute(intent.id))
    assert await db.fetchval("SELECT COUNT(*) FROM ledger_entries") == 0

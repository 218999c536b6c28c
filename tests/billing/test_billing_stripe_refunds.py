"""Stripe refunds under concurrent webhook deliveries, on SQLite and PostgreSQL.

The deliveries run at the same time in one event loop (asyncio.gather), each with its own
database round trips, against the fake Stripe API through the real stripe SDK.
"""

from __future__ import annotations

import asyncio

import pytest
from tests.fakes.stripe_api import FakeStripe

from gpuproxy.billing.ledger import EntryType, Movement, post
from gpuproxy.billing.payments.stripe import StripePayments
from gpuproxy.billing.service import BillingService
from gpuproxy.storage.database import Database

from .support import insert_user

CENT = 10_000


@pytest.fixture
def payments(stripe_billing: BillingService) -> StripePayments:
    return stripe_billing.payments.require_stripe()


async def paid_topup(db: Database, payments: StripePayments, cents: int) -> tuple[str, str]:
    """A user and a succeeded PaymentIntent of theirs that is credited in the ledger."""
    user = await insert_user(db)
    intent = await payments.client.v1.payment_intents.create_async(
        {"amount": cents, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    await post(
        db,
        Movement(
            user_id=user,
            type=EntryType.TOPUP,
            amount_micros=cents * CENT,
            idempotency_key=f"stripe:payment:{intent.id}",
            provider="stripe",
            external_id=intent.id,
        ),
    )
    return user, intent.id


async def refunded(db: Database, user: str) -> list[int]:
    rows = await db.fetch(
        "SELECT amount_micros FROM ledger_entries WHERE user_id = $1 AND type = 'refund' "
        "ORDER BY created_at, id",
        user,
    )
    return [int(r["amount_micros"]) for r in rows]


async def test_concurrent_cumulative_refund_events_debit_each_refund_once(
    db: Database, payments: StripePayments, stripe_fake: FakeStripe
) -> None:
    user, intent = await paid_topup(db, payments, 4000)
    partial = stripe_fake.refund(intent, 1000)  # amount_refunded 1000
    full = stripe_fake.refund(intent, 3000)  # amount_refunded 4000 (cumulative)
    created = [e for e in stripe_fake.events if e["type"] == "refund.created"]
    deliveries = [full, partial, full, partial, *created]
    handled = await asyncio.gather(*(payments.handle(e) for e in deliveries))
    assert all(handled)
    assert sorted(await refunded(db, user)) == [-3000 * CENT, -1000 * CENT]
    balance = await db.fetchval(
        "SELECT balance_micros FROM credit_accounts WHERE user_id = $1", user
    )
    assert balance == 0
    keys = await db.fetch(
        "SELECT idempotency_key FROM ledger_entries WHERE user_id = $1 AND type = 'refund'", user
    )
    expected = {f"stripe:refund:{refund_id}" for refund_id in stripe_fake.refunds}
    assert {r["idempotency_key"] for r in keys} == expected


async def test_a_failed_refund_is_credited_back_once(
    db: Database, payments: StripePayments, stripe_fake: FakeStripe
) -> None:
    user, intent = await paid_topup(db, payments, 2500)
    event = stripe_fake.refund(intent, 500)
    assert await payments.handle(event)
    [refund_id] = stripe_fake.refunds
    failed = stripe_fake.fail_refund(refund_id)
    await asyncio.gather(*(payments.handle(e) for e in (failed, failed, event)))
    assert sorted(await refunded(db, user)) == [-500 * CENT, 500 * CENT]
    balance = await db.fetchval(
        "SELECT balance_micros FROM credit_accounts WHERE user_id = $1", user
    )
    assert balance == 2500 * CENT


async def test_refunds_of_charges_that_are_not_ours_are_ignored(
    db: Database, payments: StripePayments, stripe_fake: FakeStripe
) -> None:
    intent = await payments.client.v1.payment_intents.create_async(
        {"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    event = stripe_fake.refund(intent.id, 1000)  # no top-up of ours has this intent
    assert not await payments.handle(event)
    assert await db.fetchval("SELECT COUNT(*) FROM ledger_entries") == 0

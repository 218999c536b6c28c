"""Auto-renew: the saved Stripe card is charged once per threshold crossing."""

from __future__ import annotations

import pytest
from tests.fakes.stripe_api import FakeStripe

from gpuproxy.billing.credits import update_account
from gpuproxy.billing.ledger import EntryType, Movement
from gpuproxy.billing.service import BillingService
from gpuproxy.storage.database import Database

from .support import insert_user

DOLLAR = 1_000_000


@pytest.fixture
def service(stripe_billing: BillingService) -> BillingService:
    """A BillingService whose Stripe is the fake (`stripe_billing` in conftest.py)."""
    return stripe_billing


async def enroll(service: BillingService, db: Database, pm: str) -> str:
    user = await insert_user(db)
    stripe = service.payments.require_stripe()
    customer = await stripe.ensure_customer(user, f"{user}@example.com", None)
    await stripe.attach(customer, pm)
    await update_account(
        db,
        user,
        stripe_customer_id=customer,
        payment_method_id=pm,
        auto_renew=1,
        auto_renew_threshold_micros=5 * DOLLAR,
        auto_renew_amount_micros=20 * DOLLAR,
    )
    await service.post(Movement(user, EntryType.TOPUP, 10 * DOLLAR, f"seed:{user}"))
    return user


async def debit(service: BillingService, user: str, dollars: int) -> int:
    (await service.reserve(user, dollars * DOLLAR)).commit(dollars * DOLLAR)
    await service.writer.flush()
    await service.settle_background()
    return (await service.account(user)).balance_micros


def off_session_charges(fake: FakeStripe) -> list[dict[str, object]]:
    return [i for i in fake.intents.values() if i["payment_method"]]


async def test_each_crossing_charges_once(
    service: BillingService, db: Database, stripe_fake: FakeStripe
) -> None:
    user = await enroll(service, db, "pm_card_visa")
    assert await debit(service, user, 3) == 7 * DOLLAR  # still above the threshold
    assert stripe_fake.intents == {}
    assert await debit(service, user, 3) == 24 * DOLLAR  # 4 crossed below 5: +20
    assert await debit(service, user, 2) == 22 * DOLLAR
    assert len(stripe_fake.intents) == 1
    assert await debit(service, user, 18) == 24 * DOLLAR  # the next crossing: +20 again
    charges = off_session_charges(stripe_fake)
    assert len(charges) == 2
    assert {c["amount"] for c in charges} == {2000}
    kinds = await db.fetch(
        "SELECT kind FROM notifications WHERE user_id = $1 ORDER BY created_at", user
    )
    assert [k["kind"] for k in kinds] == ["billing.auto_renew", "billing.auto_renew"]


async def test_a_failed_renewal_does_not_retry_until_the_balance_recovers(
    service: BillingService, db: Database, stripe_fake: FakeStripe
) -> None:
    user = await enroll(service, db, "pm_card_chargeDeclined")
    assert await debit(service, user, 6) == 4 * DOLLAR  # crossing: the charge is declined
    assert await debit(service, user, 1) == 3 * DOLLAR  # still below: no new attempt
    assert await debit(service, user, 1) == 2 * DOLLAR
    assert len(stripe_fake.intents) == 1
    kinds = await db.fetch("SELECT kind FROM notifications WHERE user_id = $1", user)
    assert [k["kind"] for k in kinds] == ["billing.auto_renew_failed"]
    await service.post(
        Movement(user, EntryType.TOPUP, 10 * DOLLAR, f"manual:{user}")
    )  # 12: re-armed
    assert await debit(service, user, 8) == 4 * DOLLAR
    assert len(stripe_fake.intents) == 2

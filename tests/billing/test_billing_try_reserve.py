"""The synchronous hot-path reserve: the same admission as `reserve` when everything it checks
is in memory, None (nothing held) when `reserve` must be awaited."""

from __future__ import annotations

import pytest

from gpuproxy.billing.errors import PaymentRequiredError
from gpuproxy.billing.service import BillingService
from gpuproxy.storage.database import Database

from .support import insert_user

CENT = 10_000


@pytest.fixture
def billing_env() -> dict[str, str]:
    return {
        "GUARDRAILS_ENABLED": "true",
        "GUARDRAILS_MAX_5MIN_RATE": "1.00",
        "CREDITS_ENFORCED": "true",
        "CREDITS_DEFAULT_CAP": "10.00",
    }


async def test_sync_reserve_after_the_first_request(billing: BillingService, db: Database) -> None:
    user = await insert_user(db)
    assert billing.try_reserve(user, CENT) is None  # nothing cached yet: await reserve
    (await billing.reserve(user, CENT)).release()
    held = billing.try_reserve(user, 30 * CENT)
    assert held is not None
    held.commit(20 * CENT)
    assert await billing.writer.flush() == 1
    assert (await billing.account(user)).balance_micros == -20 * CENT


async def test_sync_reserve_refuses_past_a_guard_rail(
    billing: BillingService, db: Database
) -> None:
    user = await insert_user(db)
    (await billing.reserve(user, CENT)).release()
    first = billing.try_reserve(user, 90 * CENT)
    assert first is not None
    with pytest.raises(PaymentRequiredError):
        billing.try_reserve(user, 20 * CENT)  # 90 + 20 cents > the 1.00 USD 5-minute limit
    first.release()
    second = billing.try_reserve(user, 20 * CENT)  # the refused one held nothing
    assert second is not None
    second.release()


async def test_a_request_quota_needs_the_awaited_path(
    billing: BillingService, db: Database
) -> None:
    user = await insert_user(db)
    (await billing.reserve(user, CENT)).release()
    await billing.quotas.set(
        user, max_gpu_seconds=None, max_requests=5, reset_interval_seconds=3600, actor="test"
    )
    assert billing.try_reserve(user, CENT) is None  # the count lives in the KV store

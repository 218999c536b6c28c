"""The hot-path API (reserve / commit / release), batched ledger writes, credits with
overage and cap, quotas and GPU-time accrual."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from typing import Any

import pytest

from gpuproxy.billing import writer as writer_module
from gpuproxy.billing.errors import PaymentRequiredError, QuotaExceededError
from gpuproxy.billing.ledger import EntryType, Movement, count_entries, list_entries
from gpuproxy.billing.quotas import Quota
from gpuproxy.billing.service import BillingService
from gpuproxy.clock import now_ms
from gpuproxy.storage.database import Database

from .support import insert_user

CENT = 10_000
DOLLAR = 1_000_000


async def topup(service: BillingService, user: str, amount: int, key: str = "t") -> None:
    await service.post(Movement(user, EntryType.TOPUP, amount, f"{key}:{user}", provider="test"))


async def test_commits_are_batched_into_one_ledger_row_per_user(
    billing: BillingService, db: Database
) -> None:
    alice, bob = await insert_user(db), await insert_user(db)
    for i in range(10):
        held = await billing.reserve(alice, 5 * CENT)
        held.commit(3 * CENT, ref=f"req-{i}")
    (await billing.reserve(bob, CENT)).commit(CENT)
    (await billing.reserve(bob, CENT)).release()
    assert await count_entries(db, alice) == 0  # nothing written on the hot path
    view = await billing.credits_view(alice)
    assert view["pending_micros"] == 0  # not enforced: the gate does not track it
    assert await billing.writer.flush() == 2
    [row] = await list_entries(db, alice, limit=5, offset=0)
    assert row.amount_micros == -30 * CENT
    assert row.type == "usage"
    assert row.metadata["count"] == 10
    assert row.metadata["refs"][:2] == ["req-0", "req-1"]
    assert (await billing.account(bob)).balance_micros == -CENT
    assert await billing.writer.flush() == 0


async def test_close_drains_everything_committed(
    make_settings: Callable[..., Any], db: Database, memory_kv: Any
) -> None:
    service = BillingService(make_settings(), db, memory_kv)
    await service.start()
    user = await insert_user(db)
    for _ in range(5):
        (await service.reserve(user, CENT)).commit(CENT)
    await service.close()
    assert (await service.account(user)).balance_micros == -5 * CENT


async def test_a_failed_batch_is_retried_with_the_same_keys(
    billing: BillingService, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await insert_user(db)
    (await billing.reserve(user, CENT)).commit(2 * CENT)
    keys: list[str] = []
    real = writer_module.post_in

    async def flaky(tx: Any, movement: Movement, **kw: Any) -> Any:
        keys.append(movement.idempotency_key)
        if len(keys) == 1:
            raise OSError("connection lost")
        return await real(tx, movement, **kw)

    monkeypatch.setattr(writer_module, "post_in", flaky)
    assert await billing.writer.flush() == 0
    (await billing.reserve(user, CENT)).commit(CENT)  # a new sum, its own key
    assert await billing.writer.flush() == 2
    assert keys[0] == keys[1]
    assert (await billing.account(user)).balance_micros == -3 * CENT


@pytest.mark.parametrize(
    "billing_env", [{"CREDITS_ENFORCED": "true", "CREDITS_DEFAULT_CAP": "1.00"}]
)
async def test_overage_runs_up_to_the_cap_then_402_names_it(
    billing: BillingService, db: Database
) -> None:
    user = await insert_user(db)
    await topup(billing, user, 2 * DOLLAR)
    for _ in range(2):
        (await billing.reserve(user, DOLLAR)).commit(DOLLAR)
    view = await billing.credits_view(user)
    assert view["credits_remaining"] == "0.000000"
    assert view["pending_micros"] == 2 * DOLLAR
    (await billing.reserve(user, 60 * CENT)).commit(60 * CENT)  # into overage
    with pytest.raises(PaymentRequiredError) as refused:
        await billing.reserve(user, 50 * CENT)
    assert refused.value.reason == "credits"
    assert refused.value.code == "credits_exhausted"
    assert "credits_cap" in refused.value.message
    assert refused.value.headers() == {}
    (await billing.reserve(user, 40 * CENT)).commit(40 * CENT)  # exactly at the cap
    await billing.writer.flush()
    view = await billing.credits_view(user)
    assert view["credits_overage"] == "1.000000"
    assert view["credits_remaining"] == "0.000000"
    assert view["credits_total"] == "2.000000"
    assert view["credits_cap"] == "1.000000"
    assert view["pending_micros"] == 0
    await topup(billing, user, 5 * DOLLAR, key="t2")  # paying again lifts the refusal
    (await billing.reserve(user, 4 * DOLLAR)).commit(4 * DOLLAR)


@pytest.mark.parametrize("billing_env", [{"CREDITS_ENFORCED": "true"}])
async def test_concurrent_reservations_never_overspend_credits(
    billing: BillingService, db: Database
) -> None:
    user = await insert_user(db)
    await topup(billing, user, DOLLAR)

    async def spend() -> bool:
        try:
            held = await billing.reserve(user, 7 * CENT)
        except PaymentRequiredError:
            return False
        await asyncio.sleep(0)
        held.commit(7 * CENT)
        return True

    results = await asyncio.gather(*(spend() for _ in range(40)))
    assert sum(results) == 14
    await billing.writer.flush()
    assert (await billing.account(user)).balance_micros == 2 * CENT


async def test_request_quota_refuses_with_429_until_the_period_ends(
    billing: BillingService, db: Database
) -> None:
    user = await insert_user(db)
    await billing.quotas.set(
        user, max_gpu_seconds=None, max_requests=3, reset_interval_seconds=3600, actor="admin"
    )
    for _ in range(3):
        (await billing.reserve(user, 0)).commit(0)
    with pytest.raises(QuotaExceededError) as refused:
        await billing.reserve(user, 0)
    assert refused.value.http_status == 429
    assert 1 <= int(refused.value.headers()["Retry-After"]) <= 3600
    usage = await billing.quotas.usage(user)
    assert usage is not None
    assert usage["requests_used"] == 3  # the refused one was given back


def test_quota_periods_roll_over_by_themselves() -> None:
    quota = Quota("u", None, 10, reset_interval_seconds=60, anchor_at=1_000)
    assert quota.period(1_000) == (1_000, 61_000)
    assert quota.period(60_999) == (1_000, 61_000)
    assert quota.period(61_000) == (61_000, 121_000)


async def test_gpu_time_accrues_per_minute_and_stops_at_destroy(
    billing: BillingService, db: Database
) -> None:
    user = await insert_user(db)
    t0 = now_ms()
    price = 1_200_000  # 1.20 per hour = 0.02 per minute
    await billing.start_accrual(user, "inst-1", price, t0, provider="vast.ai")
    assert await billing.accrual.tick(t0 + 59_000) == []
    [first] = await billing.accrual.tick(t0 + 60_000)
    assert (first.minutes, first.amount_micros) == (1, 2 * CENT)
    [second] = await billing.accrual.tick(t0 + 150_000)
    assert (second.minutes, second.amount_micros) == (1, 2 * CENT)
    assert await billing.stop_accrual("inst-1", t0 + 181_000) == 4 * CENT  # 2 more minutes
    assert await billing.accrual.tick(t0 + 600_000) == []  # stopped: nothing more
    assert await billing.stop_accrual("inst-1", t0 + 900_000) == 0
    rows = await list_entries(db, user, limit=10, offset=0)
    assert sum(r.amount_micros for r in rows) == -8 * CENT
    assert {r.type for r in rows} == {"gpu_time"}
    assert {r.external_id for r in rows} == {"inst-1"}


async def test_odd_prices_never_drift(billing: BillingService, db: Database) -> None:
    user = await insert_user(db)
    t0 = now_ms()
    await billing.start_accrual(user, "odd", 1_000_001, t0)  # not divisible by 60
    for minute in range(1, 181):
        await billing.accrual.tick(t0 + minute * 60_000)
    await billing.stop_accrual("odd", t0 + 180 * 60_000)
    assert (await billing.account(user)).balance_micros == -(1_000_001 * 180 // 60)


async def test_two_instances_never_bill_a_minute_twice(
    billing: BillingService, db: Database, make_settings: Callable[..., Any], memory_kv: Any
) -> None:
    other = BillingService(make_settings(), db, memory_kv)
    user = await insert_user(db)
    t0 = now_ms()
    await billing.start_accrual(user, "shared-inst", 600_000, t0)
    for minute in range(1, 11):
        await asyncio.gather(
            billing.accrual.tick(t0 + minute * 60_000), other.accrual.tick(t0 + minute * 60_000)
        )
    assert (await billing.account(user)).balance_micros == -100_000  # 10 minutes x 0.01
    await other.close()


async def test_first_hour_is_held_on_the_windows_then_committed_at_cost(
    billing: BillingService, db: Database
) -> None:
    user = await insert_user(db)
    hold = await billing.reserve_gpu_rent(user, 3 * DOLLAR)
    t0 = now_ms()
    await billing.start_accrual(user, "gpu-9", 3 * DOLLAR, t0, reservation=hold)
    assert hold.settled
    day = {w.window: w for w in await billing.guard.status(user)}["1440min"]
    assert day.spent == 3 * DOLLAR  # the held hour counts (reserved)
    await billing.accrual.tick(t0 + 10 * 60_000)
    await billing.stop_accrual("gpu-9", t0 + 20 * 60_000)
    day = {w.window: w for w in await billing.guard.status(user)}["1440min"]
    assert day.spent == DOLLAR  # 20 minutes of 3.00/h, the rest of the hour released


async def test_rent_is_refused_when_credits_cannot_cover_the_first_hour(
    make_settings: Callable[..., Any], db: Database, memory_kv: Any
) -> None:
    service = BillingService(make_settings(CREDITS_ENFORCED="true"), db, memory_kv)
    user = await insert_user(db)
    await topup(service, user, DOLLAR)
    with pytest.raises(PaymentRequiredError):
        await service.reserve_gpu_rent(user, 2 * DOLLAR)
    held = await service.reserve_gpu_rent(user, DOLLAR)
    held.release()
    await service.close()


async def test_accrual_past_the_gpu_quota_tells_the_stop_handlers(
    billing: BillingService, db: Database
) -> None:
    user = await insert_user(db)
    await billing.quotas.set(
        user, max_gpu_seconds=120, max_requests=None, reset_interval_seconds=86_400, actor="a"
    )
    stopped: list[tuple[str, str, str]] = []

    async def stop(user_id: str, instance_id: str, reason: str) -> None:
        stopped.append((user_id, instance_id, reason))

    billing.accrual.on_exceeded.append(stop)
    t0 = now_ms()  # the quota's period starts when it is set
    await billing.start_accrual(user, "q-1", 600_000, t0)
    await billing.accrual.tick(t0 + 60_000)
    assert stopped == []
    await billing.accrual.tick(t0 + 3 * 60_000)
    assert stopped == [(user, "q-1", "quota")]
    with pytest.raises(QuotaExceededError):
        await billing.reserve_gpu_rent(user, 600_000)


async def test_a_dropped_reservation_releases_itself(
    billing: BillingService, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    user = await insert_user(db)
    held = await billing.reserve(user, 40 * CENT)
    assert {w.window: w.spent for w in await billing.guard.status(user)}["5min"] == 40 * CENT
    del held
    gc.collect()
    assert {w.window: w.spent for w in await billing.guard.status(user)}["5min"] == 0
    assert "dropped without commit or release" in caplog.text

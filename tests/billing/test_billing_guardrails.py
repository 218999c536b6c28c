"""Guard rails over the 17 windows: boundaries, refusals, concurrency, overrides, alerts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from gpuproxy import _core
from gpuproxy.billing.errors import PaymentRequiredError
from gpuproxy.billing.notifications import BILLING_EVENTS_CHANNEL
from gpuproxy.billing.service import BillingService
from gpuproxy.billing.windows import WINDOW_NAMES, window_minutes
from gpuproxy.config import Settings
from gpuproxy.storage.database import Database
from gpuproxy.storage.kv import KeyValueStore
from gpuproxy.storage.migrations import apply_migrations

from .support import START_MS, insert_user

CENT = 10_000
LIMITED = {"GUARDRAILS_ENABLED": "true", "GUARDRAILS_MAX_5MIN_RATE": "1.00"}


@pytest.fixture
async def db(sqlite_db: Database) -> Database:
    """The windows do not touch the database on the hot path: SQLite is enough here."""
    await apply_migrations(sqlite_db)
    return sqlite_db


@pytest.fixture(
    params=["local", "shared-memory", pytest.param("shared-redis", marks=pytest.mark.redis)]
)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def mode_kv(request: pytest.FixtureRequest, mode: str) -> KeyValueStore:
    kv: KeyValueStore = request.getfixturevalue(
        "redis_kv" if mode == "shared-redis" else "memory_kv"
    )
    return kv


@pytest.fixture
async def service(
    make_settings: Callable[..., Settings],
    db: Database,
    clock: _core.ManualClock,
    mode: str,
    mode_kv: KeyValueStore,
) -> AsyncIterator[BillingService]:
    """local = the Rust windows only; shared = Rust + the shared windows (the Lua scripts on
    Redis, their Python twins on the memory store)."""
    service = BillingService(
        make_settings(**LIMITED), db, mode_kv, clock=clock, shared_windows=mode != "local"
    )
    await service.start(background=False)
    yield service
    await service.close()


async def spent(service: BillingService, user: str) -> dict[str, int]:
    await service.guard.flush_shared()
    return {w.window: w.spent for w in await service.guard.status(user)}


async def test_spending_ages_out_at_every_window_boundary(
    service: BillingService, db: Database, clock: _core.ManualClock
) -> None:
    """Spent at t is counted until t + W - 1 ms (never under-counts) and gone by
    t + W + W/60 (over-counts at most one bucket of <= 1/60 of the window)."""
    for name in WINDOW_NAMES:
        user = await insert_user(db)
        window_ms = window_minutes(name) * 60_000
        service.guard.record(user, 7 * CENT)
        clock.advance_ms(window_ms - 1)
        assert (await spent(service, user))[name] == 7 * CENT, name
        clock.advance_ms(window_ms // 60 + 1)
        after = await spent(service, user)
        assert after[name] == 0, name
        longer = [n for n in WINDOW_NAMES if window_minutes(n) > window_minutes(name) + 1]
        assert all(after[n] == 7 * CENT for n in longer), name


async def test_refusal_names_each_window_with_limit_and_spent(
    service: BillingService, db: Database
) -> None:
    user = await insert_user(db)
    await service.guard.set_overrides(user, {"60min": 150 * CENT}, actor="admin")
    held = await service.reserve(user, 90 * CENT)
    held.commit(90 * CENT)
    await service.guard.flush_shared()
    with pytest.raises(PaymentRequiredError) as refused:
        await service.reserve(user, 70 * CENT)
    error = refused.value
    assert error.http_status == 402
    assert error.headers() == {"X-GuardRails-Exceeded": "true"}
    assert [(v.window, v.limit, v.spent) for v in error.violations] == [
        ("5min", 100 * CENT, 90 * CENT),
        ("60min", 150 * CENT, 90 * CENT),
    ]
    assert "5min" in error.message
    assert "60min" in error.message
    body = error.body_extra()["violations"][0]
    assert body["window"] == "5min"
    assert body["limit"] == "1.000000"
    assert body["spent"] == "0.900000"
    fits = await service.reserve(user, 10 * CENT)  # exactly up to the limit is allowed
    fits.release()


async def test_commit_books_actual_and_release_frees_the_hold(
    service: BillingService, db: Database
) -> None:
    user = await insert_user(db)
    first = await service.reserve(user, 60 * CENT)
    with pytest.raises(PaymentRequiredError):
        await service.reserve(user, 50 * CENT)  # 60 held + 50 > 100
    first.commit(20 * CENT)  # cheaper than estimated: the rest is freed
    await service.guard.flush_shared()
    second = await service.reserve(user, 80 * CENT)
    second.release()
    await service.guard.flush_shared()
    assert (await spent(service, user))["5min"] == 20 * CENT
    async with await service.reserve(user, 80 * CENT):
        pass  # leaving the block without commit releases
    # Shared windows get settlements from a background queue (conservative until sent).
    await service.guard.flush_shared()
    third = await service.reserve(user, 80 * CENT)
    third.commit(80 * CENT)
    assert (await spent(service, user))["5min"] == 100 * CENT


async def test_concurrent_reservations_at_a_limit_never_exceed_it(
    service: BillingService, db: Database
) -> None:
    user = await insert_user(db)
    admitted = 0

    async def spend() -> None:
        nonlocal admitted
        try:
            held = await service.reserve(user, 3 * CENT)
        except PaymentRequiredError:
            return
        await asyncio.sleep(0)
        admitted += 1
        held.commit(3 * CENT)

    await asyncio.gather(*(spend() for _ in range(100)))
    assert admitted == 33  # 33 x 0.03 = 0.99 <= 1.00 < 34 x 0.03
    assert (await spent(service, user))["5min"] == 99 * CENT


async def test_overrides_and_disabled_guard_rails(
    service: BillingService, db: Database, make_settings: Callable[..., Settings]
) -> None:
    user = await insert_user(db)
    await service.guard.set_overrides(user, {"5min": 10 * CENT}, actor="admin")
    with pytest.raises(PaymentRequiredError):
        await service.reserve(user, 20 * CENT)
    await service.guard.set_overrides(user, {"5min": 0}, actor="admin")  # no limit for them
    (await service.reserve(user, 500 * CENT)).commit(500 * CENT)
    await service.guard.set_overrides(user, {"5min": None}, actor="admin")  # the default again
    with pytest.raises(PaymentRequiredError):
        await service.reserve(user, CENT)
    assert service.guard.overrides(user) == {}

    disabled = make_settings(GUARDRAILS_ENABLED="false", GUARDRAILS_MAX_5MIN_RATE="0.01")
    off = BillingService(disabled, db, service.kv)
    other = await insert_user(db)
    (await off.reserve(other, 300 * CENT)).commit(300 * CENT)  # tracked, never refused
    assert off.guard.limits(other)["5min"] is None
    assert (await spent(off, other))["5min"] == 300 * CENT
    await off.close()


async def test_soft_alerts_at_50_80_95_percent_are_stored_and_published_once(
    service: BillingService, db: Database, clock: _core.ManualClock
) -> None:
    user = await insert_user(db)
    events: list[dict[str, object]] = []
    subscription = service.kv.subscribe(BILLING_EVENTS_CHANNEL)

    async def listen() -> None:
        async for raw in subscription:
            events.append(json.loads(raw))

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.05)
    for amount in (30, 25, 10, 20, 1, 5):  # running total 30, 55, 65, 85, 86, 91
        (await service.reserve(user, amount * CENT)).commit(amount * CENT)
        await service.settle_background()
        clock.advance_ms(1_000)  # alerts are evaluated at most once a second per user
    (await service.reserve(user, 5 * CENT)).commit(5 * CENT)  # 96%
    await service.settle_background()
    with pytest.raises(PaymentRequiredError):
        await service.reserve(user, 10 * CENT)
    await service.settle_background()
    for _ in range(50):
        if len(events) >= 4:
            break
        await asyncio.sleep(0.05)
    listener.cancel()
    rows = await db.fetch(
        "SELECT kind, severity, data FROM notifications WHERE user_id = $1 ORDER BY created_at",
        user,
    )
    thresholds = [(r["kind"], json.loads(r["data"])["threshold"], r["severity"]) for r in rows]
    assert thresholds == [
        ("guardrails.alert", 50, "info"),
        ("guardrails.alert", 80, "warning"),
        ("guardrails.alert", 95, "critical"),
        ("guardrails.exceeded", 100, "critical"),
    ]
    assert [e["type"] for e in events] == [k for k, _, _ in thresholds]
    assert all(e["owner_id"] == user for e in events)
    assert events[0]["data"]["window"] == "5min"  # type: ignore[index]


async def test_reset_forgets_spending(
    service: BillingService, db: Database, clock: _core.ManualClock
) -> None:
    user = await insert_user(db)
    held = await service.reserve(user, 90 * CENT)
    held.commit(90 * CENT)
    await service.guard.reset(user)
    assert (await spent(service, user))["72h"] == 0
    (await service.reserve(user, 100 * CENT)).commit(100 * CENT)
    assert clock.now_ms() >= START_MS


@pytest.mark.redis
async def test_two_instances_sharing_redis_never_exceed_a_limit_together(
    make_settings: Callable[..., Settings],
    db: Database,
    redis_kv: KeyValueStore,
    redis_url: str,
    clock: _core.ManualClock,
) -> None:
    """Two services (own Rust windows, own Redis connections) reserve concurrently for one
    user: the shared windows admit exactly what fits the limit, none more."""
    from gpuproxy.storage._kv_redis import RedisStore

    second_kv = await RedisStore.connect(redis_url)
    one = BillingService(make_settings(**LIMITED), db, redis_kv, clock=clock)
    two = BillingService(make_settings(**LIMITED), db, second_kv, clock=clock)
    assert one.guard.shared
    assert two.guard.shared
    user = await insert_user(db)
    admitted = 0

    async def spend(service: BillingService) -> None:
        nonlocal admitted
        try:
            held = await service.reserve(user, 7 * CENT)
        except PaymentRequiredError:
            return
        admitted += 1
        held.commit(7 * CENT)

    await asyncio.gather(*(spend(one if i % 2 else two) for i in range(60)))
    await one.guard.flush_shared()
    await two.guard.flush_shared()
    assert admitted == 14  # 14 x 0.07 = 0.98 <= 1.00
    assert (await spent(one, user))["5min"] == 98 * CENT
    local = sum(s.spent for s in one.guard.local_state(user) if s.name == "5min")
    assert 0 < local < 98 * CENT  # each instance saw only part of it locally
    await one.close()
    await two.close()
    await second_kv.close()


async def test_a_reset_made_elsewhere_reaches_the_local_windows(
    make_settings: Callable[..., Settings], db: Database, memory_kv: KeyValueStore
) -> None:
    """The admin CLI (another process) resets through the database; servers poll it."""
    server = BillingService(make_settings(**LIMITED), db, memory_kv)
    cli = BillingService(make_settings(**LIMITED), db, memory_kv)
    user = await insert_user(db)
    (await server.reserve(user, 90 * CENT)).commit(90 * CENT)
    await cli.guard.reset(user, "cli")
    assert await server.guard.poll_resets() == 1
    assert await server.guard.poll_resets() == 0  # applied once
    (await server.reserve(user, 100 * CENT)).commit(100 * CENT)
    assert (await spent(server, user))["5min"] == 100 * CENT
    await server.close()
    await cli.close()


async def test_redis_outage_falls_back_to_local_windows_then_catches_up(
    make_settings: Callable[..., Settings],
    db: Database,
    clock: _core.ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """While the shared store fails, each instance enforces the limit with its own windows
    (the README's N x limit bound); queued spending reaches the shared windows afterwards."""
    from gpuproxy.storage._kv_memory import MemoryStore

    class Flaky(MemoryStore):
        down = True

        async def run_script(self, script: Any, keys: Any, args: Any) -> Any:
            if self.down:
                raise ConnectionError("redis is down")
            return await super().run_script(script, keys, args)

    kv = Flaky()
    service = BillingService(make_settings(**LIMITED), db, kv, clock=clock, shared_windows=True)
    user = await insert_user(db)
    (await service.reserve(user, 60 * CENT)).commit(60 * CENT)
    with pytest.raises(PaymentRequiredError):
        await service.reserve(user, 50 * CENT)  # the local windows still hold the limit
    assert "shared spend windows unreachable" in caplog.text
    assert await service.guard.flush_shared() is False
    kv.down = False
    assert await service.guard.flush_shared() is True
    assert (await spent(service, user))["5min"] == 60 * CENT
    await service.close()

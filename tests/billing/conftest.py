"""Fixtures of the billing unit tests: a migrated database and a BillingService on a manual
clock (the Rust ManualClock drives the spend windows)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from tests.fakes.stripe_api import FakeStripe

from gpuproxy import _core
from gpuproxy.billing.service import BillingService
from gpuproxy.config import Settings
from gpuproxy.storage.database import Database
from gpuproxy.storage.kv import KeyValueStore
from gpuproxy.storage.migrations import apply_migrations

from .support import START_MS


@pytest.fixture
async def db(any_db: Database) -> Database:
    await apply_migrations(any_db)
    return any_db


@pytest.fixture
def clock() -> _core.ManualClock:
    return _core.ManualClock(START_MS)


@pytest.fixture
def billing_env() -> dict[str, str]:
    """Environment of the `billing` fixture (tests override this fixture)."""
    return {}


@pytest.fixture
async def billing(
    make_settings: Callable[..., Settings],
    billing_env: dict[str, str],
    db: Database,
    memory_kv: KeyValueStore,
    clock: _core.ManualClock,
) -> AsyncIterator[BillingService]:
    service = BillingService(make_settings(**billing_env), db, memory_kv, clock=clock)
    await service.start(background=False)
    yield service
    await service.close()


@pytest.fixture
async def stripe_fake() -> AsyncIterator[FakeStripe]:
    async with FakeStripe() as fake:
        yield fake


@pytest.fixture
async def stripe_billing(
    make_settings: Callable[..., Settings],
    db: Database,
    memory_kv: KeyValueStore,
    stripe_fake: FakeStripe,
) -> AsyncIterator[BillingService]:
    """A BillingService (real clock) whose Stripe is the fake Stripe API."""
    settings = make_settings(
        STRIPE_SECRET_KEY=stripe_fake.api_key, STRIPE_API_BASE=stripe_fake.base_url
    )
    service = BillingService(settings, db, memory_kv)
    await service.start(background=False)
    yield service
    await service.close()

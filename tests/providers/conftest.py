"""Fixtures: fake marketplaces on loopback and real provider clients pointed at them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.fakes.ionet import FakeIoNet
from tests.fakes.vastai import FakeVastAi

from gpuproxy.providers._http import RetryPolicy
from gpuproxy.providers.ionet import IoNetProvider
from gpuproxy.providers.vastai import VastAiProvider

FAST_RETRY = RetryPolicy(attempts=4, base_s=0.01, max_s=0.05)


@pytest.fixture
async def fake_vast() -> AsyncIterator[FakeVastAi]:
    async with FakeVastAi() as fake:
        yield fake


@pytest.fixture
async def vast(fake_vast: FakeVastAi) -> AsyncIterator[VastAiProvider]:
    provider = VastAiProvider(
        fake_vast.api_key, fake_vast.base_url, retry=FAST_RETRY, poll_interval_s=0.02
    )
    yield provider
    await provider.aclose()


@pytest.fixture
async def fake_ionet() -> AsyncIterator[FakeIoNet]:
    async with FakeIoNet() as fake:
        yield fake


@pytest.fixture
async def ionet(fake_ionet: FakeIoNet) -> AsyncIterator[IoNetProvider]:
    provider = IoNetProvider(
        fake_ionet.api_key, fake_ionet.base_url, retry=FAST_RETRY, poll_interval_s=0.02
    )
    yield provider
    await provider.aclose()

"""Fixtures of the dashboard tests: a real gateway (the daemon's way of serving the app,
tests/gateway/support.py) and a signed-in account."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from tests.gateway.support import FAST_ENV, GatewayServer, running_gateway

from gpuproxy.config import Settings


@pytest.fixture
async def gateway(make_settings: Callable[..., Settings]) -> AsyncIterator[GatewayServer]:
    async with running_gateway(make_settings(**FAST_ENV)) as server:
        yield server

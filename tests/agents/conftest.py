"""Fixtures of the agent-protocol tests: a real gateway (Rust data plane on the port, the
app behind it, as the daemon serves it) and MCP SDK sessions on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from tests.gateway.support import FAST_ENV, GatewayServer, running_gateway

from gpuproxy.config import Settings


@pytest.fixture
async def gateway(make_settings: Callable[..., Settings]) -> AsyncIterator[GatewayServer]:
    env = {**FAST_ENV, "GPU_POLL_INTERVAL_SECONDS": "3600", "VASTAI_PACING_SCALE": "0"}
    async with running_gateway(make_settings(**env)) as server:
        yield server

"""Fixtures of the gateway tests: a running gateway (see support.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from gpuproxy.config import Settings

from .support import FAST_ENV, GatewayServer, running_gateway


@pytest.fixture
def gateway_env() -> dict[str, str]:
    """Extra environment for the `gateway` fixture (tests override this fixture)."""
    return {}


@pytest.fixture
async def gateway(
    make_settings: Callable[..., Settings], gateway_env: dict[str, str]
) -> AsyncIterator[GatewayServer]:
    async with running_gateway(make_settings(**{**FAST_ENV, **gateway_env})) as server:
        yield server

"""Fixtures of the gRPC tests: a real gateway (data plane + app) with its gRPC server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from tests.gateway.support import FAST_ENV

from gpuproxy.config import Settings

from .support import GrpcGateway, running_grpc_gateway


@pytest.fixture
def grpc_env() -> dict[str, str]:
    """Extra environment for the `grpc_gateway` fixture (tests override this fixture)."""
    return {}


@pytest.fixture
async def grpc_gateway(
    make_settings: Callable[..., Settings], grpc_env: dict[str, str]
) -> AsyncIterator[GrpcGateway]:
    async with running_grpc_gateway(make_settings(**{**FAST_ENV, **grpc_env})) as server:
        yield server

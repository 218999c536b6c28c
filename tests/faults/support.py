"""What every fault test asserts afterwards: nothing the request path holds is left held."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from tests.gateway.support import FAST_ENV, GatewayServer, User, running_gateway

from gpuproxy.config import Settings

__all__ = ["GUARDED", "assert_everything_released", "guarded_gateway"]

#: Guard rails on, far from their limit: every request reserves spend, which every exit of
#: the request must give back.
GUARDED = {"GUARDRAILS_ENABLED": "true", "GUARDRAILS_MAX_1440MIN_RATE": "1000.00"}


async def assert_everything_released(gateway: GatewayServer, *users: User) -> None:
    """Connection guards, in-flight and queue counters, spend allowances, window
    reservations and credit holds all back to zero once the gateway settled."""
    await gateway.wait_for(lambda: gateway.in_flight() == 0, what="pool in-flight back to 0")
    await gateway.settle()
    stats = gateway.gateway.data_plane.stats()
    assert stats["in_flight"] == 0
    assert stats["queue_depth"] == 0
    assert stats["allowances_live"] == 0
    assert stats["usage_queued"] == 0
    assert gateway.gateway.usage.pending == 0
    billing = gateway.services.billing
    if billing is None:
        return
    allowances = gateway.gateway.data_plane.allowances
    assert allowances is None or len(allowances) == 0
    for user in users:
        assert sum(s.reserved for s in billing.guard.local_state(user.id)) == 0
        assert billing.gate.held(user.id) == 0


@contextlib.asynccontextmanager
async def guarded_gateway(
    make_settings: Callable[..., Settings], **env: str
) -> AsyncIterator[GatewayServer]:
    """A test gateway (FAST_ENV) with guard rails on and `env` on top."""
    async with running_gateway(make_settings(**{**FAST_ENV, **GUARDED, **env})) as gateway:
        yield gateway

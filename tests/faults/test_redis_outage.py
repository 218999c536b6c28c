"""Redis killed (SIGKILL) and started again while clients send traffic: the gateway keeps
answering (rate limits per process, spend windows local: README "Failure modes"), its loops
survive, it is ready again once Redis is back, and no request's usage row is lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from tests.fakes.redis_server import PrivateRedis
from tests.gateway.support import GatewayServer

from gpuproxy.config import Settings

from .support import assert_everything_released, guarded_gateway
from .traffic import sending

pytestmark = [pytest.mark.faults, pytest.mark.redis]

OUTAGE_S = 2.5


@pytest.fixture
async def redis_gateway(
    private_redis: PrivateRedis, make_settings: Callable[..., Settings]
) -> AsyncIterator[tuple[GatewayServer, PrivateRedis]]:
    redis = private_redis
    async with guarded_gateway(
        make_settings,
        REDIS_URL=redis.url,
        # A limit that is counted (in Redis) but never reached by this traffic.
        RATE_LIMIT_PER_MINUTE="1000000",
        # Allowances short-lived: new ones are reserved (spend windows) while Redis is down.
        GATEWAY_ALLOWANCE_TTL_MS="300",
    ) as gateway:
        yield gateway, redis


async def ready(gateway: GatewayServer) -> tuple[int, str]:
    """(status, the Redis check) of the readiness route."""
    async with httpx.AsyncClient(base_url=gateway.url, timeout=5) as client:
        response = await client.get("/health/ready")
        return response.status_code, response.json()["checks"]["redis"]


async def live(gateway: GatewayServer) -> int:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=5) as client:
        return (await client.get("/health")).status_code


async def test_redis_killed_and_restarted_during_traffic(
    redis_gateway: tuple[GatewayServer, PrivateRedis],
) -> None:
    gateway, redis = redis_gateway
    alice = await gateway.user()
    await gateway.spawn_worker(alice, "--model", "m1")
    assert await ready(gateway) == (200, "ok")
    stats = gateway.gateway.data_plane.stats
    async with sending(gateway.url, alice) as traffic:
        await asyncio.sleep(0.8)
        assert stats()["rate_limit_local_fallbacks"] == 0  # limits counted in Redis
        traffic.phase = "down"
        redis.kill()
        await asyncio.sleep(OUTAGE_S)
        assert await live(gateway) == 200  # the process answers
        assert await ready(gateway) == (503, "down")  # and says what is missing
        traffic.phase = "after"
        redis.start()
        await asyncio.sleep(1.0)
    # Every request of every phase was answered 200: an outage of Redis is not the client's
    # problem (no 5xx, no transport error).
    traffic.assert_all_served()
    # Without Redis, limits were counted per process (the documented fallback).
    assert stats()["rate_limit_local_fallbacks"] >= traffic.by_phase("down")[200] // 2
    # Ready again once Redis is back (the readiness check and every background loop).
    for _ in range(100):
        if await ready(gateway) == (200, "ok"):
            break
        await asyncio.sleep(0.1)
    assert await ready(gateway) == (200, "ok")
    await assert_everything_released(gateway, alice)
    await traffic.assert_each_has_its_usage_row(gateway, alice)

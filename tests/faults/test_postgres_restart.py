"""PostgreSQL restarted (a private cluster: stopped, down a while, started) while clients
send traffic: requests with a cached key keep being served, and afterwards every request
served has its usage row and its ledger debit (writes kept and retried, none lost)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from tests.fakes.postgres_server import PrivatePostgres
from tests.gateway.support import GatewayServer, User

from gpuproxy.config import Settings

from .support import assert_everything_released, guarded_gateway
from .traffic import CHAT, sending

pytestmark = [pytest.mark.faults, pytest.mark.postgres]

DOWN_S = 1.5


@pytest.fixture
async def pg_gateway(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[tuple[GatewayServer, PrivatePostgres]]:
    postgres = PrivatePostgres()
    try:
        postgres.init()
        postgres.start()
        # The app applies the migrations at start.
        async with guarded_gateway(
            make_settings,
            **postgres.env,
            DB_MAX_CONNS="5",
            # The product's TTL with Redis: a key checked once is served from the cache.
            AUTH_CACHE_TTL_SECONDS="30",
            GATEWAY_USAGE_FLUSH_MS="100",
            BILLING_FLUSH_INTERVAL_MS="100",
        ) as gateway:
            yield gateway, postgres
    finally:
        postgres.remove()


async def written_by_the_writers(gateway: GatewayServer, timeout_s: float = 20) -> None:
    """Wait until the background writers (not the test) wrote everything buffered."""
    gateway.gateway.data_plane.settle_now()
    usage = gateway.gateway.usage
    billing = gateway.services.billing
    assert billing is not None
    await gateway.wait_for(
        lambda: usage.pending == 0 and billing.writer.backlog == 0,
        what="usage rows and ledger debits written after the restart",
        timeout_s=timeout_s,
    )


async def first_request(gateway: GatewayServer, user: User) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=15, headers=user.headers) as c:
        return await c.post("/v1/chat/completions", json=CHAT)


async def debits(gateway: GatewayServer, user: User) -> tuple[int, int]:
    """(micro-dollars debited, requests those debits count) in the ledger."""
    rows = await gateway.services.db.fetch(
        "SELECT amount_micros, metadata FROM ledger_entries WHERE user_id = $1 AND type = 'usage'",
        user.id,
    )
    return (
        -sum(r["amount_micros"] for r in rows),
        sum(json.loads(r["metadata"])["count"] for r in rows),
    )


async def test_postgres_restarted_during_traffic(
    pg_gateway: tuple[GatewayServer, PrivatePostgres],
) -> None:
    gateway, postgres = pg_gateway
    platform = await gateway.user()
    await gateway.spawn_worker(platform, "--model", "m1")
    await gateway.share_and_price(platform)
    billing = gateway.services.billing
    assert billing is not None
    bob = await gateway.user()
    carol = await gateway.user()  # her key has never been used: not in any cache
    async with sending(gateway.url, bob) as traffic:
        await asyncio.sleep(0.8)
        traffic.phase = "down"
        postgres.stop("fast")
        await asyncio.sleep(DOWN_S / 2)
        unknown = await first_request(gateway, carol)
        await asyncio.sleep(DOWN_S / 2)
        failures_while_down = gateway.gateway.usage.failures
        ledger_backlog_while_down = billing.writer.backlog
        traffic.phase = "after"
        postgres.start()
        await asyncio.sleep(1.5)
    # A cached key and a live (or renewed) allowance need no database: served throughout.
    traffic.assert_all_served()
    # A key that must be looked up cannot be while the database is down: 503, retry later.
    assert unknown.status_code == 503, unknown.text
    assert "retry-after" in unknown.headers
    # The writers did fail while the database was away (rows kept, not dropped) ...
    assert failures_while_down >= 1
    assert gateway.gateway.usage.dropped == 0
    # One failed ledger batch kept for its retry, newer spending summed while it waits
    # (not one more row per flush interval).
    assert ledger_backlog_while_down <= 2
    # ... and wrote everything once it was back: one usage row and one debit per request.
    await written_by_the_writers(gateway)
    await assert_everything_released(gateway, bob)
    await traffic.assert_each_has_its_usage_row(gateway, bob)
    cost = await gateway.services.db.fetchval(
        "SELECT SUM(cost_micros) FROM gateway_usage WHERE user_id = $1", bob.id
    )
    assert cost > 0
    assert await debits(gateway, bob) == (cost, traffic.ok)

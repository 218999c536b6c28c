"""Money on the request path: guard rails refuse with 402 before anything is forwarded,
the actual cost is committed after, a failed upstream costs nothing."""

from __future__ import annotations

import httpx
import pytest
from tests.helpers import free_port

from gpuproxy.gateway.prices import cost_micros

from .support import GatewayServer, User


@pytest.fixture
def gateway_env() -> dict[str, str]:
    dead = f"http://127.0.0.1:{free_port()}"
    return {
        "GUARDRAILS_ENABLED": "true",
        "GUARDRAILS_MAX_5MIN_RATE": "0.010000",  # one cent per 5 minutes
        # dollars per million tokens: 1000 output tokens cost $1 -> far over the limit
        "GATEWAY_DEFAULT_INPUT_PRICE": "10",
        "GATEWAY_DEFAULT_OUTPUT_PRICE": "1000",
        "GATEWAY_UPSTREAMS": f"dead-model={dead}",
    }


def chat(model: str, max_tokens: int) -> dict[str, object]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": max_tokens,
    }


def windows(gateway: GatewayServer, user: User) -> dict[str, tuple[int, int]]:
    billing = gateway.services.billing
    assert billing is not None
    return {s.name: (s.spent, s.reserved) for s in billing.guard.local_state(user.id)}


async def shared_worker(gateway: GatewayServer) -> None:
    admin = await gateway.user(admin=True)
    platform = await gateway.user()
    await gateway.spawn_worker(platform, "--model", "m1")
    async with httpx.AsyncClient(base_url=gateway.url, headers=admin.headers) as client:
        response = await client.put(
            "/api/v1/admin/shared-pools/public", json={"owner_id": platform.id}
        )
        assert response.status_code == 200


async def test_over_budget_is_402_with_violations_and_nothing_forwarded(
    gateway: GatewayServer,
) -> None:
    await shared_worker(gateway)
    bob = await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, headers=bob.headers, timeout=10) as client:
        refused = await client.post("/v1/chat/completions", json=chat("m1", 1000))
        assert refused.status_code == 402, refused.text
        assert refused.headers["x-guardrails-exceeded"] == "true"
        body = refused.json()
        assert body["error"]["code"] == "spending_limit_exceeded"
        assert body["error"]["type"] == "insufficient_quota"
        assert "5min" in {v["window"] for v in body["violations"]}
        # A small request fits: committed at its actual cost, the rest released.
        small = await client.post("/v1/chat/completions", json=chat("m1", 5))
        assert small.status_code == 200, small.text
    usage = small.json()["usage"]
    expected = cost_micros(
        gateway.gateway.prices.price("m1"), usage["prompt_tokens"], usage["completion_tokens"]
    )
    assert expected > 0
    await gateway.settle()
    spent, reserved = windows(gateway, bob)["5min"]
    assert (spent, reserved) == (expected, 0)
    rows = await gateway.services.db.fetch(
        "SELECT status, outcome, cost_micros, worker_id FROM gateway_usage WHERE user_id = $1 "
        "ORDER BY created_at",
        bob.id,
    )
    assert [(r["status"], r["outcome"], r["cost_micros"]) for r in rows] == [
        (402, "rejected", 0),
        (200, "ok", expected),
    ]
    assert rows[0]["worker_id"] is None
    (entry,) = [e for e in gateway.gateway.pools.entries() if e.model == "m1"]
    assert sum(b.total for b in entry.pool.backends()) == 1  # the refused one never left


async def test_failed_upstream_costs_nothing(gateway: GatewayServer) -> None:
    bob = await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, headers=bob.headers, timeout=10) as client:
        failed = await client.post("/v1/chat/completions", json=chat("dead-model", 5))
    assert failed.status_code == 502
    assert failed.json()["error"]["code"] == "upstream_connect"
    assert gateway.in_flight() == 0
    await gateway.settle()
    assert windows(gateway, bob)["5min"] == (0, 0)
    row = await gateway.services.db.fetchrow(
        "SELECT * FROM gateway_usage WHERE user_id = $1", bob.id
    )
    assert row is not None
    assert (row["outcome"], row["cost_micros"], row["status"]) == ("upstream_error", 0, 502)

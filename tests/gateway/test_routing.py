"""Routing through real workers: strategy, client cancel, admission queue priority and
deadline, connect-failure retry, spill-over to shared pools (a worker killed mid-stream:
tests/faults/test_worker_killed.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
from tests.helpers import free_port

from gpuproxy.config import Settings
from gpuproxy.gateway.prices import cost_micros
from gpuproxy.providers._workerproc import WorkerProcess

from .support import FAST_ENV, GatewayServer, User, running_gateway

SLOW = ("--token-rate", "40")  # 40 tokens/s: a 200-token answer takes 5 s


def chat(model: str = "m1", **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": "Hello"}], **extra}


def long_stream(model: str = "m1") -> dict[str, object]:
    return chat(model, stream=True, max_tokens=200, ignore_eos=True)


async def worker_health(gateway: GatewayServer, worker: WorkerProcess) -> dict[str, object]:
    """The worker's detailed health, asked with its gateway's credential."""
    secret = gateway.gateway.registry.authorization(gateway.worker_id_of(worker)) or ""
    async with httpx.AsyncClient(timeout=2, headers={"authorization": secret}) as client:
        health: dict[str, object] = (await client.get(worker.endpoint + "/health")).json()
        return health


def reserved_and_spent(gateway: GatewayServer, user: User) -> tuple[int, int]:
    billing = gateway.services.billing
    assert billing is not None
    states = billing.guard.local_state(user.id)
    return max(s.reserved for s in states), max(s.spent for s in states)


async def test_balancing_follows_the_strategy(gateway: GatewayServer) -> None:
    admin = await gateway.user(admin=True)
    alice = await gateway.user()
    workers = [await gateway.spawn_worker(alice, "--model", "m1") for _ in range(3)]
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
        switched = await client.put(
            "/api/v1/loadbalancer/strategy", json={"strategy": "round_robin"}, headers=admin.headers
        )
        assert switched.status_code == 200, switched.text
        (entry,) = gateway.gateway.pools.entries()
        assert entry.pool.strategy == "round_robin"
        for _ in range(9):
            response = await client.post("/v1/chat/completions", json=chat(), headers=alice.headers)
            assert response.status_code == 200
    totals = {b.id: b.total for b in entry.pool.backends()}
    assert sorted(totals.values()) == [3, 3, 3]
    assert set(totals) == {gateway.worker_id_of(w) for w in workers}


@pytest.fixture
def gateway_env() -> dict[str, str]:
    return {"GUARDRAILS_ENABLED": "true", "GUARDRAILS_MAX_1440MIN_RATE": "1000.00"}


async def test_client_cancel_stops_generation_and_bills_delivered_tokens(
    gateway: GatewayServer,
) -> None:
    platform = await gateway.user()
    bob = await gateway.user()
    worker = await gateway.spawn_worker(platform, "--model", "m1", *SLOW)
    await gateway.share_and_price(platform)
    delivered = 0
    started = time.monotonic()
    async with (
        httpx.AsyncClient(base_url=gateway.url, timeout=10, headers=bob.headers) as client,
        client.stream("POST", "/v1/chat/completions", json=long_stream()) as response,
    ):
        assert response.status_code == 200
        buffer = b""
        async for chunk in response.aiter_bytes():
            buffer += chunk
            delivered = buffer.count(b'"content":"')
            if delivered >= 10:
                break  # leaving the block closes the connection mid-stream
    health: dict[str, object] = {}

    async def worker_idle() -> bool:
        nonlocal health
        health = await worker_health(gateway, worker)
        return health["in_flight"] == 0

    while not await worker_idle():
        assert time.monotonic() - started < 3, "the worker kept generating"
        await asyncio.sleep(0.05)
    assert time.monotonic() - started < 3  # 200 tokens would take 5 s
    await gateway.wait_for(lambda: gateway.in_flight() == 0, what="in-flight back to 0")
    await gateway.settle()
    row = await gateway.services.db.fetchrow(
        "SELECT * FROM gateway_usage WHERE user_id = $1", bob.id
    )
    assert row is not None
    assert row["outcome"] == "cancelled"
    assert row["tokens_estimated"] == 1
    # Counted from the text that reached the client (a few events may still have been in
    # the socket): far less than the 200 words (~300 estimated tokens) of the whole answer.
    assert delivered // 2 <= row["completion_tokens"] <= 150
    expected = cost_micros(
        gateway.gateway.prices.price("m1"), row["prompt_tokens"], row["completion_tokens"]
    )
    assert row["cost_micros"] == expected > 0
    reserved, spent = reserved_and_spent(gateway, bob)
    assert reserved == 0
    assert spent == expected


async def test_queue_orders_by_priority_and_times_out_with_503(
    make_settings: Callable[..., Settings],
) -> None:
    env = {**FAST_ENV, "GATEWAY_WORKER_MAX_CONCURRENCY": "1", "GATEWAY_QUEUE_TIMEOUT_SECONDS": "10"}
    async with running_gateway(make_settings(**env)) as gateway:
        admin = await gateway.user(admin=True)
        owner = await gateway.user()
        low = await gateway.user(priority=1)
        high = await gateway.user(priority=200)
        await gateway.spawn_worker(owner, "--model", "m1", "--token-rate", "200")
        async with httpx.AsyncClient(base_url=gateway.url, timeout=15) as c:
            await c.put(
                "/api/v1/admin/shared-pools/public",
                json={"owner_id": owner.id},
                headers=admin.headers,
            )
            finished: list[str] = []

            async def call(user: User, name: str, **extra: object) -> httpx.Response:
                body = {**chat(), "max_tokens": 40, "ignore_eos": True, **extra}
                response = await c.post("/v1/chat/completions", json=body, headers=user.headers)
                finished.append(name)
                return response

            holder = asyncio.create_task(call(owner, "holder"))
            await gateway.wait_for(lambda: gateway.in_flight() == 1, what="the slot taken")
            first_low = asyncio.create_task(call(low, "low"))
            await gateway.wait_for(lambda: gateway.queue_depth() == 1, what="queued")
            then_high = asyncio.create_task(call(high, "high"))
            await gateway.wait_for(lambda: gateway.queue_depth() == 2, what="queued")
            queue = (await c.get("/api/monitoring/queue", headers=admin.headers)).json()
            assert queue["depth"] == 2
            priorities = sorted(p for q in queue["queues"] for p in q["by_priority"])
            assert priorities == ["1", "200"]
            timed_out = await c.post(
                "/v1/chat/completions", json=chat(), headers={**low.headers, "X-Timelimit": "0.2"}
            )
            assert timed_out.status_code == 503
            assert int(timed_out.headers["retry-after"]) >= 1
            assert timed_out.json()["error"]["code"] == "queue_timeout"
            results = await asyncio.gather(holder, first_low, then_high)
        assert [r.status_code for r in results] == [200, 200, 200]
        assert finished == ["holder", "high", "low"]
        assert gateway.queue_depth() == 0
        assert gateway.in_flight() == 0


async def test_connect_failure_is_retried_on_another_worker(
    make_settings: Callable[..., Settings],
) -> None:
    worker = WorkerProcess.spawn(["--backend", "simulate", "--model", "m1"])
    try:
        assert await worker.wait_healthy(20)
        dead = f"http://127.0.0.1:{free_port()}"
        env = {
            **FAST_ENV,
            "LB_STRATEGY": "round_robin",
            "GATEWAY_UPSTREAMS": f"m1={dead},m1={worker.endpoint}",
        }
        async with running_gateway(make_settings(**env)) as gateway:
            user = await gateway.user()
            async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
                listing = (await client.get("/v1/models", headers=user.headers)).json()
                assert [(m["id"], m["owned_by"]) for m in listing["data"]] == [("m1", "static")]
                for _ in range(6):
                    response = await client.post(
                        "/v1/chat/completions", json=chat(), headers=user.headers
                    )
                    assert response.status_code == 200, response.text
            (entry,) = gateway.gateway.pools.entries()
            stats = {b.address: b for b in entry.pool.backends()}
            assert stats[dead].errors >= 1
            assert stats[worker.endpoint].ok == 6
    finally:
        await worker.stop(grace_s=2)


async def test_own_workers_first_then_spill_over_to_shared(gateway: GatewayServer) -> None:
    admin = await gateway.user(admin=True)
    platform = await gateway.user()
    alice = await gateway.user()
    await gateway.spawn_worker(platform, "--model", "m1")
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as c:
        await c.put(
            "/api/v1/admin/shared-pools/public",
            json={"owner_id": platform.id, "models": ["m1"]},
            headers=admin.headers,
        )
        shared = (await c.get("/v1/models", headers=alice.headers)).json()["data"]
        assert [(m["id"], m["owned_by"]) for m in shared] == [("m1", "public")]
        await gateway.spawn_worker(alice, "--model", "m1")
        mine = (await c.get("/v1/models", headers=alice.headers)).json()["data"]
        assert [(m["id"], m["owned_by"]) for m in mine] == [("m1", "you")]
        for _ in range(3):
            assert (
                await c.post("/v1/chat/completions", json=chat(), headers=alice.headers)
            ).is_success
    await gateway.settle()
    pools = await gateway.services.db.fetch("SELECT pool FROM gateway_usage")
    assert {r["pool"] for r in pools} == {f"own:{alice.id}"}

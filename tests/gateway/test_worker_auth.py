"""A rented worker serves its gateway only: the gateway authenticates with the secret
derived from the worker's registration token; anyone else calling the worker's port gets
401 (before, a rented GPU's port gave free, unmetered inference)."""

from __future__ import annotations

import httpx
import pytest

from gpuproxy.worker.app import WorkerApp
from gpuproxy.worker.gpu import GpuProbe
from gpuproxy.worker.serve_auth import authorization_for_token, serve_secret
from gpuproxy.worker.simulate import SimulateBackend

from .support import GatewayServer

CHAT = {"model": "m1", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


def _app(authorization: str | None) -> httpx.AsyncClient:
    app = WorkerApp(SimulateBackend(["m1"]), GpuProbe([], None), authorization=authorization)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://worker")


def test_the_secret_is_bound_to_the_token() -> None:
    assert serve_secret("gpw_a") == serve_secret("gpw_a")
    assert serve_secret("gpw_a") != serve_secret("gpw_b")
    assert "gpw_a" not in serve_secret("gpw_a")


async def test_a_worker_with_a_secret_refuses_everyone_else() -> None:
    good = authorization_for_token("gpw_token")
    async with _app(good) as worker:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"x-api-key": "gpw_token"}):
            refused = await worker.post("/v1/chat/completions", json=CHAT, headers=headers)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "unauthorized"
            assert (await worker.get("/v1/models", headers=headers)).status_code == 401
        probe = await worker.get("/health")
        assert probe.json() == {"status": "ok"}, "no details without the secret"
        served = await worker.post(
            "/v1/chat/completions", json=CHAT, headers={"authorization": good}
        )
        assert served.status_code == 200
        details = await worker.get("/health", headers={"authorization": good})
        assert details.json()["models"] == ["m1"]


async def test_a_worker_without_a_secret_serves_openly() -> None:
    """Standalone (benchmarks' stub upstream, static upstreams without a secret)."""
    async with _app(None) as worker:
        assert (await worker.post("/v1/chat/completions", json=CHAT)).status_code == 200


@pytest.mark.timeout(60)
async def test_the_gateway_reaches_its_worker_and_nobody_else_does(
    gateway: GatewayServer,
) -> None:
    alice = await gateway.user()
    worker = await gateway.spawn_worker(alice, "--model", "m1")
    async with httpx.AsyncClient(timeout=10) as client:
        direct = await client.post(f"{worker.endpoint}/v1/chat/completions", json=CHAT)
        assert direct.status_code == 401
        with_gateway_key = await client.post(
            f"{worker.endpoint}/v1/chat/completions", json=CHAT, headers=alice.headers
        )
        assert with_gateway_key.status_code == 401, "a gateway key is not the worker's secret"
        through = await client.post(
            f"{gateway.url}/v1/chat/completions", json=CHAT, headers=alice.headers
        )
        assert through.status_code == 200, through.text
        proxied = await client.post(
            f"{gateway.url}/api/v1/gpu/proxy",
            json={"protocol": "http", "target_url": f"{worker.endpoint}/v1/models"},
            headers=alice.headers,
        )
        assert proxied.status_code == 200, proxied.text
        assert proxied.json()["status_code"] == 200, "the generic proxy sends the secret too"

"""Monitoring routes (admins only) and the price / shared-pool admin routes."""

from __future__ import annotations

import httpx

from .support import GatewayServer

CHAT = {"model": "m1", "messages": [{"role": "user", "content": "hi"}]}


async def test_monitoring_is_for_admins_and_reports_traffic(gateway: GatewayServer) -> None:
    admin = await gateway.user(admin=True)
    alice = await gateway.user()
    worker = await gateway.spawn_worker(alice, "--model", "m1")
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as c:
        for path in ("queue", "workers", "metrics", "metrics/prometheus"):
            assert (
                await c.get(f"/api/monitoring/{path}", headers=alice.headers)
            ).status_code == 403
            assert (await c.get(f"/api/monitoring/{path}")).status_code == 401
        for _ in range(4):
            assert (
                await c.post("/v1/chat/completions", json=CHAT, headers=alice.headers)
            ).is_success
        unknown = await c.post(
            "/v1/chat/completions", json={**CHAT, "model": "x"}, headers=alice.headers
        )
        assert unknown.status_code == 404
        await gateway.settle()  # the data plane's settlements reach the metrics every 20 ms
        workers = (await c.get("/api/monitoring/workers", headers=admin.headers)).json()
        metrics = (await c.get("/api/monitoring/metrics", headers=admin.headers)).json()
        queue = (await c.get("/api/monitoring/queue", headers=admin.headers)).json()
        exposition = await c.get("/api/monitoring/metrics/prometheus", headers=admin.headers)
    assert (workers["total"], workers["healthy"]) == (1, 1)
    (info,) = workers["workers"]
    assert info["id"] == gateway.worker_id_of(worker)
    assert info["owner_id"] == alice.id
    assert info["models"] == ["m1"]
    (pool,) = info["pools"]
    assert (pool["total"], pool["ok"], pool["in_flight"]) == (4, 4, 0)
    one_minute = metrics["windows"]["1m"]
    model = one_minute["models"]["m1"]
    assert (model["requests"], model["errors"]) == (4, 0)
    assert model["completion_tokens"] > 0
    assert model["latency_ms"]["p50"] > 0
    assert model["latency_ms"]["p99"] >= model["latency_ms"]["p50"]
    assert model["tokens_per_s"]["p50"] > 0
    assert one_minute["users"][alice.id]["requests"] == 4
    assert set(metrics["windows"]) == {"1m", "5m", "15m", "60m"}
    assert queue["depth"] == 0
    assert exposition.headers["content-type"].startswith("text/plain; version=0.0.4")
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(exposition.text)}
    # the unknown model never reached a pool
    assert families["gpuproxy_requests"].samples[0].value == 4
    (m1,) = families["gpuproxy_model_requests"].samples
    assert (m1.labels, m1.value) == ({"model": "m1"}, 4)
    assert families["gpuproxy_model_errors"].samples[0].value == 0
    p99 = [
        s for s in families["gpuproxy_model_latency_ms"].samples if s.labels["quantile"] == "0.99"
    ]
    assert p99[0].value > 0
    assert alice.id not in exposition.text  # no per-user series
    assert queue["counters"]["timed_out"] == 0


async def test_model_prices_admin(gateway: GatewayServer) -> None:
    admin = await gateway.user(admin=True)
    alice = await gateway.user()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as c:
        denied = await c.put(
            "/api/v1/admin/model-prices/m1",
            json={"input_per_million": "1", "output_per_million": "2"},
            headers=alice.headers,
        )
        assert denied.status_code == 403
        created = await c.put(
            "/api/v1/admin/model-prices/org/llama-3",
            json={"input_per_million": "0.15", "output_per_million": 0.6},
            headers=admin.headers,
        )
        assert created.status_code == 200, created.text
        assert created.json()["input_micros_per_million"] == 150_000
        assert created.json()["output_per_million"] == "0.600000"
        bad = await c.put(
            "/api/v1/admin/model-prices/m1",
            json={"input_per_million": "-1", "output_per_million": "2"},
            headers=admin.headers,
        )
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == "input_per_million"
        missing = await c.put(
            "/api/v1/admin/model-prices/m1", json={"input_per_million": "1"}, headers=admin.headers
        )
        assert missing.status_code == 400
        assert "output_per_million" in missing.json()["error"]["message"]
        listing = (await c.get("/api/v1/model-prices", headers=alice.headers)).json()
        assert [p["model"] for p in listing["data"]] == ["org/llama-3"]
        assert gateway.gateway.prices.price("org/llama-3").output_micros_per_mtok == 600_000
        gone = await c.delete("/api/v1/admin/model-prices/org/llama-3", headers=admin.headers)
        assert gone.status_code == 204
        again = await c.delete("/api/v1/admin/model-prices/org/llama-3", headers=admin.headers)
        assert again.status_code == 404


async def test_shared_pools_admin(gateway: GatewayServer) -> None:
    admin = await gateway.user(admin=True)
    platform = await gateway.user()
    bob = await gateway.user()
    await gateway.spawn_worker(platform, "--model", "m1", "--model", "m2")
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10, headers=admin.headers) as c:
        bad = await c.put("/api/v1/admin/shared-pools/Bad Name!", json={"owner_id": platform.id})
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == "name"
        put = await c.put(
            "/api/v1/admin/shared-pools/public", json={"owner_id": platform.id, "models": ["m2"]}
        )
        assert put.status_code == 200
        seen = (await c.get("/v1/models", headers=bob.headers)).json()["data"]
        assert [m["id"] for m in seen] == ["m2"]
        listing = (await c.get("/api/v1/admin/shared-pools")).json()["data"]
        assert listing[0]["name"] == "public"
        assert len(listing[0]["workers"]) == 1
        assert (await c.delete("/api/v1/admin/shared-pools/public")).status_code == 204
        assert (await c.get("/v1/models", headers=bob.headers)).json()["data"] == []
        assert (await c.delete("/api/v1/admin/shared-pools/public")).status_code == 404

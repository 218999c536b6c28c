"""The product against the vast.ai contract: every endpoint it calls is one the contract
knows (with its source), and every request it sends passes the contract's checks."""

from __future__ import annotations

from tests.fakes.vastai import FakeVastAi
from tests.fakes.vastai_contract import RATE_LIMITS, VAST, endpoint_name

from gpuproxy.providers.params import OfferFilters, RentConfig
from gpuproxy.providers.vastai import VastAiProvider


def test_every_fact_has_a_source() -> None:
    for endpoint in VAST.endpoints:
        assert endpoint.source, endpoint.path
        for spec in (*endpoint.query, *(endpoint.body or ())):
            assert spec.source, (endpoint.path, spec.name)
    for name, limit in RATE_LIMITS.items():
        assert limit.source, name
    assert VAST.endpoint("GET", "/api/v0/instances/") is None  # the retired v0 list


async def test_the_product_calls_only_contract_endpoints() -> None:
    async with FakeVastAi(boot_s=0.03) as fake:
        vast = VastAiProvider(fake.api_key, fake.base_url, pacing_scale=0, poll_interval_s=0.01)
        offers = await vast.list_offers(OfferFilters(gpu_model="4090", min_vram_gb=24))
        config = RentConfig(
            image="vllm/vllm-openai:v0.6.3",
            ports=[8000],
            disk_gb=40,
            onstart="vllm serve",
            env={"MODEL": "m"},
            start_timeout_s=5,
        )
        running = await vast.create(offers[0].id, config)
        bid = RentConfig(image="ubuntu:22.04", bid_price_per_hour=200_000, args=["sleep", "1"])
        other = await vast.create("103", bid)
        assert {i.id for i in await vast.list_instances()} == {running.id, other.id}
        await vast.get(running.id)
        await vast.destroy(running.id)
        await vast.destroy(other.id)
        await vast.aclose()

    assert fake.unknown_calls == []
    assert VAST.unknown(fake.requests) == []
    used = {endpoint_name(r.method, r.path) for r in fake.requests}
    assert used == {"search", "create", "show", "destroy", "list", "gpu_names"}
    # Each request passed the contract (a refused one would have failed the calls above).
    for request in fake.requests:
        endpoint = VAST.endpoint(request.method, request.path)
        assert endpoint is not None
        assert endpoint.problems(request) == [], f"{request.method} {request.path}"


async def test_the_fake_refuses_what_the_contract_refuses() -> None:
    async with FakeVastAi() as fake:
        vast = VastAiProvider(fake.api_key, fake.base_url, pacing_scale=0)
        response = await vast._api._client.request(
            "PUT", "/api/v0/asks/101/", json={"client_id": "me", "disk": 16}
        )
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_args"
        assert "image" in response.json()["msg"]
        unknown = await vast._api._client.get("/api/v0/instances/")
        assert unknown.status_code == 410
        assert fake.unknown_calls == ["GET /api/v0/instances/"]
        await vast.aclose()
